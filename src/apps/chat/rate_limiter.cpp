// Per-connection token bucket (see rate_limiter.hpp).
#include "apps/chat/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace hibiki::apps::chat {

bool TokenBucket::try_take(const RateLimit& limit, std::int64_t now_ms) {
  if (limit.rate_per_s <= 0) return true;
  if (now_ms > last_ms_) {
    const double earned = static_cast<double>(now_ms - last_ms_) * limit.rate_per_s / 1000.0;
    tokens_ = std::min(limit.burst, tokens_ + earned);
    last_ms_ = now_ms;
  }
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

std::int64_t TokenBucket::retry_after_ms(const RateLimit& limit) const {
  if (limit.rate_per_s <= 0 || tokens_ >= 1.0) return 1;
  const double wait_ms = (1.0 - tokens_) * 1000.0 / limit.rate_per_s;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait_ms)));
}

}  // namespace hibiki::apps::chat

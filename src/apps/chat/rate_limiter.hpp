// Per-connection token bucket: `rate_per_s` tokens a second, at most `burst` saved up, one per
// message. Time is an argument, so tests need no clock. 16 bytes per connection.
#pragma once

#include <cstdint>

namespace hibiki::apps::chat {

struct RateLimit {
  double rate_per_s = 10;  // sustained messages per second; 0: unlimited
  double burst = 20;       // messages that may arrive at once after a quiet spell
};

class TokenBucket {
 public:
  // Starts full.
  TokenBucket(const RateLimit& limit, std::int64_t now_ms)
      : tokens_(limit.burst), last_ms_(now_ms) {}

  // Takes one token if there is one. `now_ms` comes from a monotonic clock.
  [[nodiscard]] bool try_take(const RateLimit& limit, std::int64_t now_ms);
  // After a refused try_take: milliseconds until a token is there (at least 1).
  [[nodiscard]] std::int64_t retry_after_ms(const RateLimit& limit) const;

 private:
  double tokens_;
  std::int64_t last_ms_;
};

}  // namespace hibiki::apps::chat

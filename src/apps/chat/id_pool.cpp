// Blocks of cluster-wide connection ids (see id_pool.hpp).
#include "apps/chat/id_pool.hpp"

#include <algorithm>

namespace hibiki::apps::chat {

std::optional<std::uint64_t> IdPool::take() {
  const std::lock_guard lock(mutex_);
  if (next_ == end_ && spare_next_ != spare_end_) {
    next_ = spare_next_;
    end_ = spare_end_;
    spare_next_ = spare_end_ = 0;
  }
  if (next_ == end_) return std::nullopt;
  return next_++;
}

bool IdPool::wants_block() {
  const std::lock_guard lock(mutex_);
  if (requesting_ || spare_next_ != spare_end_) return false;
  if (end_ - next_ > kBlock / 2) return false;
  requesting_ = true;
  return true;
}

void IdPool::add_block(std::uint64_t last) {
  const std::lock_guard lock(mutex_);
  requesting_ = false;
  const std::uint64_t first = last - kBlock + 1;
  high_water_ = std::max(high_water_, last);
  if (next_ == end_) {
    next_ = first;
    end_ = last + 1;
  } else {
    spare_next_ = first;
    spare_end_ = last + 1;
  }
}

void IdPool::refill_failed() {
  const std::lock_guard lock(mutex_);
  requesting_ = false;
}

std::uint64_t IdPool::high_water() const {
  const std::lock_guard lock(mutex_);
  return high_water_;
}

bool IdPool::empty() const {
  const std::lock_guard lock(mutex_);
  return next_ == end_ && spare_next_ == spare_end_;
}

}  // namespace hibiki::apps::chat

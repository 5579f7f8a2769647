// Connection ids when the chat runs as a cluster: unique across nodes, still short decimal
// numbers ("Client 1042"). Each node takes blocks of ids from a Redis counter and hands them
// out locally, asking for the next block while half of the current one is left, so opening a
// connection seldom waits for Redis (only a burst larger than half a block does, for one round
// trip). Thread: any (one mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

namespace hibiki::apps::chat {

class IdPool {
 public:
  static constexpr std::uint64_t kBlock = 1024;

  // The next id, or nullopt when the pool is empty (no block yet, or Redis down too long).
  std::optional<std::uint64_t> take();
  // Whether a block should be asked for now (none asked yet and half of the ids used); marks
  // the request as on its way.
  bool wants_block();
  // A block [last - kBlock + 1, last] arrived; or nullptr-like failure: `refill_failed`.
  void add_block(std::uint64_t last);
  void refill_failed();
  // The highest id handed out or held, for raising the Redis counter back after data loss.
  [[nodiscard]] std::uint64_t high_water() const;
  [[nodiscard]] bool empty() const;

 private:
  mutable std::mutex mutex_;
  // Two blocks at most: the current one and the next.
  std::uint64_t next_ = 0;
  std::uint64_t end_ = 0;  // one past the current block's last id
  std::uint64_t spare_next_ = 0;
  std::uint64_t spare_end_ = 0;
  std::uint64_t high_water_ = 0;
  bool requesting_ = false;
};

}  // namespace hibiki::apps::chat

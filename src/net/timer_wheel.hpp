// Coarse hashed timer wheel: O(1) arm and disarm for per-connection timeouts (handshake, idle,
// close). Timers are small integer ids (connection slots), not heap nodes.
#pragma once

#include <cstdint>
#include <vector>

namespace hibiki::net {

class TimerWheel {
 public:
  // tick_ms is the resolution: a timer fires at the first tick at or after its deadline.
  explicit TimerWheel(std::uint32_t tick_ms = 250, std::uint32_t bucket_count = 256);

  // Schedules (or reschedules) timer `id` to fire at `deadline_ms` (same clock as expire()).
  void arm(std::uint32_t id, std::uint64_t deadline_ms);
  void disarm(std::uint32_t id);
  [[nodiscard]] bool armed(std::uint32_t id) const;

  // Collects every timer due at `now_ms` into `due` (cleared first) and disarms them. The caller
  // fires them afterwards, so firing may arm or disarm any timer safely.
  void expire(std::uint64_t now_ms, std::vector<std::uint32_t>& due);

  [[nodiscard]] std::uint32_t tick_ms() const { return tick_ms_; }

 private:
  static constexpr std::uint32_t kNil = UINT32_MAX;
  struct Node {
    std::uint32_t prev = kNil;
    std::uint32_t next = kNil;
    std::uint32_t bucket = kNil;  // kNil: not armed
    // Monotonic-clock ticks: 32 bits last 34 years of uptime at 250 ms ticks and keep a node
    // at 16 bytes (one per connection).
    std::uint32_t deadline_tick = 0;
  };
  void unlink(std::uint32_t id);

  std::uint32_t tick_ms_;
  std::vector<std::uint32_t> heads_;
  std::vector<Node> nodes_;
  std::uint64_t last_tick_ = 0;  // every tick up to this one has been expired
  bool started_ = false;
};

}  // namespace hibiki::net

// The event-loop interface the gateway's non-blocking clients are driven by: descriptor
// readiness and one-shot timers, nothing else. Implementations run every callback on the loop's
// thread; nothing here blocks.
#pragma once

#include <cstdint>
#include <functional>

namespace hibiki::apps::gateway {

// What the integration client needs from an event loop. Implemented over hibiki::Server.
class Reactor {
 public:
  virtual ~Reactor() = default;
  // Level-triggered interest in `fd`: interest bits 1 = readable, 2 = writable. Calling again
  // for the same fd replaces the interest and callback. The callback gets the ready bits
  // (1 readable, 2 writable, 4 error or hang-up).
  virtual void watch(int fd, std::uint32_t interest,
                     std::function<void(std::uint32_t)> callback) = 0;
  virtual void unwatch(int fd) = 0;
  // One-shot timer after delay_ms (0: at the end of this loop turn); a new call replaces the
  // previous timer of the same id. cancel_timer does nothing if it already fired.
  virtual void set_timer(std::uint64_t id, std::uint32_t delay_ms,
                         std::function<void()> callback) = 0;
  virtual void cancel_timer(std::uint64_t id) = 0;
};

}  // namespace hibiki::apps::gateway

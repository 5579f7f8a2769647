// One epoll event loop (edge-triggered) with a coarse timer wheel and a cross-thread wake-up.
// The owner sees tokens and portable event bits, never epoll_event.
#pragma once

#include <cstdint>
#include <vector>

#include "net/timer_wheel.hpp"
#include "net/unique_fd.hpp"

namespace hibiki::net {

namespace io_event {
inline constexpr std::uint32_t kReadable = 1;
inline constexpr std::uint32_t kWritable = 2;
inline constexpr std::uint32_t kHangup = 4;  // error, hang-up or peer shut down its writes
}  // namespace io_event

// What the loop calls; implemented by the server.
class LoopHandler {
 public:
  virtual void on_io(std::uint64_t token, std::uint32_t events) = 0;
  virtual void on_timer(std::uint32_t timer_id) = 0;
  virtual void on_wake() = 0;
  // Called before the loop waits. Returns true when work is still pending (the loop then polls
  // without sleeping), e.g. connections whose reads were cut short for fairness.
  virtual bool before_sleep() = 0;
  virtual bool keep_running() = 0;

 protected:
  ~LoopHandler() = default;
};

class EventLoop {
 public:
  EventLoop();

  // Edge-triggered interest in reads and writes (plus hang-up), reported with `token`.
  // Returns 0 or -errno.
  int watch(int fd, std::uint64_t token);
  // Level-triggered read interest (listening sockets, where accepting is capped per turn).
  int watch_readable(int fd, std::uint64_t token);
  // Level-triggered interest for descriptors the application brings; `modify` when already
  // watched. Returns 0 or -errno.
  int watch_level(int fd, std::uint64_t token, bool readable, bool writable, bool modify);
  void unwatch(int fd);

  // Runs until handler.keep_running() is false.
  void run(LoopHandler& handler);

  // Makes a sleeping run() return from epoll_wait and call on_wake(). Async-signal-safe and
  // safe from any thread.
  void wake() const;

  // Monotonic milliseconds, read once per loop turn.
  [[nodiscard]] std::uint64_t now_ms() const { return now_ms_; }
  TimerWheel& timers() { return timers_; }
  // The next wait ends by this monotonic time at the latest (finer than the timer wheel).
  void sleep_until(std::uint64_t deadline_ms) { sleep_until_ms_ = deadline_ms; }

  static std::uint64_t monotonic_ms();

 private:
  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;
  TimerWheel timers_;
  std::uint64_t now_ms_ = 0;
  std::uint64_t sleep_until_ms_ = UINT64_MAX;
  std::vector<std::uint32_t> due_timers_;
};

}  // namespace hibiki::net

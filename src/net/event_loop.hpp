// One event loop: a kernel backend (epoll or io_uring, see io_backend), a coarse timer wheel
// and a cross-thread wake-up. The owner sees tokens and portable event bits or completions,
// never epoll_event or io_uring_cqe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "net/io_backend.hpp"
#include "net/loop_handler.hpp"
#include "net/timer_wheel.hpp"

namespace hibiki::net {

class UringBackend;

class EventLoop {
 public:
  explicit EventLoop(IoKind kind = IoKind::epoll);
  ~EventLoop();

  [[nodiscard]] IoKind io_kind() const { return backend_->kind(); }
  // The io_uring backend's completion-style operations, or nullptr on epoll.
  [[nodiscard]] UringBackend* ring() const { return ring_; }

  // Edge-triggered interest in reads and writes (plus hang-up), reported with `token`.
  // Returns 0 or -errno.
  int watch(int fd, std::uint64_t token) { return backend_->watch(fd, token); }
  // Level-triggered read interest (listening sockets, where accepting is capped per turn).
  int watch_readable(int fd, std::uint64_t token) { return backend_->watch_readable(fd, token); }
  // Level-triggered interest for descriptors the application brings; `modify` when already
  // watched. Returns 0 or -errno.
  int watch_level(int fd, std::uint64_t token, bool readable, bool writable, bool modify) {
    return backend_->watch_level(fd, token, readable, writable, modify);
  }
  void unwatch(int fd) { backend_->unwatch(fd); }
  // Call before closing a descriptor the loop watches or runs operations on.
  void forget(int fd) { backend_->forget(fd); }

  // Runs until handler.keep_running() is false.
  void run(LoopHandler& handler);
  // One wait of at most timeout_ms and its events, without timers or before_sleep: for
  // collecting the last completions after run() returned.
  void poll(LoopHandler& handler, int timeout_ms) { backend_->wait(timeout_ms, handler); }
  // After the last poll, on the loop's thread: nothing may stay pending in the kernel on
  // behalf of this thread once another one destroys the loop.
  void close_io() { backend_->close_requests(); }

  // Makes a sleeping run() return from its wait and call on_wake(). Async-signal-safe and
  // safe from any thread.
  void wake() const { backend_->wake(); }

  // Monotonic milliseconds, read once per loop turn.
  [[nodiscard]] std::uint64_t now_ms() const { return now_ms_; }
  TimerWheel& timers() { return timers_; }
  // The next wait ends by this monotonic time at the latest (finer than the timer wheel).
  void sleep_until(std::uint64_t deadline_ms) { sleep_until_ms_ = deadline_ms; }

  static std::uint64_t monotonic_ms();

 private:
  std::unique_ptr<IoBackend> backend_;
  UringBackend* ring_ = nullptr;  // backend_, when it is io_uring
  TimerWheel timers_;
  std::uint64_t now_ms_ = 0;
  std::uint64_t sleep_until_ms_ = UINT64_MAX;
  std::vector<std::uint32_t> due_timers_;
};

}  // namespace hibiki::net

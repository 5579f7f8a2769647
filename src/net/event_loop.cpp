// The backend-independent part of the event loop: one turn is before_sleep, one wait on the
// backend (which reports events and completions), then the timers that came due.
#include "net/event_loop.hpp"

#include <time.h>

#include <algorithm>

#include "net/io_uring.hpp"

namespace hibiki::net {

EventLoop::EventLoop(IoKind kind) {
  if (kind == IoKind::io_uring) {
    auto ring = std::make_unique<UringBackend>();
    ring_ = ring.get();
    backend_ = std::move(ring);
  } else {
    backend_ = make_epoll_backend();
  }
  now_ms_ = monotonic_ms();
}

EventLoop::~EventLoop() = default;

std::uint64_t EventLoop::monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

void EventLoop::run(LoopHandler& handler) {
  while (handler.keep_running()) {
    const bool pending = handler.before_sleep();
    if (!handler.keep_running()) break;
    // Sleep at most one timer tick so timers fire on time without a timerfd.
    int timeout_ms = pending ? 0 : static_cast<int>(timers_.tick_ms());
    if (sleep_until_ms_ != UINT64_MAX) {
      const std::uint64_t now = monotonic_ms();
      const std::uint64_t wait = sleep_until_ms_ > now ? sleep_until_ms_ - now : 0;
      timeout_ms = std::min<int>(timeout_ms, static_cast<int>(std::min<std::uint64_t>(wait, 1000)));
      sleep_until_ms_ = UINT64_MAX;
    }
    backend_->wait(timeout_ms, handler);
    now_ms_ = monotonic_ms();
    timers_.expire(now_ms_, due_timers_);
    for (std::uint32_t id : due_timers_)
      handler.on_timer(id);
  }
}

}  // namespace hibiki::net

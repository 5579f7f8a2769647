// epoll(7) event loop: edge-triggered sockets, an eventfd wake-up, timers on the turn boundary.
#include "net/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

namespace hibiki::net {
namespace {

// Reserved token for the wake-up eventfd; server tokens never reach it.
constexpr std::uint64_t kWakeToken = UINT64_MAX;
constexpr int kMaxEventsPerWait = 512;

std::uint32_t to_io_events(std::uint32_t epoll_events) {
  std::uint32_t events = 0;
  if (epoll_events & EPOLLIN) events |= io_event::kReadable;
  if (epoll_events & EPOLLOUT) events |= io_event::kWritable;
  if (epoll_events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) events |= io_event::kHangup;
  return events;
}

}  // namespace

EventLoop::EventLoop()
    : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!epoll_fd_.valid() || !wake_fd_.valid()) {
    throw std::system_error(errno, std::generic_category(), "cannot create the event loop");
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeToken;
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &event);
  now_ms_ = monotonic_ms();
}

std::uint64_t EventLoop::monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

int EventLoop::watch(int fd, std::uint64_t token) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = token;
  return ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : -errno;
}

int EventLoop::watch_readable(int fd, std::uint64_t token) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = token;
  return ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : -errno;
}

int EventLoop::watch_level(int fd, std::uint64_t token, bool readable, bool writable, bool modify) {
  epoll_event event{};
  event.events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u) | EPOLLRDHUP;
  event.data.u64 = token;
  const int op = modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  return ::epoll_ctl(epoll_fd_.get(), op, fd, &event) == 0 ? 0 : -errno;
}

void EventLoop::unwatch(int fd) {
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::wake() const {
  const std::uint64_t one = 1;
  // A full counter (EAGAIN) already means "wake up": nothing to do.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

void EventLoop::run(LoopHandler& handler) {
  std::array<epoll_event, kMaxEventsPerWait> events{};
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
    int ready = ::epoll_wait(epoll_fd_.get(), events.data(), kMaxEventsPerWait, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR)
        ready = 0;
      else
        throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    now_ms_ = monotonic_ms();
    for (int i = 0; i < ready; ++i) {
      const std::uint64_t token = events[i].data.u64;
      if (token == kWakeToken) {
        std::uint64_t count = 0;
        [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
        handler.on_wake();
        continue;
      }
      handler.on_io(token, to_io_events(events[i].events));
    }
    timers_.expire(now_ms_, due_timers_);
    for (std::uint32_t id : due_timers_)
      handler.on_timer(id);
  }
}

}  // namespace hibiki::net

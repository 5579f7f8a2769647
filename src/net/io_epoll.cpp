// The epoll(7) backend: edge-triggered sockets, level-triggered listeners and application
// descriptors, an eventfd for wake-ups. Connections do their own reads and writes on readiness.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>

#include "net/io_backend.hpp"
#include "net/unique_fd.hpp"

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

class EpollBackend final : public IoBackend {
 public:
  EpollBackend()
      : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
        wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!epoll_fd_.valid() || !wake_fd_.valid()) {
      throw std::system_error(errno, std::generic_category(), "cannot create the event loop");
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kWakeToken;
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &event);
  }

  [[nodiscard]] IoKind kind() const override { return IoKind::epoll; }

  int watch(int fd, std::uint64_t token) override {
    return control(EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, token);
  }

  int watch_readable(int fd, std::uint64_t token) override {
    return control(EPOLL_CTL_ADD, fd, EPOLLIN, token);
  }

  int watch_level(int fd, std::uint64_t token, bool readable, bool writable, bool modify) override {
    const std::uint32_t events =
        (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u) | EPOLLRDHUP;
    return control(modify ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, events, token);
  }

  void unwatch(int fd) override { ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

  // close(2) removes the descriptor from the epoll set by itself.
  void forget(int /*fd*/) override {}

  void wake() const override {
    const std::uint64_t one = 1;
    // A full counter (EAGAIN) already means "wake up": nothing to do.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
  }

  void wait(int timeout_ms, LoopHandler& handler) override {
    int ready = ::epoll_wait(epoll_fd_.get(), events_.data(), kMaxEventsPerWait, timeout_ms);
    if (ready < 0) {
      if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll_wait");
      ready = 0;
    }
    for (int i = 0; i < ready; ++i) {
      const std::uint64_t token = events_[i].data.u64;
      if (token == kWakeToken) {
        std::uint64_t count = 0;
        [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
        handler.on_wake();
        continue;
      }
      handler.on_io(token, to_io_events(events_[i].events));
    }
  }

 private:
  int control(int op, int fd, std::uint32_t events, std::uint64_t token) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = token;
    return ::epoll_ctl(epoll_fd_.get(), op, fd, &event) == 0 ? 0 : -errno;
  }

  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;
  std::array<epoll_event, kMaxEventsPerWait> events_{};
};

}  // namespace

std::unique_ptr<IoBackend> make_epoll_backend() {
  return std::make_unique<EpollBackend>();
}

const char* io_kind_name(IoKind kind) {
  return kind == IoKind::io_uring ? "io_uring" : "epoll";
}

}  // namespace hibiki::net

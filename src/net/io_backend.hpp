// The part of an EventLoop that talks to the kernel: epoll (readiness, io_epoll) or io_uring
// (completions, io_uring). The loop's generic part (event_loop) drives one per turn.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "net/loop_handler.hpp"

namespace hibiki::net {

enum class IoKind : std::uint8_t { epoll, io_uring };

[[nodiscard]] const char* io_kind_name(IoKind kind);

class IoBackend {
 public:
  IoBackend() = default;
  IoBackend(const IoBackend&) = delete;
  IoBackend& operator=(const IoBackend&) = delete;
  virtual ~IoBackend() = default;

  [[nodiscard]] virtual IoKind kind() const = 0;
  // Readiness interest, reported to LoopHandler::on_io with `token`; see EventLoop.
  virtual int watch(int fd, std::uint64_t token) = 0;
  virtual int watch_readable(int fd, std::uint64_t token) = 0;
  virtual int watch_level(int fd, std::uint64_t token, bool readable, bool writable,
                          bool modify) = 0;
  virtual void unwatch(int fd) = 0;
  // `fd` is about to be closed, or was just closed: drop its watch (epoll: close does that).
  virtual void forget(int fd) = 0;
  virtual void wake() const = 0;
  // Hands the kernel what is pending, waits up to timeout_ms (0: not at all) for something to
  // happen, and reports everything that did to `handler`.
  virtual void wait(int timeout_ms, LoopHandler& handler) = 0;
  // The loop is done: drop pending requests now, on the loop's thread (io_uring).
  virtual void close_requests() {}
};

std::unique_ptr<IoBackend> make_epoll_backend();
std::unique_ptr<IoBackend> make_uring_backend();

// Empty when this kernel and process can run the io_uring backend; else why not, in a few
// words (e.g. "io_uring_setup: Operation not permitted (kernel.io_uring_disabled?)").
std::string io_uring_unavailable_reason();

}  // namespace hibiki::net

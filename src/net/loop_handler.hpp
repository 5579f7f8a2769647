// What an event loop calls back: readiness (epoll, and readiness watches on io_uring),
// completions of the operations io_uring runs for the owner, timers and wake-ups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace hibiki::net {

namespace io_event {
inline constexpr std::uint32_t kReadable = 1;
inline constexpr std::uint32_t kWritable = 2;
inline constexpr std::uint32_t kHangup = 4;  // error, hang-up or peer shut down its writes
}  // namespace io_event

class LoopHandler {
 public:
  virtual void on_io(std::uint64_t token, std::uint32_t events) = 0;
  virtual void on_timer(std::uint32_t timer_id) = 0;
  virtual void on_wake() = 0;
  // Called before the loop waits. Returns true when work is still pending (the loop then polls
  // without sleeping), e.g. connections whose reads were cut short for fairness.
  virtual bool before_sleep() = 0;
  virtual bool keep_running() = 0;

  // Completions of UringBackend operations (never called on epoll). `more`: a multishot
  // operation goes on; false means it ended and must be armed again if still wanted.
  // An accepted descriptor (owned by the handler from now on), or -errno.
  virtual void on_accepted(std::uint64_t /*token*/, int /*result*/, bool /*more*/) {}
  // Bytes received (valid during the call only; the handler may modify them in place), 0 for
  // the peer's EOF, or -errno (-ENOBUFS: the loop's receive buffers ran out).
  virtual void on_received(std::uint64_t /*token*/, int /*result*/, std::span<std::byte> /*bytes*/,
                           bool /*more*/) {}
  // Bytes of one send taken by the socket, or -errno.
  virtual void on_sent(std::uint64_t /*token*/, int /*result*/) {}

 protected:
  ~LoopHandler() = default;
};

}  // namespace hibiki::net

// The io_uring backend: one ring per loop. Connections hand it whole operations (multishot
// accept, multishot receive into the loop's provided buffers, sendmsg) whose completions come
// back through LoopHandler; everything queued during a turn goes to the kernel in the one
// io_uring_enter that also waits. Readiness watches (TLS connections, application descriptors)
// are poll requests on the same ring; the wake-up eventfd is read through it.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_map>

#include "net/io_backend.hpp"
#include "net/unique_fd.hpp"

namespace hibiki::net {

class UringBackend final : public IoBackend {
 public:
  // Throws std::system_error when the ring or its buffers cannot be set up.
  UringBackend();
  ~UringBackend() override;

  [[nodiscard]] IoKind kind() const override { return IoKind::io_uring; }
  // Edge-like readiness (multishot poll): reads and writes plus hang-up.
  int watch(int fd, std::uint64_t token) override;
  // Level-triggered readiness: a one-shot poll armed again after each report.
  int watch_readable(int fd, std::uint64_t token) override;
  int watch_level(int fd, std::uint64_t token, bool readable, bool writable, bool modify) override;
  void unwatch(int fd) override;
  // Cancels the descriptor's readiness watch by its request id, so it is safe after close(2).
  void forget(int fd) override { unwatch(fd); }
  void wake() const override;
  void wait(int timeout_ms, LoopHandler& handler) override;
  // Cancels every pending request and reaps the completions, on the thread that waits on the
  // ring (the destructor does it when that thread destroys the ring; else the owner calls
  // EventLoop::close_io() on that thread before handing the loop over).
  void close_requests() override;

  // Completion-style operations; `token` comes back with each completion and must be below
  // 2^61. Until an operation's last completion (more == false) arrived, the descriptor must
  // stay open and, for send, `message`, its iovecs and their bytes alive and unchanged.
  void accept(int listen_fd, std::uint64_t token);
  void receive(int fd, std::uint64_t token);
  void send(int fd, std::uint64_t token, const msghdr* message);
  // Cancels every operation on `fd`; their completions still arrive (ECANCELED, or what was
  // done). The descriptor must stay open until this is submitted, i.e. until the next wait.
  void cancel(int fd);
  // Cancels a multishot accept by its token (safe after the listener is closed).
  void cancel_accept(std::uint64_t token);

  // Receive buffers: how many at most, of how many bytes (each followed by padding the parsers
  // may read). 32 KiB: a 16 KiB message and its header arrive in one buffer, parsed in place.
  // Few: the kernel takes them in ring order, so every buffer handed out gets touched (a
  // page at least) even under light load, and that memory counts against idle connections.
  static constexpr unsigned kBufferCount = 64;
  static constexpr std::size_t kBufferBytes = 32 * 1024;

 private:
  struct Watch {
    std::uint64_t token = 0;
    std::uint32_t poll_mask = 0;
    std::uint32_t sequence = 0;  // in the poll's user_data: stale completions are ignored
    bool level = false;          // one-shot, armed again after each report
    bool armed = false;
  };
  io_uring_sqe* next_sqe();
  int add_watch(int fd, std::uint64_t token, std::uint32_t poll_mask, bool level);
  void arm(int fd, Watch& watch);
  void cancel_watch(int fd, const Watch& watch);
  void read_wake();
  struct Completion {
    std::uint64_t user_data;
    std::int32_t res;
    std::uint32_t flags;
  };
  void dispatch(const Completion& cqe, LoopHandler& handler);
  void on_poll(const Completion& cqe, LoopHandler& handler);
  // Gives kBufferStep more buffers to the kernel (at first, and when it ran out).
  void provide_more();
  // Queues a buffer back into the ring; publish_buffers() hands the queued ones to the kernel
  // (wait() does after each batch of completions).
  void recycle(unsigned buffer_id);
  void publish_buffers();
  [[nodiscard]] std::byte* buffer(unsigned id) const;

  io_uring ring_{};
  bool ring_ready_ = false;
  std::thread::id waiter_;  // the thread that last waited: it submitted what is pending
  UniqueFd wake_fd_;
  std::uint64_t wake_count_ = 0;  // the eventfd read's target
  io_uring_buf_ring* buffer_ring_ = nullptr;
  std::size_t buffer_ring_bytes_ = 0;
  std::unique_ptr<std::byte[]> buffers_;
  unsigned provided_ = 0;  // buffers the ring has been given so far
  unsigned recycled_ = 0;  // buffers added back since the last advance
  std::unordered_map<int, Watch> watches_;
  std::uint32_t next_sequence_ = 1;
};

}  // namespace hibiki::net

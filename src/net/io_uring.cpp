// io_uring(7) backend. user_data of every request: the operation in the top 3 bits, then the
// owner's token (or, for polls, the watch's sequence number and descriptor).
#include "net/io_uring.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace hibiki::net {
namespace {

constexpr unsigned kSubmissionEntries = 1024;
// Room for a burst of completions (a broadcast's sends, many receives) between two reaps.
constexpr unsigned kCompletionEntries = 8192;
constexpr unsigned kBufferGroup = 0;
// Buffers handed to the kernel at first and per refill: a light load touches few of them.
constexpr unsigned kBufferStep = 32;
constexpr std::size_t kBufferPadding = 64;  // parsers may read a little past the bytes
constexpr std::size_t kBufferStride = UringBackend::kBufferBytes + kBufferPadding;
constexpr unsigned kCompletionBatch = 256;

enum class Op : std::uint64_t { poll = 0, accept = 1, receive = 2, send = 3, wake = 4, ignore = 5 };
constexpr int kOpShift = 61;
constexpr std::uint64_t kValueMask = (std::uint64_t{1} << kOpShift) - 1;
constexpr std::uint32_t kSequenceMask = (1u << 29) - 1;  // sequence << 32 fits in 61 bits

std::uint64_t user_data(Op op, std::uint64_t value) {
  return (static_cast<std::uint64_t>(op) << kOpShift) | (value & kValueMask);
}

std::uint64_t poll_value(int fd, std::uint32_t sequence) {
  return (static_cast<std::uint64_t>(sequence) << 32) | static_cast<std::uint32_t>(fd);
}

std::uint32_t to_io_events(int poll_events) {
  std::uint32_t events = 0;
  if (poll_events & POLLIN) events |= io_event::kReadable;
  if (poll_events & POLLOUT) events |= io_event::kWritable;
  if (poll_events & (POLLERR | POLLHUP | POLLRDHUP)) events |= io_event::kHangup;
  return events;
}

}  // namespace

UringBackend::UringBackend() : wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!wake_fd_.valid()) throw std::system_error(errno, std::generic_category(), "eventfd");
  // COOP_TASKRUN: a completion that arrives while the loop runs its handlers (a receive the
  // client's core produced) waits for the loop's next io_uring_enter instead of interrupting
  // it with an inter-processor interrupt. Kernels before 5.19 refuse it: then without.
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                 IORING_SETUP_TASKRUN_FLAG;
  params.cq_entries = kCompletionEntries;
  int rc = io_uring_queue_init_params(kSubmissionEntries, &ring_, &params);
  if (rc == -EINVAL) {
    params = {};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    params.cq_entries = kCompletionEntries;
    rc = io_uring_queue_init_params(kSubmissionEntries, &ring_, &params);
  }
  if (rc < 0) throw std::system_error(-rc, std::generic_category(), "io_uring_setup");
  ring_ready_ = true;
  // The provided-buffer ring: kBufferCount slots, filled kBufferStep at a time (see recycle).
  buffer_ring_bytes_ = kBufferCount * sizeof(io_uring_buf);
  void* memory = ::mmap(nullptr, buffer_ring_bytes_, PROT_READ | PROT_WRITE,
                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (memory == MAP_FAILED) {
    io_uring_queue_exit(&ring_);
    throw std::system_error(errno, std::generic_category(), "mmap of the buffer ring");
  }
  buffer_ring_ = static_cast<io_uring_buf_ring*>(memory);
  io_uring_buf_ring_init(buffer_ring_);
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<std::uint64_t>(memory);
  registration.ring_entries = kBufferCount;
  registration.bgid = kBufferGroup;
  if (int rc = io_uring_register_buf_ring(&ring_, &registration, 0); rc < 0) {
    ::munmap(memory, buffer_ring_bytes_);
    io_uring_queue_exit(&ring_);
    throw std::system_error(-rc, std::generic_category(), "io_uring_register_buf_ring");
  }
  // Allocated, not touched: pages appear as buffers are first used.
  buffers_.reset(new std::byte[kBufferCount * kBufferStride]);
  provide_more();
  publish_buffers();
  read_wake();
}

UringBackend::~UringBackend() {
  if (!ring_ready_) return;
  if (std::this_thread::get_id() == waiter_) close_requests();
  io_uring_queue_exit(&ring_);
  if (buffer_ring_ != nullptr) ::munmap(buffer_ring_, buffer_ring_bytes_);
}

void UringBackend::close_requests() {
  // Requests still pending when the ring closes (the wake-up read, multishot receives) are
  // cancelled by the kernel later, through task work that interrupts whatever the thread that
  // submitted them is blocked in then (EINTR on a read with a timeout). Cancelled and reaped
  // here instead, by that thread; entering the ring from another would tie it to the ring too.
  if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) {
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, user_data(Op::ignore, 0));
  }
  __kernel_timespec timeout{.tv_sec = 0, .tv_nsec = 10'000'000};
  for (int round = 0; round < 10; ++round) {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &timeout, nullptr) < 0) break;
    const unsigned ready = io_uring_cq_ready(&ring_);
    if (ready == 0) break;
    io_uring_cq_advance(&ring_, ready);
  }
  waiter_ = {};
}

std::byte* UringBackend::buffer(unsigned id) const {
  return buffers_.get() + static_cast<std::size_t>(id) * kBufferStride;
}

void UringBackend::provide_more() {
  const unsigned until = std::min(kBufferCount, provided_ + kBufferStep);
  for (unsigned id = provided_; id < until; ++id)
    recycle(id);
  provided_ = until;
}

void UringBackend::recycle(unsigned id) {
  io_uring_buf_ring_add(buffer_ring_, buffer(id), kBufferBytes, static_cast<unsigned short>(id),
                        io_uring_buf_ring_mask(kBufferCount), static_cast<int>(recycled_));
  ++recycled_;
}

void UringBackend::publish_buffers() {
  if (recycled_ == 0) return;
  io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(recycled_));
  recycled_ = 0;
}

io_uring_sqe* UringBackend::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // The queue is full (a broadcast to many): hand it over now and go on.
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) throw std::system_error(EBUSY, std::generic_category(), "io_uring sq");
  }
  return sqe;
}

void UringBackend::read_wake() {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_read(sqe, wake_fd_.get(), &wake_count_, sizeof wake_count_, 0);
  io_uring_sqe_set_data64(sqe, user_data(Op::wake, 0));
}

void UringBackend::wake() const {
  const std::uint64_t one = 1;
  // A full counter (EAGAIN) already means "wake up": nothing to do.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

void UringBackend::accept(int listen_fd, std::uint64_t token) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, user_data(Op::accept, token));
}

void UringBackend::receive(int fd, std::uint64_t token) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, user_data(Op::receive, token));
}

void UringBackend::send(int fd, std::uint64_t token, const msghdr* message) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_sendmsg(sqe, fd, message, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, user_data(Op::send, token));
}

int UringBackend::add_watch(int fd, std::uint64_t token, std::uint32_t poll_mask, bool level) {
  auto [found, fresh] = watches_.try_emplace(fd);
  Watch& watch = found->second;
  if (!fresh) cancel_watch(fd, watch);
  watch.token = token;
  watch.poll_mask = poll_mask;
  watch.level = level;
  watch.sequence = next_sequence_;
  next_sequence_ = (next_sequence_ + 1) & kSequenceMask;
  arm(fd, watch);
  return 0;
}

void UringBackend::arm(int fd, Watch& watch) {
  io_uring_sqe* sqe = next_sqe();
  if (watch.level) {
    io_uring_prep_poll_add(sqe, fd, watch.poll_mask);
  } else {
    io_uring_prep_poll_multishot(sqe, fd, watch.poll_mask);
  }
  io_uring_sqe_set_data64(sqe, user_data(Op::poll, poll_value(fd, watch.sequence)));
  watch.armed = true;
}

void UringBackend::cancel_watch(int fd, const Watch& watch) {
  if (!watch.armed) return;
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_poll_remove(sqe, user_data(Op::poll, poll_value(fd, watch.sequence)));
  io_uring_sqe_set_data64(sqe, user_data(Op::ignore, 0));
}

int UringBackend::watch(int fd, std::uint64_t token) {
  return add_watch(fd, token, POLLIN | POLLOUT | POLLRDHUP, /*level=*/false);
}

int UringBackend::watch_readable(int fd, std::uint64_t token) {
  return add_watch(fd, token, POLLIN, /*level=*/true);
}

int UringBackend::watch_level(int fd, std::uint64_t token, bool readable, bool writable,
                              bool /*modify*/) {
  const std::uint32_t mask = (readable ? POLLIN : 0u) | (writable ? POLLOUT : 0u) | POLLRDHUP;
  return add_watch(fd, token, mask, /*level=*/true);
}

void UringBackend::unwatch(int fd) {
  auto found = watches_.find(fd);
  if (found == watches_.end()) return;
  cancel_watch(fd, found->second);
  watches_.erase(found);
}

void UringBackend::cancel(int fd) {
  watches_.erase(fd);
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, user_data(Op::ignore, 0));
}

void UringBackend::cancel_accept(std::uint64_t token) {
  io_uring_sqe* sqe = next_sqe();
  io_uring_prep_cancel64(sqe, user_data(Op::accept, token), 0);
  io_uring_sqe_set_data64(sqe, user_data(Op::ignore, 0));
}

void UringBackend::wait(int timeout_ms, LoopHandler& handler) {
  waiter_ = std::this_thread::get_id();
  // Entered also with no time to wait: completions held back (COOP_TASKRUN) are run then.
  __kernel_timespec timeout{.tv_sec = timeout_ms / 1000,
                            .tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000};
  io_uring_cqe* first = nullptr;
  const int rc = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &timeout, nullptr);
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
    throw std::system_error(-rc, std::generic_category(), "io_uring_enter");
  }
  // Completions are copied out before any is handled: handlers queue requests, and a full
  // submission queue submits, which may post more completions.
  std::array<io_uring_cqe*, kCompletionBatch> peeked{};
  std::array<Completion, kCompletionBatch> batch{};
  for (int round = 0; round < 8; ++round) {
    const unsigned count = io_uring_peek_batch_cqe(&ring_, peeked.data(), kCompletionBatch);
    if (count == 0) break;
    for (unsigned i = 0; i < count; ++i)
      batch[i] = {peeked[i]->user_data, peeked[i]->res, peeked[i]->flags};
    io_uring_cq_advance(&ring_, count);
    for (unsigned i = 0; i < count; ++i)
      dispatch(batch[i], handler);
    publish_buffers();
    if (count < kCompletionBatch) break;
  }
}

void UringBackend::dispatch(const Completion& cqe, LoopHandler& handler) {
  const auto op = static_cast<Op>(cqe.user_data >> kOpShift);
  const std::uint64_t value = cqe.user_data & kValueMask;
  const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
  switch (op) {
    case Op::receive: {
      if (cqe.res == -ENOBUFS && provided_ < kBufferCount) provide_more();
      if ((cqe.flags & IORING_CQE_F_BUFFER) == 0) {
        handler.on_received(value, cqe.res, {}, more);
        break;
      }
      const unsigned id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
      const std::size_t length = cqe.res > 0 ? static_cast<std::size_t>(cqe.res) : 0;
      handler.on_received(value, cqe.res, {buffer(id), length}, more);
      recycle(id);
      break;
    }
    case Op::send:
      handler.on_sent(value, cqe.res);
      break;
    case Op::accept:
      handler.on_accepted(value, cqe.res, more);
      break;
    case Op::poll:
      on_poll(cqe, handler);
      break;
    case Op::wake:
      read_wake();
      handler.on_wake();
      break;
    case Op::ignore:
      break;
  }
}

void UringBackend::on_poll(const Completion& cqe, LoopHandler& handler) {
  const std::uint64_t value = cqe.user_data & kValueMask;
  const int fd = static_cast<int>(static_cast<std::uint32_t>(value));
  const auto sequence = static_cast<std::uint32_t>(value >> 32);
  auto found = watches_.find(fd);
  if (found == watches_.end() || found->second.sequence != sequence) return;  // stale
  if ((cqe.flags & IORING_CQE_F_MORE) == 0) found->second.armed = false;
  if (cqe.res == -ECANCELED) return;
  const std::uint64_t token = found->second.token;
  // An error (a descriptor closed while watched) is reported once, not re-armed into a spin.
  const bool failed = cqe.res < 0;
  handler.on_io(token, failed ? io_event::kHangup : to_io_events(cqe.res));
  found = watches_.find(fd);  // the handler may have unwatched or replaced it
  if (failed || found == watches_.end() || found->second.sequence != sequence) return;
  if (!found->second.armed) arm(fd, found->second);
}

namespace {

// Receives one byte through the ring the way connections will: proves multishot receive into
// provided buffers works here (Linux 6.0+), not only that the opcodes exist.
class ProbeHandler final : public LoopHandler {
 public:
  void on_io(std::uint64_t, std::uint32_t) override {}
  void on_timer(std::uint32_t) override {}
  void on_wake() override {}
  bool before_sleep() override { return false; }
  bool keep_running() override { return false; }
  void on_received(std::uint64_t, int result, std::span<std::byte>, bool more) override {
    this->result = result;
    this->more = more;
  }
  int result = -ETIME;
  bool more = false;
};

std::string errno_text(int error) {
  std::string text = std::strerror(error);
  if (error == EPERM) text += " (kernel.io_uring_disabled, or a seccomp filter)";
  if (error == ENOSYS) text += " (not in this kernel, or blocked by a seccomp filter)";
  return text;
}

std::string probe_io_uring();

}  // namespace

std::string io_uring_unavailable_reason() {
  // On a thread of its own: a thread that entered a ring gets task work (TWA_SIGNAL) from the
  // kernel when that ring is torn down, later and asynchronously, which interrupts whatever
  // it is blocked in then. A thread that has exited is left alone.
  std::string reason;
  std::thread prober([&reason] { reason = probe_io_uring(); });
  prober.join();
  return reason;
}

namespace {

std::string probe_io_uring() {
  io_uring ring{};
  if (int rc = io_uring_queue_init(8, &ring, 0); rc < 0) {
    return "io_uring_setup: " + errno_text(-rc);
  }
  const unsigned features = ring.features;
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  io_uring_queue_exit(&ring);
  if ((features & IORING_FEAT_EXT_ARG) == 0 || (features & IORING_FEAT_FAST_POLL) == 0) {
    if (probe != nullptr) io_uring_free_probe(probe);
    return "the kernel's io_uring is too old (no IORING_FEAT_EXT_ARG or FAST_POLL)";
  }
  if (probe == nullptr) return "io_uring_get_probe failed";
  struct Needed {
    int op;
    const char* name;
  };
  constexpr std::array<Needed, 7> kNeeded{{{IORING_OP_ACCEPT, "ACCEPT"},
                                           {IORING_OP_RECV, "RECV"},
                                           {IORING_OP_SENDMSG, "SENDMSG"},
                                           {IORING_OP_POLL_ADD, "POLL_ADD"},
                                           {IORING_OP_POLL_REMOVE, "POLL_REMOVE"},
                                           {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
                                           {IORING_OP_READ, "READ"}}};
  for (const Needed& needed : kNeeded) {
    if (!io_uring_opcode_supported(probe, needed.op)) {
      io_uring_free_probe(probe);
      return std::string("the kernel lacks IORING_OP_") + needed.name;
    }
  }
  io_uring_free_probe(probe);
  try {
    UringBackend backend;
    std::array<int, 2> pair{};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair.data()) != 0) {
      return std::string("socketpair: ") + std::strerror(errno);
    }
    const UniqueFd a(pair[0]);
    const UniqueFd b(pair[1]);
    backend.receive(a.get(), 1);
    ProbeHandler handler;
    for (int attempt = 0; attempt < 2 && handler.result == -ETIME; ++attempt) {
      backend.wait(0, handler);  // the receive is armed before the byte is written
      if (attempt == 0 && ::write(b.get(), "x", 1) != 1) return "socketpair write failed";
      backend.wait(100, handler);
    }
    if (handler.result != 1 || !handler.more) {
      return "multishot receive into provided buffers does not work here (result " +
             std::to_string(handler.result) + "; Linux 6.0 or later is needed)";
    }
  } catch (const std::system_error& error) {
    return std::string(error.what()) + (error.code().value() == EPERM ? " (not permitted)" : "");
  }
  return {};
}

}  // namespace

std::unique_ptr<IoBackend> make_uring_backend() {
  return std::make_unique<UringBackend>();
}

}  // namespace hibiki::net

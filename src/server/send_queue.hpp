// Bytes a connection has to send, in order: small frames copied into one owned buffer, shared
// frames (broadcasts) referenced without a copy. flush() gathers them into one writev; on
// io_uring, begin_send() describes them to one sendmsg and finish_send() consumes what it took.
// An empty queue owns no heap memory.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>
#include <cstddef>
#include <cstdint>

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net/tls.hpp"
#include "server/shared_frame.hpp"

namespace hibiki::server {

class SendQueue {
 public:
  SendQueue() = default;
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;
  ~SendQueue();

  [[nodiscard]] bool empty() const { return bytes_ == 0; }
  // Unsent bytes.
  [[nodiscard]] std::size_t size() const { return bytes_; }
  // Heap bytes held for copied frames (written or not): for memory tests.
  [[nodiscard]] std::size_t owned_capacity() const { return owned_.capacity(); }

  // Copies `a` then `b` (e.g. a frame header and its payload) to the end of the queue.
  void push(std::span<const std::byte> a, std::span<const std::byte> b = {});
  // Queues a reference to `frame` (retained here, released once written).
  void push(SharedFrame* frame);

  // Copies up to out.size() bytes from the front into `out` and drops them from the queue
  // (an HTTP/2 stream's DATA frames are built this way). Returns how many.
  std::size_t take(std::span<std::byte> out);

  // Writes as much as the socket takes, through `tls` when the connection has it. Returns 0 when
  // everything was written, -EAGAIN when bytes remain, or another -errno when it is broken.
  int flush(int fd, net::TlsSession* tls = nullptr);

  // io_uring: the unsent bytes (up to kMaxSendIovecs pieces) as a message for one sendmsg.
  // Until finish_send(), the message and every byte it points at stay put: pushes may still
  // append (a buffer that must grow is copied and the old one kept), nothing is consumed.
  const msghdr* begin_send();
  // The send's completion: `written` bytes (0 when it failed) leave the queue.
  void finish_send(std::size_t written);
  [[nodiscard]] bool sending() const { return sending_; }

  static constexpr std::size_t kMaxSendIovecs = 32;

 private:
  // What a sendmsg in flight points at; kept with the queue (and its spares) once allocated.
  struct InFlight {
    msghdr message{};
    std::array<iovec, kMaxSendIovecs> iov{};
    std::vector<std::string> retired;  // owned buffers outgrown while the send was in flight
  };
  // Makes room for `extra` owned bytes without moving bytes a send in flight points at.
  void reserve_owned(std::size_t extra);

  struct Segment {
    SharedFrame* frame;   // nullptr: the bytes are owned_[begin, end)
    std::uint64_t begin;  // offsets into the frame or into owned_
    std::uint64_t end;
  };
  void consume(std::size_t written);
  void compact();
  void reset();

  std::vector<Segment> segments_;
  std::size_t head_ = 0;  // first segment not fully written
  std::string owned_;
  std::size_t bytes_ = 0;
  std::unique_ptr<InFlight> in_flight_;
  bool sending_ = false;
};

}  // namespace hibiki::server

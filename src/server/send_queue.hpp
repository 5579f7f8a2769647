// Bytes a connection could not write yet: owned segments plus the offset already written.
// The socket gets one writev per flush, over as many segments as fit in one call.
#pragma once

#include <cstddef>
#include <deque>
#include <span>
#include <string>

namespace hibiki::server {

class SendQueue {
 public:
  [[nodiscard]] bool empty() const { return segments_.empty(); }
  // Unsent bytes.
  [[nodiscard]] std::size_t size() const { return bytes_; }

  void push(std::string segment);
  void push(std::span<const std::byte> a, std::span<const std::byte> b = {});

  // Writes as much as the socket takes. Returns 0 when everything was written, -EAGAIN when
  // bytes remain, or another -errno when the connection is broken.
  int flush(int fd);

 private:
  std::deque<std::string> segments_;
  std::size_t head_offset_ = 0;  // bytes of segments_.front() already written
  std::size_t bytes_ = 0;
};

}  // namespace hibiki::server

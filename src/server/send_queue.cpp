// Write queue of a connection.
#include "server/send_queue.hpp"

#include <sys/uio.h>

#include <array>
#include <cerrno>

#include "net/socket.hpp"

namespace hibiki::server {
namespace {
constexpr int kMaxIovecs = 64;
}

void SendQueue::push(std::string segment) {
  if (segment.empty()) return;
  bytes_ += segment.size();
  segments_.push_back(std::move(segment));
}

void SendQueue::push(std::span<const std::byte> a, std::span<const std::byte> b) {
  std::string segment;
  segment.reserve(a.size() + b.size());
  segment.append(reinterpret_cast<const char*>(a.data()), a.size());
  segment.append(reinterpret_cast<const char*>(b.data()), b.size());
  push(std::move(segment));
}

int SendQueue::flush(int fd) {
  while (!segments_.empty()) {
    std::array<iovec, kMaxIovecs> iov{};
    int count = 0;
    std::size_t offset = head_offset_;
    for (auto it = segments_.begin(); it != segments_.end() && count < kMaxIovecs; ++it) {
      iov[count].iov_base = it->data() + offset;
      iov[count].iov_len = it->size() - offset;
      offset = 0;
      ++count;
    }
    long written = net::writev_some(fd, iov.data(), count);
    if (written < 0) return static_cast<int>(written);
    bytes_ -= static_cast<std::size_t>(written);
    auto left = static_cast<std::size_t>(written);
    while (left > 0) {
      std::size_t in_head = segments_.front().size() - head_offset_;
      if (left < in_head) {
        head_offset_ += left;
        return -EAGAIN;  // short write: the kernel buffer is full
      }
      left -= in_head;
      segments_.pop_front();
      head_offset_ = 0;
    }
  }
  return 0;
}

}  // namespace hibiki::server

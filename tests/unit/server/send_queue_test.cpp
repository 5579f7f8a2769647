#include "server/send_queue.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace hibiki::server {
namespace {

struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0); }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  std::string read_all() {
    std::string out;
    char buffer[65536];
    for (;;) {
      ssize_t n = ::read(fds[1], buffer, sizeof buffer);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }
};

TEST(SendQueue, flushes_segments_in_order) {
  SocketPair pair;
  SendQueue queue;
  queue.push(std::string("hello "));
  queue.push(std::string("world"));
  EXPECT_EQ(queue.size(), 11u);
  EXPECT_EQ(queue.flush(pair.fds[0]), 0);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(pair.read_all(), "hello world");
}

TEST(SendQueue, keeps_the_unwritten_rest_after_a_short_write) {
  SocketPair pair;
  int small = 4096;
  ::setsockopt(pair.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  SendQueue queue;
  std::string expected;
  for (int i = 0; i < 64; ++i) {
    std::string segment(10000, static_cast<char>('a' + i % 26));
    expected += segment;
    queue.push(std::move(segment));
  }
  std::string received;
  int rc = queue.flush(pair.fds[0]);
  EXPECT_EQ(rc, -EAGAIN);
  EXPECT_GT(queue.size(), 0u);
  while (rc == -EAGAIN) {
    received += pair.read_all();
    rc = queue.flush(pair.fds[0]);
  }
  EXPECT_EQ(rc, 0);
  received += pair.read_all();
  EXPECT_EQ(received, expected);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(SendQueue, reports_a_broken_peer) {
  SendQueue queue;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  ::close(fds[1]);
  queue.push(std::string("x"));
  EXPECT_EQ(queue.flush(fds[0]), -EPIPE);
  ::close(fds[0]);
}

}  // namespace
}  // namespace hibiki::server

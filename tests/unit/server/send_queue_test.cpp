#include "server/send_queue.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "server/shared_frame.hpp"

namespace hibiki::server {
namespace {

std::span<const std::byte> bytes(const std::string& text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

FrameRef make_frame(const std::string& text) {
  FrameRef frame(SharedFrame::create(text.size()));
  std::memcpy(frame->data(), text.data(), text.size());
  return frame;
}

struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0); }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  void shrink_send_buffer() {
    int small = 4096;
    ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
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

TEST(SendQueue, flushes_owned_and_shared_bytes_in_order) {
  SocketPair pair;
  SendQueue queue;
  FrameRef shared = make_frame("[broadcast]");
  queue.push(bytes("hello "), bytes("world"));
  queue.push(shared.get());
  queue.push(bytes("!"));
  EXPECT_EQ(queue.size(), 11u + 11u + 1u);
  EXPECT_EQ(queue.flush(pair.fds[0]), 0);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(pair.read_all(), "hello world[broadcast]!");
}

TEST(SendQueue, keeps_the_unwritten_rest_after_a_short_write) {
  SocketPair pair;
  pair.shrink_send_buffer();
  SendQueue queue;
  FrameRef shared = make_frame(std::string(30000, '#'));
  std::string expected;
  for (int i = 0; i < 64; ++i) {
    std::string segment(10000, static_cast<char>('a' + i % 26));
    expected += segment;
    queue.push(bytes(segment));
    if (i % 8 == 0) {
      queue.push(shared.get());
      expected += std::string(30000, '#');
    }
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

TEST(SendQueue, queues_hold_one_shared_frame_without_copies_and_release_it) {
  SocketPair a;
  SocketPair b;
  SendQueue first;
  SendQueue second;
  {
    FrameRef frame = make_frame("same bytes");
    first.push(frame.get());
    second.push(frame.get());
  }  // the queues keep it alive
  EXPECT_EQ(first.flush(a.fds[0]), 0);
  EXPECT_EQ(second.flush(b.fds[0]), 0);
  EXPECT_EQ(a.read_all(), "same bytes");
  EXPECT_EQ(b.read_all(), "same bytes");
  // ASan's leak check fails this test if the last release did not free the frame.
}

TEST(SendQueue, a_reader_that_never_catches_up_does_not_grow_memory_past_the_unsent_bytes) {
  SocketPair pair;
  pair.shrink_send_buffer();
  SendQueue queue;
  const std::string chunk(1000, 'x');
  std::size_t pushed = 0;
  // Keep roughly 200 KB queued while the reader drains slowly, for 50 MB in total.
  while (pushed < 50'000'000) {
    while (queue.size() < 200'000) {
      queue.push(bytes(chunk));
      pushed += chunk.size();
    }
    queue.flush(pair.fds[0]);
    pair.read_all();
  }
  EXPECT_LT(queue.size(), 250'000u);
  EXPECT_LT(queue.owned_capacity(), 2'000'000u);
}

TEST(SendQueue, reports_a_broken_peer) {
  SendQueue queue;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  ::close(fds[1]);
  queue.push(bytes("x"));
  EXPECT_EQ(queue.flush(fds[0]), -EPIPE);
  ::close(fds[0]);
}

}  // namespace
}  // namespace hibiki::server

// The io_uring backend's completion-style operations over real loopback sockets: multishot
// accept and receive, short sends, cancelling on close with a send in flight, and receive
// buffers running out when many connections send at once.
#include "net/io_uring.hpp"

#include <gtest/gtest.h>
#include <sys/uio.h>

#include <map>
#include <string>
#include <vector>

#include "loop_sockets.hpp"
#include "net/event_loop.hpp"

namespace hibiki::net {
namespace {

class Completions final : public LoopHandler {
 public:
  void on_io(std::uint64_t, std::uint32_t) override {}
  void on_timer(std::uint32_t) override {}
  void on_wake() override {}
  bool before_sleep() override { return false; }
  bool keep_running() override { return true; }
  void on_accepted(std::uint64_t token, int result, bool more) override {
    accepted.push_back({token, result, more});
  }
  void on_received(std::uint64_t token, int result, std::span<std::byte> bytes,
                   bool more) override {
    received.push_back({token, result, more});
    data[token].append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (!more) ended.push_back(token);
  }
  void on_sent(std::uint64_t token, int result) override { sent.push_back({token, result, false}); }

  struct Event {
    std::uint64_t token;
    int result;
    bool more;
  };
  std::vector<Event> accepted, received, sent;
  std::map<std::uint64_t, std::string> data;
  std::vector<std::uint64_t> ended;  // receives that need arming again
};

// Waits (up to 3 s) until `done`.
template <typename Done>
void wait_for(UringBackend& ring, Completions& events, Done done) {
  const std::uint64_t deadline = EventLoop::monotonic_ms() + 3000;
  while (!done() && EventLoop::monotonic_ms() < deadline)
    ring.wait(50, events);
}

TEST(UringBackend, is_available_on_this_machine) {
  EXPECT_EQ(io_uring_unavailable_reason(), "");
}

TEST(UringBackend, a_multishot_accept_takes_every_connection) {
  UringBackend ring;
  Completions events;
  const UniqueFd listener = listen_tcp({.host = "127.0.0.1", .port = 0});
  ring.accept(listener.get(), 3);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 5; ++i)
    clients.push_back(testing::connect_to(local_port(listener.get())));
  wait_for(ring, events, [&] { return events.accepted.size() >= 5; });
  ASSERT_EQ(events.accepted.size(), 5u);
  for (const auto& event : events.accepted) {
    EXPECT_EQ(event.token, 3u);
    EXPECT_GE(event.result, 0);
    EXPECT_TRUE(event.more);
    ::close(event.result);
  }
  ring.cancel_accept(3);
  wait_for(ring, events, [&] { return events.accepted.size() >= 6; });
  ASSERT_EQ(events.accepted.size(), 6u);
  EXPECT_EQ(events.accepted.back().result, -ECANCELED);
  EXPECT_FALSE(events.accepted.back().more);
}

TEST(UringBackend, a_multishot_receive_delivers_each_arrival_then_the_eof) {
  UringBackend ring;
  Completions events;
  auto [server, client] = testing::tcp_pair();
  ring.receive(server.get(), 11);
  ASSERT_EQ(::send(client.get(), "first", 5, 0), 5);
  wait_for(ring, events, [&] { return events.data[11] == "first"; });
  ASSERT_EQ(::send(client.get(), "second", 6, 0), 6);
  wait_for(ring, events, [&] { return events.data[11] == "firstsecond"; });
  EXPECT_EQ(events.data[11], "firstsecond");
  EXPECT_TRUE(events.ended.empty());  // still armed: no system call per message
  client.reset();
  wait_for(ring, events, [&] { return !events.ended.empty(); });
  ASSERT_FALSE(events.received.empty());
  EXPECT_EQ(events.received.back().result, 0);  // EOF ends it
  EXPECT_FALSE(events.received.back().more);
}

TEST(UringBackend, a_send_to_a_full_socket_comes_back_short_and_the_rest_goes_later) {
  UringBackend ring;
  Completions events;
  // A small receive buffer on a client that does not read yet.
  auto [server, client] = testing::tcp_pair(4096);
  int small = 4096;
  ::setsockopt(server.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::string payload(4 << 20, 'a');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>('a' + i % 26);
  std::size_t offset = 0;
  std::string received;
  int sends = 0;
  int short_sends = 0;
  while (offset < payload.size()) {
    iovec iov{payload.data() + offset, payload.size() - offset};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    ring.send(server.get(), 21, &message);
    ++sends;
    const std::size_t before = events.sent.size();
    while (events.sent.size() == before) {
      ring.wait(10, events);
      char buffer[65536];
      const long n = ::recv(client.get(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) received.append(buffer, static_cast<std::size_t>(n));
    }
    const int result = events.sent.back().result;
    ASSERT_GT(result, 0);
    if (static_cast<std::size_t>(result) < payload.size() - offset) ++short_sends;
    offset += static_cast<std::size_t>(result);
  }
  while (received.size() < payload.size()) {
    char buffer[65536];
    const long n = ::recv(client.get(), buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0);
    received.append(buffer, static_cast<std::size_t>(n));
  }
  EXPECT_GT(short_sends, 0);
  EXPECT_EQ(received, payload);  // in order, nothing lost or repeated across the short sends
}

TEST(UringBackend, cancelling_on_close_ends_a_send_in_flight_and_the_receive) {
  UringBackend ring;
  Completions events;
  auto [server, client] = testing::tcp_pair(4096);
  int small = 4096;
  ::setsockopt(server.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ring.receive(server.get(), 31);
  // Fill the socket first, so the send has to wait for room the peer never makes.
  const std::string filler(65536, 'f');
  while (::send(server.get(), filler.data(), filler.size(), MSG_DONTWAIT) > 0) {
  }
  std::string payload(1 << 20, 'z');
  iovec iov{payload.data(), payload.size()};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  ring.send(server.get(), 32, &message);
  ring.wait(0, events);
  ring.wait(50, events);
  ASSERT_TRUE(events.sent.empty());  // the peer reads nothing: the send waits for room
  ring.cancel(server.get());
  wait_for(ring, events, [&] { return !events.sent.empty() && !events.ended.empty(); });
  ASSERT_EQ(events.sent.size(), 1u);
  // Cancelled: ECANCELED, or the part that went out before the cancel (never all of it).
  const int result = events.sent.front().result;
  EXPECT_TRUE(result == -ECANCELED ||
              (result > 0 && static_cast<std::size_t>(result) < payload.size()))
      << result;
  ASSERT_EQ(events.ended, std::vector<std::uint64_t>{31});
  EXPECT_EQ(events.received.back().result, -ECANCELED);
  // Only now may the descriptor close and the bytes go.
  server.reset();
  payload.clear();
}

TEST(UringBackend, many_connections_sending_at_once_run_out_of_buffers_and_lose_nothing) {
  UringBackend ring;
  Completions events;
  constexpr int kConnections = 200;
  constexpr std::size_t kBytesEach = 48 * 1024;  // 2 buffers each: 400 > kBufferCount
  std::vector<std::pair<UniqueFd, UniqueFd>> pairs;
  for (int i = 0; i < kConnections; ++i) {
    pairs.push_back(testing::tcp_pair());
    ring.receive(pairs.back().first.get(), 1000 + i);
  }
  ring.wait(0, events);
  const std::string chunk(kBytesEach, 'q');
  for (auto& pair : pairs)
    ASSERT_EQ(::send(pair.second.get(), chunk.data(), chunk.size(), 0),
              static_cast<long>(chunk.size()));
  bool ran_out = false;
  const auto complete = [&] {
    for (int i = 0; i < kConnections; ++i) {
      if (events.data[1000 + i].size() < kBytesEach) return false;
    }
    return true;
  };
  const std::uint64_t deadline = EventLoop::monotonic_ms() + 5000;
  while (!complete() && EventLoop::monotonic_ms() < deadline) {
    ring.wait(20, events);
    // What the server does: a receive that ended (ENOBUFS here) is armed again.
    for (std::uint64_t token : events.ended) {
      ran_out = true;
      ring.receive(pairs[token - 1000].first.get(), token);
    }
    events.ended.clear();
  }
  EXPECT_TRUE(ran_out);
  for (const auto& event : events.received) {
    EXPECT_TRUE(event.result > 0 || event.result == -ENOBUFS) << event.result;
  }
  for (int i = 0; i < kConnections; ++i)
    ASSERT_EQ(events.data[1000 + i], chunk) << "connection " << i;
}

}  // namespace
}  // namespace hibiki::net

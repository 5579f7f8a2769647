// The loop's duties that do not depend on the backend, on both: timers, the cross-thread
// wake-up, application descriptor watches (level-triggered) and connection watches.
#include "net/event_loop.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "loop_sockets.hpp"

namespace hibiki::net {
namespace {

// Records what the loop reports and stops when `done` says so (or after a deadline).
class Recorder final : public LoopHandler {
 public:
  void on_io(std::uint64_t token, std::uint32_t events) override {
    io.emplace_back(token, events);
    if (on_io_hook) on_io_hook(token, events);
  }
  void on_timer(std::uint32_t id) override { timers.push_back(id); }
  void on_wake() override { ++wakes; }
  bool before_sleep() override { return false; }
  bool keep_running() override {
    return !(done && done()) && EventLoop::monotonic_ms() < deadline_ms;
  }
  std::vector<std::pair<std::uint64_t, std::uint32_t>> io;
  std::vector<std::uint32_t> timers;
  int wakes = 0;
  std::function<bool()> done;
  std::function<void(std::uint64_t, std::uint32_t)> on_io_hook;
  std::uint64_t deadline_ms = EventLoop::monotonic_ms() + 3000;
};

class EventLoopTest : public ::testing::TestWithParam<IoKind> {};

TEST_P(EventLoopTest, a_timer_fires_after_its_delay_not_before) {
  EventLoop loop(GetParam());
  Recorder recorder;
  const std::uint64_t start = EventLoop::monotonic_ms();
  loop.timers().arm(7, start + 300);
  recorder.done = [&] { return !recorder.timers.empty(); };
  loop.run(recorder);
  const std::uint64_t elapsed = EventLoop::monotonic_ms() - start;
  ASSERT_EQ(recorder.timers, std::vector<std::uint32_t>{7});
  EXPECT_GE(elapsed, 300u);
  EXPECT_LT(elapsed, 1500u);
}

TEST_P(EventLoopTest, another_thread_wakes_a_sleeping_loop) {
  EventLoop loop(GetParam());
  Recorder recorder;
  recorder.done = [&] { return recorder.wakes > 0; };
  const std::uint64_t start = EventLoop::monotonic_ms();
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    loop.wake();
  });
  loop.run(recorder);
  waker.join();
  EXPECT_EQ(recorder.wakes, 1);
  EXPECT_LT(EventLoop::monotonic_ms() - start, 2000u);
}

TEST_P(EventLoopTest, a_level_watch_reports_until_the_data_is_read_and_stops_when_unwatched) {
  EventLoop loop(GetParam());
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  const UniqueFd reader(pipe_fds[0]);
  const UniqueFd writer(pipe_fds[1]);
  ASSERT_EQ(loop.watch_level(reader.get(), 42, true, false, false), 0);
  ASSERT_EQ(::write(writer.get(), "x", 1), 1);
  Recorder recorder;
  // Not read: level-triggered, so every turn reports it again.
  recorder.done = [&] { return recorder.io.size() >= 3; };
  loop.run(recorder);
  ASSERT_GE(recorder.io.size(), 3u);
  for (const auto& [token, events] : recorder.io) {
    EXPECT_EQ(token, 42u);
    EXPECT_TRUE(events & io_event::kReadable);
  }
  // Read, then more data after unwatching: nothing more is reported.
  char byte;
  ASSERT_EQ(::read(reader.get(), &byte, 1), 1);
  loop.unwatch(reader.get());
  ASSERT_EQ(::write(writer.get(), "y", 1), 1);
  Recorder after;
  after.deadline_ms = EventLoop::monotonic_ms() + 400;
  loop.run(after);
  EXPECT_TRUE(after.io.empty());
}

TEST_P(EventLoopTest, a_level_watch_can_switch_to_writable_interest) {
  EventLoop loop(GetParam());
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  const UniqueFd reader(pipe_fds[0]);
  const UniqueFd writer(pipe_fds[1]);
  ASSERT_EQ(loop.watch_level(writer.get(), 5, false, false, false), 0);
  Recorder quiet;
  quiet.deadline_ms = EventLoop::monotonic_ms() + 300;
  loop.run(quiet);
  EXPECT_TRUE(quiet.io.empty());  // no interest yet: an empty pipe's writability is not news
  ASSERT_EQ(loop.watch_level(writer.get(), 5, false, true, true), 0);
  Recorder recorder;
  recorder.done = [&] { return !recorder.io.empty(); };
  loop.run(recorder);
  ASSERT_FALSE(recorder.io.empty());
  EXPECT_TRUE(recorder.io.front().second & io_event::kWritable);
  loop.unwatch(writer.get());
}

TEST_P(EventLoopTest, a_connection_watch_reports_data_and_the_peers_hang_up) {
  EventLoop loop(GetParam());
  auto pair = testing::tcp_pair();
  UniqueFd& server = pair.first;  // named references: lambdas cannot capture bindings (C++20)
  UniqueFd& client = pair.second;
  ASSERT_TRUE(client.valid());
  ASSERT_EQ(loop.watch(server.get(), 9), 0);
  ASSERT_EQ(::send(client.get(), "hello", 5, 0), 5);
  Recorder recorder;
  std::string received;
  bool hung_up = false;
  recorder.on_io_hook = [&](std::uint64_t token, std::uint32_t) {
    EXPECT_EQ(token, 9u);
    char buffer[64];
    long n;
    while ((n = ::recv(server.get(), buffer, sizeof buffer, 0)) > 0)
      received.append(buffer, static_cast<std::size_t>(n));
    if (n == 0) hung_up = true;
    if (received == "hello") client.reset();  // the peer closes: its FIN is reported next
  };
  recorder.done = [&] { return hung_up; };
  loop.run(recorder);
  EXPECT_EQ(received, "hello");
  EXPECT_TRUE(hung_up);
  loop.forget(server.get());
}

INSTANTIATE_TEST_SUITE_P(Backends, EventLoopTest,
                         ::testing::Values(IoKind::epoll, IoKind::io_uring),
                         [](const ::testing::TestParamInfo<IoKind>& info) {
                           return std::string(io_kind_name(info.param));
                         });

}  // namespace
}  // namespace hibiki::net

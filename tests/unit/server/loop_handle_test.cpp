// Per-loop hooks (Server::loop, LoopHandle): descriptors, timers and tasks run on the loop they
// were given to, and each loop waits for its own work before it stops. Also built with
// ThreadSanitizer.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "hibiki/server.hpp"
#include "running_server.hpp"
#include "test_io.hpp"

namespace hibiki {
namespace {

using testing::RunningServer;

template <typename Predicate>
bool eventually(Predicate done) {
  for (int i = 0; i < 300; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST(LoopHandle, each_loop_runs_its_own_tasks_timers_and_descriptors) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  ASSERT_EQ(server.loop_count(), 2u);
  EXPECT_FALSE(server.current_loop().has_value());  // the test's thread runs no loop
  EXPECT_EQ(server.loop(1).index(), 1u);
  RunningServer running(server);

  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::atomic<int> task_loop{-1};
  std::atomic<int> timer_loop{-1};
  std::atomic<int> watch_loop{-1};
  std::atomic<bool> watching{false};
  const LoopHandle second = server.loop(1);
  ASSERT_TRUE(second.dispatch([&] {
    task_loop = static_cast<int>(server.current_loop()->index());
    second.set_timer(20, [&] { timer_loop = static_cast<int>(server.current_loop()->index()); });
    // A timer cancelled on its own loop never runs.
    second.cancel_timer(second.set_timer(10, [&] { timer_loop = 99; }));
    second.watch_descriptor(fd, LoopHandle::kReadable, [&](std::uint32_t ready) {
      EXPECT_TRUE(ready & LoopHandle::kReadable);
      std::uint64_t value = 0;
      EXPECT_EQ(::read(fd, &value, sizeof value), 8);
      watch_loop = static_cast<int>(server.current_loop()->index());
      second.unwatch_descriptor(fd);
    });
    watching = true;
  }));
  ASSERT_TRUE(eventually([&] { return watching.load(); }));
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(fd, &one, sizeof one), 8);
  ASSERT_TRUE(eventually([&] { return watch_loop.load() != -1 && timer_loop.load() != -1; }));
  EXPECT_EQ(task_loop.load(), 1);
  EXPECT_EQ(timer_loop.load(), 1);
  EXPECT_EQ(watch_loop.load(), 1);
  ::close(fd);
}

TEST(LoopHandle, a_loop_keeps_running_while_its_own_work_is_busy) {
  ServerOptions options = testing::loopback_options(2);
  options.shutdown_timeout_ms = 5000;
  Server server(testing::on_test_io(options));
  std::atomic<bool> busy{true};
  std::atomic<int> checked_on{-1};
  server.loop(1).finish_before_stopping([&] {
    checked_on = static_cast<int>(server.current_loop()->index());
    return busy.load();
  });
  server.listen();
  std::atomic<bool> returned{false};
  std::thread thread([&] {
    server.run();
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server.stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(returned.load());  // loop 1 waits for its work
  EXPECT_EQ(checked_on.load(), 1);
  busy = false;
  EXPECT_TRUE(eventually([&] { return returned.load(); }));
  thread.join();
}

}  // namespace
}  // namespace hibiki

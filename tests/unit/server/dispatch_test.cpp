// Work handed between threads and loops (Server::dispatch) and topic activity
// (Server::watch_topics): where a task runs, in which order with publishes, and which topic
// changes a watcher hears. Also built with ThreadSanitizer (scripts/build.sh tsan).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hibiki/server.hpp"
#include "running_server.hpp"
#include "test_client.hpp"
#include "test_io.hpp"

namespace hibiki {
namespace {

using protocol::Opcode;
using testing::RunningServer;
using testing::TestClient;

// Waits for a value set by another thread.
template <typename T>
class Mailbox {
 public:
  void put(T value) {
    const std::lock_guard lock(mutex_);
    values_.push_back(std::move(value));
    ready_.notify_all();
  }
  std::vector<T> wait_for(std::size_t count, int timeout_ms = 3000) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                    [&] { return values_.size() >= count; });
    return values_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<T> values_;
};

// Connections record the thread their handlers run on and are kept for the test to use.
struct Opened {
  std::mutex mutex;
  std::vector<std::pair<WebSocket, std::thread::id>> sockets;
};

void mount_recorder(Server& server, Opened& opened) {
  server.ws("/", {.on_open = [&opened](WebSocket ws) {
              {
                const std::lock_guard lock(opened.mutex);
                opened.sockets.emplace_back(ws, std::this_thread::get_id());
              }
              ws.subscribe("all");
              ws.send("ready");
            }});
}

std::unique_ptr<TestClient> connect(std::uint16_t port) {
  auto client = std::make_unique<TestClient>(port);
  EXPECT_NE(client->handshake().find("HTTP/1.1 101"), std::string::npos);
  auto ready = client->next_frame();
  EXPECT_TRUE(ready && ready->payload == "ready");
  return client;
}

TEST(Dispatch, a_task_from_another_thread_runs_on_loop_zero) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  Opened opened;
  mount_recorder(server, opened);
  Mailbox<std::thread::id> ran_on;
  std::thread::id loop_zero;
  // A task dispatched before run() waits for loop 0's first turn.
  ASSERT_TRUE(server.dispatch([&] { loop_zero = std::this_thread::get_id(); }));
  RunningServer running(server);
  ASSERT_TRUE(server.dispatch([&] { ran_on.put(std::this_thread::get_id()); }));
  const auto seen = ran_on.wait_for(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], loop_zero);
  EXPECT_NE(seen[0], std::this_thread::get_id());
}

TEST(Dispatch, a_task_for_a_connection_runs_on_its_loop_in_order_with_publishes) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  Opened opened;
  mount_recorder(server, opened);
  RunningServer running(server);
  // Enough connections that both loops have some; the kernel spreads them.
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 24; ++i)
    clients.push_back(connect(running.port()));

  Mailbox<bool> checked;
  std::vector<std::pair<WebSocket, std::thread::id>> sockets;
  {
    const std::lock_guard lock(opened.mutex);
    sockets = opened.sockets;
  }
  ASSERT_EQ(sockets.size(), clients.size());
  // From loop 0: publish 1, send 2 to every connection through its own loop, publish 3.
  ASSERT_TRUE(server.dispatch([&] {
    server.publish("all", "1");
    for (auto& [ws, thread] : sockets) {
      server.dispatch(ws, [&checked, thread = thread](WebSocket target) {
        checked.put(std::this_thread::get_id() == thread);
        target.send("2");
      });
    }
    server.publish("all", "3");
  }));
  const auto on_own_loop = checked.wait_for(sockets.size());
  ASSERT_EQ(on_own_loop.size(), sockets.size());
  for (bool same : on_own_loop)
    EXPECT_TRUE(same) << "a task ran on another loop than its connection's";
  for (std::size_t c = 0; c < clients.size(); ++c) {
    for (const char* expected : {"1", "2", "3"}) {
      auto frame = clients[c]->next_frame();
      ASSERT_TRUE(frame) << "client " << c;
      EXPECT_EQ(frame->payload, expected) << "client " << c;
    }
  }
}

TEST(Dispatch, a_task_for_a_closed_connection_does_not_run) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  Opened opened;
  std::atomic<int> closed{0};
  server.ws("/", {.on_open =
                      [&opened](WebSocket ws) {
                        const std::lock_guard lock(opened.mutex);
                        opened.sockets.emplace_back(ws, std::this_thread::get_id());
                        ws.send("ready");
                      },
                  .on_close = [&closed](WebSocket, std::uint16_t,
                                        std::string_view) { closed.fetch_add(1); }});
  RunningServer running(server);
  { auto client = connect(running.port()); }  // the client goes away
  for (int i = 0; i < 200 && closed.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(closed.load(), 1);
  WebSocket gone;
  {
    const std::lock_guard lock(opened.mutex);
    gone = opened.sockets.at(0).first;
  }
  std::atomic<bool> ran{false};
  server.dispatch(gone, [&ran](WebSocket) { ran = true; });
  // A later task on loop 0 and one more turn of every loop: the first had its chance.
  Mailbox<bool> turned;
  server.dispatch([&] { turned.put(true); });
  ASSERT_EQ(turned.wait_for(1).size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(ran.load());
}

TEST(Dispatch, a_task_that_publishes_keeps_earlier_posts_first) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  Opened opened;
  mount_recorder(server, opened);
  RunningServer running(server);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 8; ++i)
    clients.push_back(connect(running.port()));
  // From this thread, in order: publish a, a task on loop 0 that publishes b, publish c. The
  // task's publish must not pull c ahead of it on loop 0, nor lose or repeat anything.
  for (int round = 0; round < 50; ++round) {
    const std::string n = std::to_string(round);
    server.publish("all", "a" + n);
    server.dispatch([&server, n] { server.publish("all", "b" + n); });
    server.publish("all", "c" + n);
  }
  for (std::size_t c = 0; c < clients.size(); ++c) {
    std::vector<std::string> a_then_c;
    int b_seen = 0;
    for (int i = 0; i < 150; ++i) {
      auto frame = clients[c]->next_frame();
      ASSERT_TRUE(frame) << "client " << c << " after " << i;
      if (frame->payload[0] == 'b') {
        ++b_seen;
      } else {
        a_then_c.push_back(frame->payload);
      }
    }
    EXPECT_EQ(b_seen, 50);
    for (int round = 0; round < 50; ++round) {
      EXPECT_EQ(a_then_c[2 * round], "a" + std::to_string(round));
      EXPECT_EQ(a_then_c[2 * round + 1], "c" + std::to_string(round));
    }
  }
}

TEST(WatchTopics, hears_the_first_subscriber_and_the_last_leaving_across_loops) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  Mailbox<std::string> changes;
  std::thread::id watcher_thread;
  std::atomic<bool> wrong_thread{false};
  server.dispatch([&] { watcher_thread = std::this_thread::get_id(); });
  server.watch_topics([&](std::string_view topic, bool has_subscribers) {
    if (std::this_thread::get_id() != watcher_thread) wrong_thread = true;
    changes.put(std::string(has_subscribers ? "+" : "-") + std::string(topic));
  });
  server.ws("/", {.on_open = [](WebSocket ws) { ws.send("ready"); },
                  .on_message =
                      [](WebSocket ws, std::string_view message, MessageKind) {
                        if (message.starts_with("sub:")) ws.subscribe(message.substr(4));
                        if (message.starts_with("unsub:")) ws.unsubscribe(message.substr(6));
                        ws.send("ok");
                      }});
  RunningServer running(server);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 16; ++i)
    clients.push_back(connect(running.port()));
  auto command = [&](std::size_t c, const std::string& text) {
    clients[c]->send(Opcode::text, text);
    auto ok = clients[c]->next_frame();
    ASSERT_TRUE(ok && ok->payload == "ok");
  };
  for (std::size_t c = 0; c < clients.size(); ++c)
    command(c, "sub:room");
  command(0, "sub:other");
  command(0, "unsub:other");
  for (std::size_t c = 1; c < clients.size(); ++c)
    command(c, "unsub:room");
  clients[0].reset();  // the last subscriber of "room" goes by closing
  const auto seen = changes.wait_for(4);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // nothing more comes
  const auto all = changes.wait_for(4, 0);
  EXPECT_EQ(all, (std::vector<std::string>{"+room", "+other", "-other", "-room"}));
  EXPECT_FALSE(wrong_thread.load());
}

}  // namespace
}  // namespace hibiki

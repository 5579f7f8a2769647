// Several loops behind one port (ServerOptions::threads): connections spread over them, and a
// publish on any loop reaches every subscriber on every loop exactly once, in order per
// publisher. Also built with ThreadSanitizer (scripts/build.sh tsan).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hibiki/server.hpp"
#include "running_server.hpp"
#include "test_client.hpp"
#include "test_io.hpp"

namespace hibiki {
namespace {

using protocol::Opcode;
using testing::TestClient;

using testing::RunningServer;

// Which thread each connection's handlers ran on.
struct LoopsSeen {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  void note() {
    const std::lock_guard lock(mutex);
    threads.insert(std::this_thread::get_id());
  }
  std::size_t count() {
    const std::lock_guard lock(mutex);
    return threads.size();
  }
};

// Every client subscribes to "all"; a text "pub:<x>" is published to "all" by whoever got it.
void mount_fan_out(Server& server, LoopsSeen& seen) {
  server.ws("/", {.on_open =
                      [&seen](WebSocket ws) {
                        seen.note();
                        ws.subscribe("all");
                        ws.send("ready");
                      },
                  .on_message =
                      [&server](WebSocket, std::string_view message, MessageKind kind) {
                        if (message.starts_with("pub:")) server.publish("all", message, kind);
                      }});
}

std::vector<std::unique_ptr<TestClient>> connect_clients(std::uint16_t port, int count) {
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < count; ++i) {
    auto client = std::make_unique<TestClient>(port);
    EXPECT_NE(client->handshake().find("HTTP/1.1 101"), std::string::npos);
    auto ready = client->next_frame();
    EXPECT_TRUE(ready && ready->payload == "ready");
    clients.push_back(std::move(client));
  }
  return clients;
}

TEST(MultiLoop, connections_spread_over_the_loops) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  LoopsSeen seen;
  mount_fan_out(server, seen);
  RunningServer running(server);
  // The kernel hashes each new connection to a listener: 40 all landing on one of two loops
  // would happen once in 2^39 runs.
  auto clients = connect_clients(running.port(), 40);
  EXPECT_EQ(seen.count(), 2u);
}

TEST(MultiLoop, publish_reaches_every_loop_once_and_in_order_per_publisher) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  LoopsSeen seen;
  mount_fan_out(server, seen);
  RunningServer running(server);
  auto clients = connect_clients(running.port(), 24);
  ASSERT_EQ(seen.count(), 2u);

  // Two publishers, each on whatever loop it landed on, interleaving their messages.
  constexpr int kPerPublisher = 150;
  std::thread second([&] {
    for (int i = 0; i < kPerPublisher; ++i)
      clients[1]->send(Opcode::text, "pub:b" + std::to_string(i));
  });
  for (int i = 0; i < kPerPublisher; ++i)
    clients[0]->send(Opcode::text, "pub:a" + std::to_string(i));
  second.join();

  for (std::size_t c = 0; c < clients.size(); ++c) {
    int next_a = 0;
    int next_b = 0;
    for (int received = 0; received < 2 * kPerPublisher; ++received) {
      auto frame = clients[c]->next_frame(5000);
      ASSERT_TRUE(frame) << "client " << c << " got " << received << " messages";
      ASSERT_EQ(frame->opcode, Opcode::text);
      const std::string& text = frame->payload;
      ASSERT_GE(text.size(), 6u) << text;
      const int n = std::stoi(text.substr(5));
      if (text[4] == 'a') {
        ASSERT_EQ(n, next_a++) << "client " << c << ": publisher a out of order";
      } else {
        ASSERT_EQ(n, next_b++) << "client " << c << ": publisher b out of order";
      }
    }
    EXPECT_EQ(next_a, kPerPublisher);
    EXPECT_EQ(next_b, kPerPublisher);
    // Exactly once: nothing more arrives.
    EXPECT_FALSE(clients[c]->next_frame(50)) << "client " << c << " got a duplicate";
  }
}

TEST(MultiLoop, publish_from_a_thread_outside_the_loops_reaches_every_loop) {
  Server server(testing::on_test_io(testing::loopback_options(2)));
  LoopsSeen seen;
  mount_fan_out(server, seen);
  RunningServer running(server);
  auto clients = connect_clients(running.port(), 16);
  for (int i = 0; i < 20; ++i)
    server.publish("all", "outside:" + std::to_string(i));
  for (auto& client : clients) {
    for (int i = 0; i < 20; ++i) {
      auto frame = client->next_frame();
      ASSERT_TRUE(frame);
      EXPECT_EQ(frame->payload, "outside:" + std::to_string(i));
    }
  }
}

TEST(MultiLoop, limits_and_counters_span_the_loops) {
  ServerOptions options = testing::loopback_options(2);
  options.max_connections_per_ip = 10;
  Server server(testing::on_test_io(options));
  LoopsSeen seen;
  mount_fan_out(server, seen);
  server.get("/count", [&server](const HttpRequestView&, HttpResponse& response) {
    const ServerStats stats = server.stats();
    response.body = std::to_string(stats.connections_open) + " " +
                    std::to_string(stats.websocket_upgrades) + " " +
                    std::to_string(stats.refused_max_connections_per_ip);
  });
  RunningServer running(server);
  auto clients = connect_clients(running.port(), 10);
  int refused = 0;
  for (int i = 0; i < 4; ++i) {
    TestClient extra(running.port());
    if (extra.handshake().find("HTTP/1.1 503") != std::string::npos) ++refused;
  }
  EXPECT_EQ(refused, 4);
  clients.pop_back();  // one slot back for the HTTP request below
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both loops turn and count
  TestClient http(running.port());
  http.write("GET /count HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string response = http.read_until("\r\n\r\n");
  std::string body = response.substr(response.find("\r\n\r\n") + 4);
  if (body.size() < 6) body += http.read_until(" 4");
  // 9 clients + this request open; 10 upgrades; 4 refused over the per-IP cap.
  EXPECT_EQ(body.substr(0, 9), "10 10 4") << response;
}

}  // namespace
}  // namespace hibiki

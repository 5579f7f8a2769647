// hibiki::ClusterBus against a real redis-server: topics across nodes exactly once and in
// order, one Redis subscription per topic per node, pipelined publishes, the link lost and
// regained (Redis killed, unreachable at start, frozen without FIN or RST), commands.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../server/running_server.hpp"
#include "../server/test_client.hpp"
#include "hibiki/cluster.hpp"
#include "hibiki/server.hpp"
#include "redis_process.hpp"

namespace hibiki {
namespace {

using protocol::Opcode;
using testing::RedisProcess;
using testing::RunningServer;
using testing::TestClient;

bool wait_until(const std::function<bool()>& condition, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

ClusterOptions fast_options(const RedisProcess& redis) {
  return ClusterOptions{.redis_url = redis.url(),
                        .prefix = "test",
                        .connect_timeout_ms = 1000,
                        .probe_interval_ms = 200,
                        .probe_timeout_ms = 600,
                        .reconnect_min_ms = 50,
                        .reconnect_max_ms = 300};
}

// One server with a bus: clients subscribe to "all"; what they send is published to "all".
struct Node {
  Node(const ClusterOptions& options, std::uint32_t threads)
      : server({.threads = threads,
                .host = "127.0.0.1",
                .port = 0,
                .shutdown_timeout_ms = 300,
                .log_level = LogLevel::off}),
        bus(server, options) {
    server.ws("/", {.on_open =
                        [](WebSocket ws) {
                          ws.subscribe("all");
                          ws.send("ready");
                        },
                    .on_message =
                        [this](WebSocket ws, std::string_view message, MessageKind kind) {
                          if (!bus.publish("all", message, kind)) ws.send("refused");
                        }});
    bus.start();
    running = std::make_unique<RunningServer>(server);
  }
  ~Node() { running.reset(); }

  std::unique_ptr<TestClient> connect() {
    auto client = std::make_unique<TestClient>(running->port());
    EXPECT_NE(client->handshake().find("HTTP/1.1 101"), std::string::npos);
    auto ready = client->next_frame();
    EXPECT_TRUE(ready && ready->payload == "ready");
    return client;
  }
  // Runs `task` on loop 0 and waits for it.
  void on_loop(const std::function<void()>& task) {
    std::atomic<bool> done{false};
    server.dispatch([&] {
      task();
      done = true;
    });
    ASSERT_TRUE(wait_until([&] { return done.load(); }));
  }

  Server server;
  ClusterBus bus;
  std::unique_ptr<RunningServer> running;
};

int subscribers_of(const RedisProcess& redis, const std::string& channel) {
  const std::string output = redis.cli("PUBSUB NUMSUB " + channel);
  const auto newline = output.find('\n');
  return newline == std::string::npos ? -1 : std::stoi(output.substr(newline + 1));
}

TEST(ClusterBus, topics_cross_nodes_exactly_once_in_each_publishers_order) {
  RedisProcess redis;
  Node a(fast_options(redis), 2);
  Node b(fast_options(redis), 1);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 6; ++i)
    clients.push_back((i % 2 == 0 ? a : b).connect());
  // Each node holds one subscription, whatever its number of subscribers.
  ASSERT_TRUE(wait_until([&] { return subscribers_of(redis, "test:topic:all") == 2; }));

  constexpr int kEach = 200;
  std::thread from_b([&] {
    for (int i = 0; i < kEach; ++i)
      clients[1]->send(Opcode::text, "b" + std::to_string(i));
  });
  for (int i = 0; i < kEach; ++i)
    clients[0]->send(Opcode::text, "a" + std::to_string(i));
  from_b.join();

  for (std::size_t c = 0; c < clients.size(); ++c) {
    int next_a = 0;
    int next_b = 0;
    for (int received = 0; received < 2 * kEach; ++received) {
      auto frame = clients[c]->next_frame(5000);
      ASSERT_TRUE(frame) << "client " << c << " after " << received;
      const std::string& text = frame->payload;
      const int n = std::stoi(text.substr(1));
      if (text[0] == 'a') {
        ASSERT_EQ(n, next_a++) << "client " << c;
      } else {
        ASSERT_EQ(text[0], 'b') << text;
        ASSERT_EQ(n, next_b++) << "client " << c;
      }
    }
    EXPECT_FALSE(clients[c]->next_frame(100)) << "client " << c << " got a duplicate";
  }
  EXPECT_EQ(a.bus.stats().published + b.bus.stats().published, 2u * kEach);
}

TEST(ClusterBus, binary_messages_stay_binary) {
  RedisProcess redis;
  Node a(fast_options(redis), 1);
  Node b(fast_options(redis), 1);
  auto sender = a.connect();
  auto receiver = b.connect();
  ASSERT_TRUE(wait_until([&] { return subscribers_of(redis, "test:topic:all") == 2; }));
  const std::string bytes("\x00\xff\x01tail", 7);
  sender->send(Opcode::binary, bytes);
  auto frame = receiver->next_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, Opcode::binary);
  EXPECT_EQ(frame->payload, bytes);
}

TEST(ClusterBus, a_node_drops_the_subscription_when_its_last_subscriber_leaves) {
  RedisProcess redis;
  Node a(fast_options(redis), 2);
  Node b(fast_options(redis), 2);
  auto on_a = a.connect();
  std::vector<std::unique_ptr<TestClient>> on_b;
  for (int i = 0; i < 5; ++i)
    on_b.push_back(b.connect());
  ASSERT_TRUE(wait_until([&] { return subscribers_of(redis, "test:topic:all") == 2; }));
  on_b.resize(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(subscribers_of(redis, "test:topic:all"), 2);  // one subscriber left on b
  on_b.clear();
  EXPECT_TRUE(wait_until([&] { return subscribers_of(redis, "test:topic:all") == 1; }));
  EXPECT_TRUE(wait_until([&] { return b.bus.stats().subscriptions == 0; }));
  EXPECT_EQ(a.bus.stats().subscriptions, 1u);
}

TEST(ClusterBus, publishes_of_one_turn_leave_in_one_pipeline) {
  RedisProcess redis;
  Node a(fast_options(redis), 1);
  ASSERT_TRUE(wait_until([&] { return a.bus.link_up(); }));
  auto reads = [&] {
    const std::string info = redis.cli("INFO stats");
    const auto at = info.find("total_reads_processed:");
    return std::stoll(info.substr(at + 22));
  };
  const long long before = reads();
  constexpr int kMessages = 2000;
  int accepted = 0;
  a.on_loop([&] {
    for (int i = 0; i < kMessages; ++i)
      accepted += a.bus.publish("nobody", "m" + std::to_string(i)) ? 1 : 0;
  });
  EXPECT_EQ(accepted, kMessages);
  ASSERT_TRUE(wait_until([&] { return a.bus.stats().commands_in_flight == 0; }));
  // One round trip each would be 2,000 reads by Redis; a pipeline is a handful of 16 KiB reads
  // (the probe and redis-cli add a few more).
  EXPECT_LT(reads() - before, 100);
}

TEST(ClusterBus, reconnects_and_resubscribes_after_redis_is_killed_and_restarted) {
  RedisProcess redis;
  Node a(fast_options(redis), 2);
  Node b(fast_options(redis), 1);
  auto on_a = a.connect();
  auto on_b = b.connect();
  ASSERT_TRUE(wait_until([&] { return subscribers_of(redis, "test:topic:all") == 2; }));
  redis.kill_now();
  ASSERT_TRUE(wait_until([&] { return !a.bus.link_up() && !b.bus.link_up(); }));
  EXPECT_FALSE(a.bus.link_status().empty());
  // While it is down, a publish is refused, never silently lost.
  on_a->send(Opcode::text, "while down");
  auto refused = on_a->next_frame();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->payload, "refused");
  EXPECT_GE(a.bus.stats().publish_refused, 1u);

  redis.start();
  ASSERT_TRUE(wait_until([&] { return subscribers_of(redis, "test:topic:all") == 2; }));
  EXPECT_TRUE(a.bus.link_up());
  EXPECT_EQ(a.bus.link_status(), "");
  on_b->send(Opcode::text, "back");
  for (TestClient* client : {on_a.get(), on_b.get()}) {
    auto frame = client->next_frame();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->payload, "back");
  }
  const ClusterStats stats = a.bus.stats();
  EXPECT_EQ(stats.reconnects, 1u);
  EXPECT_EQ(stats.link_failures, 1u);
  EXPECT_TRUE(stats.link_up);
}

TEST(ClusterBus, starts_while_redis_is_unreachable_and_connects_when_it_comes) {
  RedisProcess redis;
  redis.kill_now();
  Node a(fast_options(redis), 1);
  ASSERT_TRUE(wait_until([&] {
    return a.bus.link_status().find("Connection refused") != std::string::npos;
  })) << a.bus.link_status();
  EXPECT_FALSE(a.bus.link_up());
  redis.start();
  EXPECT_TRUE(wait_until([&] { return a.bus.link_up(); }));
  EXPECT_EQ(a.bus.stats().reconnects, 0u);  // the first link is not a reconnect
}

TEST(ClusterBus, a_silent_link_is_noticed_by_the_probe_and_healed) {
  RedisProcess redis;
  Node a(fast_options(redis), 1);
  ASSERT_TRUE(wait_until([&] { return a.bus.link_up(); }));
  // SIGSTOP: the socket stays open and nothing answers, as behind a cut cable.
  redis.freeze();
  const auto frozen_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return !a.bus.link_up(); }, 3000));
  const auto noticed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - frozen_at)
                              .count();
  EXPECT_GE(noticed_ms, 500);   // not before the probe timeout (600 ms)
  EXPECT_LE(noticed_ms, 1500);  // within timeout + interval + scheduling
  EXPECT_NE(a.bus.link_status().find("probe"), std::string::npos) << a.bus.link_status();
  redis.thaw();
  EXPECT_TRUE(wait_until([&] { return a.bus.link_up(); }));
}

TEST(ClusterBus, commands_get_their_reply_or_nullptr_when_the_link_fails_first) {
  RedisProcess redis;
  Node a(fast_options(redis), 1);
  ASSERT_TRUE(wait_until([&] { return a.bus.link_up(); }));
  std::atomic<int> replies{0};
  std::string value;
  a.on_loop([&] {
    a.bus.command({"SET", "test:k", "v\r\n1"}, [&](const RedisReply* reply) {
      EXPECT_TRUE(reply && reply->type == RedisReply::Type::status) << (reply ? reply->text : "");
      ++replies;
    });
    a.bus.command({"GET", "test:k"}, [&](const RedisReply* reply) {
      if (reply) value = reply->text;
      ++replies;
    });
    a.bus.command({"NOSUCHCOMMAND"}, [&](const RedisReply* reply) {
      EXPECT_TRUE(reply && reply->is_error());
      ++replies;
    });
  });
  ASSERT_TRUE(wait_until([&] { return replies.load() == 3; }));
  EXPECT_EQ(value, "v\r\n1");

  redis.freeze();
  std::atomic<bool> got_nullptr{false};
  a.on_loop([&] {
    EXPECT_TRUE(a.bus.command({"GET", "test:k"},
                              [&](const RedisReply* reply) { got_nullptr = reply == nullptr; }));
  });
  EXPECT_TRUE(wait_until([&] { return got_nullptr.load(); }, 3000));
  a.on_loop([&] { EXPECT_FALSE(a.bus.command({"PING"}, {})); });  // refused while down
  redis.thaw();
}

TEST(ClusterBus, channels_of_the_application_hear_their_state) {
  RedisProcess redis;
  Node a(fast_options(redis), 1);
  std::atomic<int> up{0};
  std::atomic<int> down{0};
  std::vector<std::string> heard;
  std::mutex heard_mutex;
  a.on_loop([&] {
    a.bus.subscribe_channel("test:custom",
                            {.on_message =
                                 [&](std::string_view payload) {
                                   const std::lock_guard lock(heard_mutex);
                                   heard.emplace_back(payload);
                                 },
                             .on_state = [&](bool subscribed) { ++(subscribed ? up : down); }});
  });
  ASSERT_TRUE(wait_until([&] { return up.load() == 1; }));
  redis.cli("PUBLISH test:custom hello");
  ASSERT_TRUE(wait_until([&] {
    const std::lock_guard lock(heard_mutex);
    return heard.size() == 1;
  }));
  redis.kill_now();
  ASSERT_TRUE(wait_until([&] { return down.load() == 1; }));
  redis.start();
  ASSERT_TRUE(wait_until([&] { return up.load() == 2; }));
  a.on_loop([&] { a.bus.unsubscribe_channel("test:custom"); });
  EXPECT_TRUE(wait_until([&] { return subscribers_of(redis, "test:custom") == 0; }));
}

TEST(ClusterBus, metrics_text_names_every_counter) {
  const std::string text = metrics_text(ClusterStats{.link_up = true, .published = 5});
  EXPECT_NE(text.find("hibiki_cluster_link_up 1\n"), std::string::npos);
  EXPECT_NE(text.find("hibiki_cluster_published_total 5\n"), std::string::npos);
  for (const char* name :
       {"publish_refused_total", "received_total", "reconnects_total", "link_failures_total",
        "commands_total", "commands_in_flight", "subscriptions"}) {
    EXPECT_NE(text.find(std::string("# TYPE hibiki_cluster_") + name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace hibiki

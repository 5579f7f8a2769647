// The parts of the public API an integration builds on: upgrades answered later, HTTP routes
// with bodies, extra listeners, descriptors and timers on the loop, the per-frame limit.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "hibiki/server.hpp"
#include "running_server.hpp"
#include "test_client.hpp"
#include "test_io.hpp"

namespace hibiki {
namespace {

using protocol::Opcode;
using testing::RunningServer;
using testing::TestClient;

ServerOptions loopback() {
  return ServerOptions{.host = "127.0.0.1", .port = 0, .log_level = LogLevel::off};
}

TEST(ApplicationHooks, an_upgrade_accepted_later_opens_and_keeps_early_frames) {
  Server server(testing::on_test_io(loopback()));
  std::vector<PendingUpgrade> waiting;
  std::atomic<std::uint64_t> pending_id{0};
  std::atomic<std::uint64_t> opened_id{0};
  server.ws("/", {.on_upgrade =
                      [&](PendingUpgrade upgrade, const HttpRequestView& request) {
                        EXPECT_EQ(request.header("X-Token").value_or(""), "abc");
                        pending_id = upgrade.id();
                        // Answered 100 ms later from a timer on the loop.
                        server.set_timer(100, [upgrade] {
                          EXPECT_TRUE(upgrade.is_pending());
                          EXPECT_TRUE(upgrade.accept("b"));
                          EXPECT_FALSE(upgrade.accept("b"));  // only once
                        });
                      },
                  .on_open = [&](WebSocket ws) { opened_id = ws.id(); },
                  .on_message = [](WebSocket ws, std::string_view message,
                                   MessageKind kind) { ws.send(message, kind); }});
  RunningServer running(server);
  TestClient client(running.port());
  const auto started = std::chrono::steady_clock::now();
  // The request and a frame right behind it, before any answer.
  client.write(
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Protocol: a, b\r\nX-Token: abc\r\n\r\n");
  client.send(Opcode::text, "early");
  const std::string head = client.read_head();
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(90));
  EXPECT_NE(head.find("HTTP/1.1 101"), std::string::npos) << head;
  EXPECT_NE(head.find("Sec-WebSocket-Protocol: b\r\n"), std::string::npos) << head;
  auto echo = client.next_frame();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->payload, "early");
  EXPECT_EQ(opened_id.load(), pending_id.load());
}

TEST(ApplicationHooks, a_rejected_upgrade_gets_the_status_body_and_headers) {
  Server server(testing::on_test_io(loopback()));
  server.ws("/", {.on_upgrade = [&](PendingUpgrade upgrade, const HttpRequestView&) {
              server.set_timer(0, [upgrade] {
                EXPECT_TRUE(upgrade.reject(401, "no\n", {{"WWW-Authenticate", "Bearer"}}));
                EXPECT_FALSE(upgrade.is_pending());
              });
            }});
  RunningServer running(server);
  TestClient client(running.port());
  const std::string response = client.handshake();
  EXPECT_NE(response.find("HTTP/1.1 401 Unauthorized\r\n"), std::string::npos) << response;
  EXPECT_NE(response.find("WWW-Authenticate: Bearer\r\n"), std::string::npos) << response;
  EXPECT_TRUE(client.wait_eof());
}

TEST(ApplicationHooks, an_unanswered_upgrade_gets_503_at_the_handshake_timeout) {
  ServerOptions options = loopback();
  options.handshake_timeout_ms = 300;
  Server server(testing::on_test_io(options));
  server.ws("/", {.on_upgrade = [](PendingUpgrade, const HttpRequestView&) {}});
  RunningServer running(server);
  TestClient client(running.port());
  EXPECT_NE(client.handshake().find("HTTP/1.1 503"), std::string::npos);
}

TEST(ApplicationHooks, routes_take_methods_and_bodies_and_listeners_tell_their_port) {
  Server server(testing::on_test_io(loopback()));
  server.route("POST", "*", [](const HttpRequestView& request, HttpResponse& response) {
    response.body = std::string(request.method()) + " " + std::string(request.path()) + " " +
                    std::to_string(request.local_port()) + " " + std::string(request.body());
  });
  server.ws("/", {});
  server.listen();
  const std::uint16_t second = server.listen("127.0.0.1", 0);
  std::thread thread([&] { server.run(); });
  {
    TestClient client(second);
    // The body arrives in two pieces.
    client.write("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    client.write(" world");
    const std::string response = client.read_until("hello world");
    EXPECT_NE(response.find("POST /x " + std::to_string(second) + " hello world"),
              std::string::npos)
        << response;
    client.write("DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(client.read_until("\r\n\r\n").find("HTTP/1.1 405"), std::string::npos);
  }
  {
    TestClient client(server.port());
    client.write("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    EXPECT_NE(client.read_until("\r\n\r\n").find("HTTP/1.1 411"), std::string::npos);
  }
  {
    TestClient client(server.port());
    client.write("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
    EXPECT_NE(client.read_until("\r\n\r\n").find("HTTP/1.1 413"), std::string::npos);
  }
  server.stop();
  thread.join();
}

TEST(ApplicationHooks, watched_descriptors_and_timers_run_on_the_loop) {
  Server server(testing::on_test_io(loopback()));
  server.ws("/", {});
  server.listen();
  const int event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(event_fd, 0);
  std::atomic<int> readable{0};
  std::atomic<bool> cancelled_ran{false};
  std::atomic<int> timer_order{0};
  std::atomic<int> first{0};
  std::atomic<int> second{0};
  server.set_timer(0, [&] {
    server.watch_descriptor(event_fd, Server::kReadable, [&](std::uint32_t ready) {
      EXPECT_TRUE(ready & Server::kReadable);
      std::uint64_t value = 0;
      [[maybe_unused]] ssize_t n = ::read(event_fd, &value, sizeof value);
      if (++readable == 2) server.unwatch_descriptor(event_fd);
    });
    const std::uint64_t doomed = server.set_timer(20, [&] { cancelled_ran = true; });
    server.set_timer(40, [&] { second = ++timer_order; });
    server.set_timer(10, [&] { first = ++timer_order; });
    server.cancel_timer(doomed);
  });
  std::thread thread([&] { server.run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::uint64_t one = 1;
  for (int i = 0; i < 3; ++i) {
    [[maybe_unused]] ssize_t n = ::write(event_fd, &one, sizeof one);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  server.stop();
  thread.join();
  ::close(event_fd);
  EXPECT_EQ(readable.load(), 2);  // the third write came after unwatch
  EXPECT_FALSE(cancelled_ran.load());
  EXPECT_EQ(first.load(), 1);
  EXPECT_EQ(second.load(), 2);
}

TEST(ApplicationHooks, a_timer_set_in_on_close_runs_without_waiting_for_a_timer_tick) {
  // on_close runs after the loop has worked out how long to sleep; a timer it sets (a gateway's
  // $disconnect call does) must still shorten that sleep instead of waiting for the 250 ms tick.
  Server server(testing::on_test_io(loopback()));
  std::atomic<std::int64_t> fired_at_us{0};
  server.ws("/", {.on_close = [&](WebSocket, std::uint16_t, std::string_view) {
              server.set_timer(0, [&] {
                fired_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count();
              });
            }});
  RunningServer running(server);
  auto client = std::make_unique<TestClient>(running.port());
  client->handshake();
  const auto closed_at = std::chrono::steady_clock::now();
  client.reset();  // the TCP connection drops: on_close (1006) when the server reads the EOF
  const auto deadline = closed_at + std::chrono::seconds(2);
  while (fired_at_us.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_NE(fired_at_us.load(), 0);
  const auto elapsed_us =
      fired_at_us.load() -
      std::chrono::duration_cast<std::chrono::microseconds>(closed_at.time_since_epoch()).count();
  EXPECT_LT(elapsed_us, 100'000) << "the timer ran " << elapsed_us / 1000 << " ms after the close";
}

TEST(ApplicationHooks, a_frame_over_max_frame_bytes_closes_with_1009) {
  ServerOptions options = loopback();
  options.max_frame_bytes = 1024;
  Server server(testing::on_test_io(options));
  server.ws("/", {.on_message = [](WebSocket ws, std::string_view message, MessageKind kind) {
              ws.send(message, kind);
            }});
  RunningServer running(server);
  TestClient client(running.port());
  client.handshake();
  // A 4 KiB message in 1 KiB frames is fine...
  client.send(Opcode::text, std::string(1024, 'a'), /*fin=*/false);
  client.send(Opcode::continuation, std::string(1024, 'b'), /*fin=*/false);
  client.send(Opcode::continuation, std::string(1024, 'c'), /*fin=*/false);
  client.send(Opcode::continuation, std::string(1024, 'd'));
  auto echo = client.next_frame();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->payload.size(), 4096u);
  // ...one frame of 1025 bytes is not.
  client.send(Opcode::binary, std::string(1025, 'x'));
  auto close = client.next_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, Opcode::close);
  ASSERT_GE(close->payload.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(close->payload[0]) << 8 |
                static_cast<unsigned char>(close->payload[1]),
            1009);
}

}  // namespace
}  // namespace hibiki

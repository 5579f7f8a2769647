#include "hibiki/server.hpp"
#include "test_io.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "running_server.hpp"
#include "test_client.hpp"

namespace hibiki {
namespace {

using protocol::Opcode;
using testing::TestClient;

using testing::RunningServer;

ServerOptions loopback() {
  return ServerOptions{.host = "127.0.0.1", .port = 0, .log_level = LogLevel::off};
}

TEST(Server, select_protocol_picks_among_the_offered_ones) {
  Server server(testing::on_test_io(loopback()));
  server.ws("/", {.select_protocol =
                      [](std::span<const std::string_view> offered) {
                        for (std::string_view p : offered) {
                          if (p == "chat.v2") return std::string(p);
                        }
                        return std::string();
                      },
                  .on_message = [](WebSocket ws, std::string_view,
                                   MessageKind) { ws.send(ws.protocol()); }});
  RunningServer running(server);
  TestClient client(running.port());
  const std::string head = client.handshake("/", "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n");
  EXPECT_NE(head.find("HTTP/1.1 101"), std::string::npos) << head;
  EXPECT_NE(head.find("Sec-WebSocket-Protocol: chat.v2\r\n"), std::string::npos) << head;
  client.send(Opcode::text, "which?");
  auto frame = client.next_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload, "chat.v2");
}

TEST(Server, a_protocol_the_client_did_not_offer_is_never_answered) {
  Server server(testing::on_test_io(loopback()));
  server.ws("/", {.select_protocol = [](std::span<const std::string_view>) {
              return std::string("made.up");
            }});
  RunningServer running(server);
  TestClient client(running.port());
  const std::string head = client.handshake("/", "Sec-WebSocket-Protocol: a, b\r\n");
  EXPECT_NE(head.find("HTTP/1.1 101"), std::string::npos);
  EXPECT_EQ(head.find("Sec-WebSocket-Protocol"), std::string::npos) << head;
}

TEST(Server, unknown_websocket_path_gets_404) {
  Server server(testing::on_test_io(loopback()));
  server.ws("/only", {});
  RunningServer running(server);
  TestClient client(running.port());
  EXPECT_NE(client.handshake("/elsewhere").find("HTTP/1.1 404"), std::string::npos);
}

TEST(Server, on_close_reports_the_peers_code_and_reason_once) {
  Server server(testing::on_test_io(loopback()));
  std::atomic<int> closes{0};
  std::atomic<std::uint16_t> code{0};
  std::string reason;
  server.ws("/", {.on_close = [&](WebSocket ws, std::uint16_t c, std::string_view r) {
              EXPECT_FALSE(ws.is_open());
              EXPECT_EQ(ws.send("too late"), SendStatus::closed);
              reason = std::string(r);
              code = c;
              ++closes;
            }});
  {
    RunningServer running(server);
    TestClient client(running.port());
    client.handshake();
    client.send(Opcode::close, std::string("\x0f\xa0") + "done");  // 4000 "done"
    auto reply = client.next_frame();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->opcode, Opcode::close);
    EXPECT_EQ(reply->payload, std::string("\x0f\xa0") + "done");
    EXPECT_TRUE(client.wait_eof());
  }
  EXPECT_EQ(closes.load(), 1);
  EXPECT_EQ(code.load(), 4000);
  EXPECT_EQ(reason, "done");
}

TEST(Server, stop_with_a_code_closes_every_client_with_it) {
  Server server(testing::on_test_io(loopback()));
  std::atomic<std::uint16_t> code{0};
  std::atomic<int> opens{0};
  std::string after_close;  // written on the loop, read after join()
  server.ws("/", {.on_open = [&](WebSocket) { ++opens; },
                  .on_message = [&](WebSocket, std::string_view m,
                                    MessageKind) { after_close = std::string(m); },
                  .on_close = [&](WebSocket, std::uint16_t c, std::string_view) { code = c; }});
  const std::uint16_t port = server.listen();
  std::thread thread([&] { server.run(); });
  {
    TestClient open_client(port);
    open_client.handshake();
    // Accepted, its request not sent yet: a restart lets it finish, then closes it with the code.
    TestClient late_client(port);
    while (opens.load() < 1)
      std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the loop accepts late_client
    server.stop(close_code::kServiceRestart);
    auto close = open_client.next_frame();
    ASSERT_TRUE(close);
    EXPECT_EQ(close->opcode, Opcode::close);
    EXPECT_EQ(close->payload.substr(0, 2), std::string("\x03\xf4"));  // 1012
    // Sent before this client saw the close: during a restart it still reaches the handler.
    open_client.send(Opcode::text, "typed while restarting");
    open_client.send(Opcode::close, close->payload.substr(0, 2));
    EXPECT_TRUE(open_client.wait_eof());
    EXPECT_NE(late_client.handshake().find("101 Switching Protocols"), std::string::npos);
    auto late_close = late_client.next_frame();
    ASSERT_TRUE(late_close);
    EXPECT_EQ(late_close->opcode, Opcode::close);
    EXPECT_EQ(late_close->payload.substr(0, 2), std::string("\x03\xf4"));
    late_client.send(Opcode::close, late_close->payload.substr(0, 2));
    EXPECT_TRUE(late_client.wait_eof());
  }  // both clients close: the server's drain ends
  thread.join();
  EXPECT_EQ(code.load(), close_code::kServiceRestart);
  EXPECT_EQ(opens.load(), 2);
  EXPECT_EQ(after_close, "typed while restarting");
}

TEST(Server, reuse_port_lets_a_second_single_loop_server_share_the_port) {
  ServerOptions options = loopback();
  options.reuse_port = true;
  Server first(options);
  first.get("/who", [](const HttpRequestView&, HttpResponse& r) { r.body = "first"; });
  options.port = first.listen();
  Server second(options);
  second.get("/who", [](const HttpRequestView&, HttpResponse& r) { r.body = "second"; });
  EXPECT_EQ(second.listen(), options.port);
  ServerOptions alone = loopback();
  alone.port = options.port;
  Server third(alone);  // without the option the port stays theirs
  EXPECT_THROW(third.listen(), std::system_error);
}

TEST(Server, on_close_reports_1006_when_tcp_drops_without_a_close_frame) {
  Server server(testing::on_test_io(loopback()));
  std::atomic<std::uint16_t> code{0};
  server.ws("/", {.on_close = [&](WebSocket, std::uint16_t c, std::string_view) { code = c; }});
  {
    RunningServer running(server);
    {
      TestClient client(running.port());
      client.handshake();
    }
    for (int i = 0; i < 100 && code.load() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_EQ(code.load(), 1006);
}

TEST(Server, publish_reaches_subscribers_only) {
  Server server(testing::on_test_io(loopback()));
  server.ws("/", {.on_message = [&server](WebSocket ws, std::string_view m, MessageKind) {
              if (m == "join") {
                ws.subscribe("room");
                ws.send("joined");
              } else {
                server.publish("room", m);
              }
            }});
  RunningServer running(server);
  TestClient a(running.port()), b(running.port()), outsider(running.port());
  a.handshake();
  b.handshake();
  outsider.handshake();
  for (TestClient* c : {&a, &b}) {
    c->send(Opcode::text, "join");
    ASSERT_EQ(c->next_frame()->payload, "joined");
  }
  outsider.send(Opcode::text, "hello room");
  EXPECT_EQ(a.next_frame()->payload, "hello room");
  EXPECT_EQ(b.next_frame()->payload, "hello room");
  EXPECT_FALSE(outsider.next_frame(200));
}

TEST(Server, a_stale_handle_is_harmless) {
  Server server(testing::on_test_io(loopback()));
  std::vector<WebSocket> seen;
  server.ws("/", {.on_open = [&](WebSocket ws) { seen.push_back(ws); },
                  .on_message =
                      [&](WebSocket ws, std::string_view, MessageKind) {
                        // The first connection is gone: its handle must do nothing, even though
                        // its slot now holds this connection.
                        EXPECT_EQ(seen.front().send("ghost"), SendStatus::closed);
                        EXPECT_EQ(seen.front().id(), 0u);
                        ws.send("alive");
                      }});
  RunningServer running(server);
  {
    TestClient first(running.port());
    first.handshake();
    first.send(Opcode::close, "\x03\xe8");
    first.wait_eof();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  TestClient second(running.port());
  second.handshake();
  second.send(Opcode::text, "x");
  auto frame = second.next_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload, "alive");
}

TEST(Server, plain_http_routes_keep_the_connection_alive) {
  Server server(testing::on_test_io(loopback()));
  server.get("/hello", [](const HttpRequestView& request, HttpResponse& response) {
    response.body = "hi " + std::string(request.query());
  });
  RunningServer running(server);
  TestClient client(running.port());
  client.write(
      "GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\n");
  const std::string received = client.read_until("Not Found");
  EXPECT_NE(received.find("HTTP/1.1 200 OK"), std::string::npos) << received;
  EXPECT_NE(received.find("hi x=1"), std::string::npos);
  EXPECT_NE(received.find("HTTP/1.1 404"), std::string::npos);
}

}  // namespace
}  // namespace hibiki

// TLS clients that reset their connection (SO_LINGER 0, then close) in the middle of the TLS
// handshake or while the server is sending them a large message. This process keeps SIGPIPE's
// default disposition, which kills it: the server must write to such sockets without raising
// it, survive, and keep serving. Clients keep their OpenSSL state in memory BIOs and move the
// bytes over the socket themselves (send with MSG_NOSIGNAL), so they decide when the reset
// happens and never raise SIGPIPE themselves (tls_test_client.hpp).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "hibiki/server.hpp"
#include "running_server.hpp"
#include "test_io.hpp"
#include "throwaway_certificate.hpp"
#include "tls_test_client.hpp"

namespace hibiki {
namespace {

using testing::Certificate;
using testing::make_certificate;
using testing::RunningServer;
using testing::TempDir;
using testing::TlsTestClient;

constexpr int kRounds = 25;
// Far more than the socket buffers hold: the server is still sending when the client resets.
constexpr std::size_t kLargeMessageBytes = 2u << 20;

// A small receive buffer makes a client that stops reading fill up after a few records.
class ResettingClient : public TlsTestClient {
 public:
  explicit ResettingClient(std::uint16_t port)
      : TlsTestClient(port, {.receive_buffer_bytes = 16 * 1024}) {}
};

// A TLS server on loopback: GET /open answers how many connections are open, a WebSocket on
// /large is sent kLargeMessageBytes as soon as it opens.
class TlsPeerReset : public ::testing::Test {
 protected:
  void SetUp() override {
    // The point of the test: nothing here (nor the library) makes SIGPIPE harmless.
    struct sigaction current {};
    ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &current), 0);
    ASSERT_EQ(current.sa_handler, SIG_DFL);
  }

  static ServerOptions options(const Certificate& certificate) {
    ServerOptions options = testing::loopback_options(1);
    options.tls_certificate_file = certificate.cert;
    options.tls_private_key_file = certificate.key;
    return options;
  }

  static void serve(Server& server) {
    server.route("GET", "/open", [&server](const HttpRequestView&, HttpResponse& response) {
      response.body = "open=" + std::to_string(server.stats().connections_open);
    });
    server.ws("/large", {.on_open = [](WebSocket ws) {
                ws.send(std::string(kLargeMessageBytes, 'x'), MessageKind::binary);
              }});
  }

  // True once a new client is answered and is the only connection left open (every reset one
  // was reclaimed), asked for up to 5 s.
  static bool serves_with_nothing_else_open(std::uint16_t port) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      ResettingClient probe(port);
      if (probe.connected() && probe.handshake()) {
        probe.write("GET /open HTTP/1.1\r\nHost: x\r\n\r\n");
        last = probe.read_response();
        if (last.starts_with("HTTP/1.1 200") && last.ends_with("\r\n\r\nopen=1")) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "last answer: " << last;
    return false;
  }
};

TEST_F(TlsPeerReset, clients_resetting_during_the_handshake_leave_the_server_serving) {
  TempDir dir;
  const Certificate certificate = make_certificate(dir.path(), "server");
  Server server(testing::on_test_io(options(certificate)));
  serve(server);
  RunningServer running(server);

  for (int round = 0; round < kRounds; ++round) {
    {  // before a byte of TLS
      ResettingClient client(running.port());
      ASSERT_TRUE(client.connected());
      client.reset();
    }
    {  // right after the ClientHello, while the server answers it
      ResettingClient client(running.port());
      client.send_client_hello();
      client.reset();
    }
    {  // once the server's first flight arrived, while it waits for the client's Finished
      ResettingClient client(running.port());
      client.send_client_hello();
      EXPECT_TRUE(client.wait_for_server());
      client.reset();
    }
    {  // right after the client's Finished, while the server sends its session tickets
      ResettingClient client(running.port());
      ASSERT_TRUE(client.handshake());
      client.reset();
    }
  }
  EXPECT_TRUE(serves_with_nothing_else_open(running.port()));
}

TEST_F(TlsPeerReset, clients_resetting_during_a_large_message_leave_the_server_serving) {
  TempDir dir;
  const Certificate certificate = make_certificate(dir.path(), "server");
  Server server(testing::on_test_io(options(certificate)));
  serve(server);
  RunningServer running(server);

  for (int round = 0; round < kRounds; ++round) {
    ResettingClient client(running.port());
    ASSERT_TRUE(client.handshake());
    client.write(
        "GET /large HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    // The 101 and the start of the message; the rest is still on its way when the RST comes.
    const std::string start = client.read(64 * 1024);
    ASSERT_TRUE(start.starts_with("HTTP/1.1 101")) << start.substr(0, 200);
    ASSERT_GE(start.size(), 64u * 1024);
    client.reset();
  }
  EXPECT_TRUE(serves_with_nothing_else_open(running.port()));
}

}  // namespace
}  // namespace hibiki

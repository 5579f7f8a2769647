// TLS clients that reset their connection (SO_LINGER 0, then close) in the middle of the TLS
// handshake or while the server is sending them a large message. This process keeps SIGPIPE's
// default disposition, which kills it: the server must write to such sockets without raising
// it, survive, and keep serving. Clients keep their OpenSSL state in memory BIOs and move the
// bytes over the socket themselves (send with MSG_NOSIGNAL), so they decide when the reset
// happens and never raise SIGPIPE themselves.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
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

namespace hibiki {
namespace {

using testing::Certificate;
using testing::make_certificate;
using testing::RunningServer;
using testing::TempDir;

constexpr int kRounds = 25;
// Far more than the socket buffers hold: the server is still sending when the client resets.
constexpr std::size_t kLargeMessageBytes = 2u << 20;

// A TLS client on 127.0.0.1:port whose OpenSSL state lives in memory BIOs (2 s waits).
class ResettingClient {
 public:
  // A small receive buffer makes a client that stops reading fill up after a few records.
  explicit ResettingClient(std::uint16_t port, int receive_buffer_bytes = 16 * 1024)
      : context_(SSL_CTX_new(TLS_client_method())) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ssl_ = SSL_new(context_);  // the certificate is not verified: a throwaway one
    incoming_ = BIO_new(BIO_s_mem());
    outgoing_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, incoming_, outgoing_);
    SSL_set_connect_state(ssl_);
  }
  ~ResettingClient() {
    SSL_free(ssl_);
    SSL_CTX_free(context_);
    if (fd_ >= 0) ::close(fd_);
  }
  ResettingClient(const ResettingClient&) = delete;
  ResettingClient& operator=(const ResettingClient&) = delete;

  [[nodiscard]] bool connected() const { return connected_; }

  // Sends the ClientHello and nothing more.
  void send_client_hello() {
    SSL_do_handshake(ssl_);
    push();
  }

  // Waits until the server has sent something (its first handshake flight).
  bool wait_for_server() { return pull(); }

  // Runs the handshake to its end.
  bool handshake() {
    for (;;) {
      const int rc = SSL_do_handshake(ssl_);
      push();
      if (rc == 1) return true;
      if (SSL_get_error(ssl_, rc) != SSL_ERROR_WANT_READ || !pull()) return false;
    }
  }

  void write(std::string_view plaintext) {
    SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size()));
    push();
  }

  // Decrypted bytes until at least `count` arrived (fewer on EOF, error or a 2 s silence).
  std::string read(std::size_t count) {
    std::string got;
    std::array<char, 16 * 1024> buffer;
    while (got.size() < count) {
      const int n = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
      if (n > 0) {
        got.append(buffer.data(), static_cast<std::size_t>(n));
        continue;
      }
      if (SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ || !pull()) break;
    }
    return got;
  }

  // An HTTP response's head and its Content-Length body.
  std::string read_response() {
    std::string response;
    std::size_t head_end = std::string::npos;
    while ((head_end = response.find("\r\n\r\n")) == std::string::npos) {
      const std::string more = read(1);
      if (more.empty()) return response;
      response += more;
    }
    std::size_t body_bytes = 0;
    if (const std::size_t at = response.find("Content-Length: "); at < head_end) {
      body_bytes = std::stoul(response.substr(at + 16));
    }
    const std::size_t total = head_end + 4 + body_bytes;
    if (response.size() < total) response += read(total - response.size());
    return response;
  }

  // SO_LINGER with a zero timeout, then close: the kernel sends a RST instead of a FIN.
  void reset() {
    const linger abort{.l_onoff = 1, .l_linger = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    ::close(fd_);
    fd_ = -1;
  }

 private:
  // What OpenSSL wrote goes out on the socket.
  void push() {
    std::array<char, 16 * 1024> buffer;
    int n = 0;
    while ((n = BIO_read(outgoing_, buffer.data(), static_cast<int>(buffer.size()))) > 0) {
      std::string_view left(buffer.data(), static_cast<std::size_t>(n));
      while (!left.empty()) {
        const ssize_t sent = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
        if (sent <= 0) return;
        left.remove_prefix(static_cast<std::size_t>(sent));
      }
    }
  }

  // What arrived on the socket goes to OpenSSL; false on EOF, error or a 2 s silence.
  bool pull() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return false;
    std::array<char, 64 * 1024> buffer;
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n <= 0) return false;
    BIO_write(incoming_, buffer.data(), static_cast<int>(n));
    return true;
  }

  SSL_CTX* context_;
  SSL* ssl_ = nullptr;
  BIO* incoming_ = nullptr;  // owned by ssl_
  BIO* outgoing_ = nullptr;  // owned by ssl_
  int fd_ = -1;
  bool connected_ = false;
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

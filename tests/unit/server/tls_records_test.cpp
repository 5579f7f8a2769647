// How TLS records reach the server's WebSocket parser: the server reads records ahead (many per
// recv) and stops reading once the socket is empty, so these check that nothing is held back or
// lost at the edges: many records in one segment, a record cut across two segments with a pause
// between them, the upgrade request in the same segment as the client's Finished, a message
// larger than the server's read buffer. Clients keep their OpenSSL state in memory BIOs and
// decide themselves which bytes go out in which send(2). Also what the server negotiates: the
// TLS 1.3 suite it prefers and one session ticket per connection.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <poll.h>
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
#include "throwaway_certificate.hpp"

namespace hibiki {
namespace {

using testing::Certificate;
using testing::make_certificate;
using testing::RunningServer;
using testing::TempDir;

constexpr std::string_view kUpgrade =
    "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// A masked client text frame (key 01 02 03 04).
std::string masked_text_frame(std::string_view payload) {
  std::string frame(1, '\x81');
  const std::size_t n = payload.size();
  if (n < 126) {
    frame += static_cast<char>(0x80 | n);
  } else if (n <= 0xFFFF) {
    frame += '\xFE';
    frame += static_cast<char>(n >> 8);
    frame += static_cast<char>(n & 0xFF);
  } else {
    frame += '\xFF';
    for (int shift = 56; shift >= 0; shift -= 8)
      frame += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF);
  }
  const std::array<char, 4> key{1, 2, 3, 4};
  frame.append(key.data(), key.size());
  for (std::size_t i = 0; i < n; ++i)
    frame += static_cast<char>(payload[i] ^ key[i % 4]);
  return frame;
}

// The server's unmasked frame for a text message, as an echo sends it back.
std::string server_text_frame(std::string_view payload) {
  std::string frame(1, '\x81');
  const std::size_t n = payload.size();
  if (n < 126) {
    frame += static_cast<char>(n);
  } else if (n <= 0xFFFF) {
    frame += '\x7E';
    frame += static_cast<char>(n >> 8);
    frame += static_cast<char>(n & 0xFF);
  } else {
    frame += '\x7F';
    for (int shift = 56; shift >= 0; shift -= 8)
      frame += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF);
  }
  frame += payload;
  return frame;
}

// A TLS client on 127.0.0.1:port whose records are made in memory and sent when it says so.
class RecordClient {
 public:
  explicit RecordClient(std::uint16_t port) : context_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_set_min_proto_version(context_, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(context_, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(context_, [](SSL* ssl, SSL_SESSION*) {
      ++static_cast<RecordClient*>(SSL_get_app_data(ssl))->tickets_;
      return 0;  // not kept
    });
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ssl_ = SSL_new(context_);  // the certificate is not verified: a throwaway one
    SSL_set_app_data(ssl_, this);
    incoming_ = BIO_new(BIO_s_mem());
    outgoing_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, incoming_, outgoing_);
    SSL_set_connect_state(ssl_);
  }
  ~RecordClient() {
    SSL_free(ssl_);
    SSL_CTX_free(context_);
    ::close(fd_);
  }
  RecordClient(const RecordClient&) = delete;
  RecordClient& operator=(const RecordClient&) = delete;

  [[nodiscard]] bool connected() const { return connected_; }
  [[nodiscard]] int tickets() const { return tickets_; }
  [[nodiscard]] std::string suite() const { return SSL_get_cipher_name(ssl_); }

  // Runs the handshake; the client's last flight (its Finished) stays unsent until the next
  // send(), so whatever is written next goes out in the same segment.
  bool handshake_keeping_finished() {
    for (;;) {
      const int rc = SSL_do_handshake(ssl_);
      if (rc == 1) return true;
      send();
      if (SSL_get_error(ssl_, rc) != SSL_ERROR_WANT_READ || !pull()) return false;
    }
  }

  // One TLS record (one SSL_write) per call; nothing is sent yet.
  void record(std::string_view plaintext) {
    ASSERT_EQ(SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size())),
              static_cast<int>(plaintext.size()));
  }

  // Everything made so far in one send(2), or cut in two sends `pause` apart at `cut` bytes.
  void send(std::size_t cut = 0, std::chrono::milliseconds pause = {}) {
    std::string bytes;
    std::array<char, 16 * 1024> buffer;
    int n = 0;
    while ((n = BIO_read(outgoing_, buffer.data(), static_cast<int>(buffer.size()))) > 0)
      bytes.append(buffer.data(), static_cast<std::size_t>(n));
    if (cut > 0 && cut < bytes.size()) {
      send_all(std::string_view(bytes).substr(0, cut));
      std::this_thread::sleep_for(pause);
      send_all(std::string_view(bytes).substr(cut));
    } else {
      send_all(bytes);
    }
  }

  [[nodiscard]] std::size_t unsent() const { return BIO_ctrl_pending(outgoing_); }

  // Decrypted bytes until `count` arrived (fewer on EOF, error or a 2 s silence).
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

  // The 101 answer's head, read to its blank line.
  std::string read_upgrade_answer() {
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      const std::string more = read(1);
      if (more.empty()) break;
      head += more;
    }
    return head;
  }

 private:
  void send_all(std::string_view left) {
    while (!left.empty()) {
      const ssize_t sent = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
      if (sent <= 0) return;
      left.remove_prefix(static_cast<std::size_t>(sent));
    }
  }

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
  int tickets_ = 0;
};

class TlsRecords : public ::testing::Test {
 protected:
  void SetUp() override {
    certificate_ = make_certificate(dir_.path(), "server");
    ServerOptions options = testing::loopback_options(1);
    options.tls_certificate_file = certificate_.cert;
    options.tls_private_key_file = certificate_.key;
    server_ = std::make_unique<Server>(options);
    server_->ws("/echo", {.on_message = [](WebSocket ws, std::string_view message,
                                           MessageKind kind) { ws.send(message, kind); }});
    running_ = std::make_unique<RunningServer>(*server_);
  }

  // A client through the handshake and the upgrade, each sent on its own.
  std::unique_ptr<RecordClient> open_client() {
    auto client = std::make_unique<RecordClient>(running_->port());
    EXPECT_TRUE(client->connected());
    EXPECT_TRUE(client->handshake_keeping_finished());
    client->send();
    client->record(kUpgrade);
    client->send();
    EXPECT_TRUE(client->read_upgrade_answer().starts_with("HTTP/1.1 101"));
    return client;
  }

  TempDir dir_;
  Certificate certificate_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<RunningServer> running_;
};

TEST_F(TlsRecords, many_records_in_one_segment_are_all_answered) {
  auto client = open_client();
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    const std::string message = "message " + std::to_string(i);
    client->record(masked_text_frame(message));
    expected += server_text_frame(message);
  }
  client->send();
  EXPECT_EQ(client->read(expected.size()), expected);
}

TEST_F(TlsRecords, a_record_cut_across_two_segments_is_answered_when_its_end_arrives) {
  auto client = open_client();
  const std::string message(300, 'a');
  client->record(masked_text_frame("first"));
  client->record(masked_text_frame(message));
  const std::size_t total = client->unsent();
  // The first record whole and a few bytes of the second, then a pause the server must wait
  // out without losing the start of the second record.
  client->send(total - 100, std::chrono::milliseconds(200));
  const std::string expected = server_text_frame("first") + server_text_frame(message);
  EXPECT_EQ(client->read(expected.size()), expected);
}

TEST_F(TlsRecords, a_record_header_cut_in_two_is_answered_when_its_end_arrives) {
  auto client = open_client();
  client->record(masked_text_frame("hello"));
  client->send(3, std::chrono::milliseconds(200));  // 3 of the 5 header bytes, then the rest
  EXPECT_EQ(client->read(7), server_text_frame("hello"));
}

TEST_F(TlsRecords, an_upgrade_sent_with_the_clients_finished_is_answered) {
  RecordClient client(running_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.handshake_keeping_finished());
  // The Finished, the upgrade and a first message in one segment: the server reads them all
  // while it completes its handshake, and must not wait for more bytes before answering.
  client.record(kUpgrade);
  client.record(masked_text_frame("early"));
  client.send();
  EXPECT_TRUE(client.read_upgrade_answer().starts_with("HTTP/1.1 101"));
  EXPECT_EQ(client.read(7), server_text_frame("early"));
}

TEST_F(TlsRecords, a_message_larger_than_the_read_buffer_comes_back_whole) {
  auto client = open_client();
  std::string message(300 * 1024, ' ');
  for (std::size_t i = 0; i < message.size(); ++i)
    message[i] = static_cast<char>('a' + i % 26);
  const std::string frame = masked_text_frame(message);
  for (std::size_t at = 0; at < frame.size(); at += 16 * 1024)
    client->record(std::string_view(frame).substr(at, 16 * 1024));
  client->send();
  const std::string expected = server_text_frame(message);
  EXPECT_EQ(client->read(expected.size()), expected);
}

TEST_F(TlsRecords, tls13_prefers_aes128_gcm_and_sends_one_ticket) {
  auto client = open_client();
  // A client offering OpenSSL's default order (AES-256 first) gets the server's preference.
  EXPECT_EQ(client->suite(), "TLS_AES_128_GCM_SHA256");
  client->record(masked_text_frame("x"));
  client->send();
  EXPECT_EQ(client->read(3), server_text_frame("x"));  // tickets came before, and were read
  EXPECT_EQ(client->tickets(), 1);
}

}  // namespace
}  // namespace hibiki

// A TLS client for server tests on 127.0.0.1:port whose OpenSSL state lives in memory BIOs: the
// test decides which bytes go out in which send(2) and when, and the sends use MSG_NOSIGNAL, so
// the client never raises SIGPIPE itself. Waits for the server last 2 s at the most. The
// server's certificate is not verified (a throwaway one).
#pragma once

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

namespace hibiki::testing {

struct TlsClientOptions {
  int receive_buffer_bytes = 0;  // > 0: SO_RCVBUF before connecting
  bool no_delay = false;         // TCP_NODELAY
  bool tls13_only = false;
  bool count_tickets = false;  // the session tickets the server sends are counted (not kept)
};

class TlsTestClient {
 public:
  explicit TlsTestClient(std::uint16_t port, TlsClientOptions options = {})
      : context_(SSL_CTX_new(TLS_client_method())) {
    if (options.tls13_only) SSL_CTX_set_min_proto_version(context_, TLS1_3_VERSION);
    if (options.count_tickets) {
      SSL_CTX_set_session_cache_mode(context_, SSL_SESS_CACHE_CLIENT);
      SSL_CTX_sess_set_new_cb(context_, [](SSL* ssl, SSL_SESSION*) {
        ++static_cast<TlsTestClient*>(SSL_get_app_data(ssl))->tickets_;
        return 0;  // not kept
      });
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (options.receive_buffer_bytes > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer_bytes,
                   sizeof options.receive_buffer_bytes);
    }
    if (options.no_delay) {
      const int one = 1;
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ssl_ = SSL_new(context_);
    SSL_set_app_data(ssl_, this);
    incoming_ = BIO_new(BIO_s_mem());
    outgoing_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, incoming_, outgoing_);
    SSL_set_connect_state(ssl_);
  }
  ~TlsTestClient() {
    SSL_free(ssl_);
    SSL_CTX_free(context_);
    if (fd_ >= 0) ::close(fd_);
  }
  TlsTestClient(const TlsTestClient&) = delete;
  TlsTestClient& operator=(const TlsTestClient&) = delete;

  [[nodiscard]] bool connected() const { return connected_; }
  [[nodiscard]] int tickets() const { return tickets_; }
  [[nodiscard]] std::string suite() const { return SSL_get_cipher_name(ssl_); }

  // Sends the ClientHello and nothing more.
  void send_client_hello() {
    SSL_do_handshake(ssl_);
    send();
  }

  // Waits until the server has sent something (after a ClientHello: its first handshake flight).
  bool wait_for_server() { return pull(); }

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

  // Runs the handshake to its end, the Finished sent.
  bool handshake() {
    const bool done = handshake_keeping_finished();
    send();
    return done;
  }

  // One TLS record (one SSL_write) per call; nothing is sent yet.
  void record(std::string_view plaintext) {
    ASSERT_EQ(SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size())),
              static_cast<int>(plaintext.size()));
  }

  // SSL_write and send at once (not checked: what the server answers tells).
  void write(std::string_view plaintext) {
    SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size()));
    send();
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

  // An HTTP response's head, read to its blank line (and whatever came in the same reads).
  std::string read_head() {
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      const std::string more = read(1);
      if (more.empty()) break;
      head += more;
    }
    return head;
  }

  // An HTTP response's head and its Content-Length body.
  std::string read_response() {
    std::string response = read_head();
    const std::size_t head_end = response.find("\r\n\r\n");
    if (head_end == std::string::npos) return response;
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
  void send_all(std::string_view left) {
    while (!left.empty()) {
      const ssize_t sent = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
      if (sent <= 0) return;
      left.remove_prefix(static_cast<std::size_t>(sent));
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
  int tickets_ = 0;
};

}  // namespace hibiki::testing

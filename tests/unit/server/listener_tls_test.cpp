// TLS per listener: a listener added with its own ListenerTls presents its own certificate, or
// none, next to the main listener's; reload_tls() reloads every listener's files. Throwaway
// certificates are made with the openssl command in a temporary directory; clients are blocking
// OpenSSL clients on loopback that report which certificate they were shown.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "hibiki/server.hpp"
#include "test_client.hpp"
#include "test_io.hpp"
#include "throwaway_certificate.hpp"

namespace hibiki {
namespace {

namespace fs = std::filesystem;
using testing::Certificate;
using testing::make_certificate;
using testing::TempDir;
using testing::TestClient;

void copy_file(const std::string& from, const std::string& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// A blocking TLS client on 127.0.0.1:port (2 s timeouts). The certificate is not verified: the
// tests read which one was presented.
class TlsClient {
 public:
  explicit TlsClient(std::uint16_t port) : context_(SSL_CTX_new(TLS_client_method())) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{.tv_sec = 2, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return;
    ssl_ = SSL_new(context_);
    SSL_set_fd(ssl_, fd_);
    established_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    SSL_CTX_free(context_);
    ::close(fd_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  [[nodiscard]] bool established() const { return established_; }

  // The CN of the certificate the server presented; empty without one.
  [[nodiscard]] std::string peer_name() const {
    if (!established_) return "";
    X509* peer = SSL_get1_peer_certificate(ssl_);
    if (peer == nullptr) return "";
    std::string name(256, '\0');
    const int length = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName,
                                                 name.data(), static_cast<int>(name.size()));
    X509_free(peer);
    name.resize(length > 0 ? static_cast<std::size_t>(length) : 0);
    return name;
  }

  // Sends a GET and returns what came back until `needle` appeared (or the timeout).
  std::string get(const std::string& needle) {
    if (!established_) return "";
    const std::string request = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return "";
    std::string got;
    char buffer[4096];
    while (got.find(needle) == std::string::npos) {
      const int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n <= 0) break;
      got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
  }

 private:
  SSL_CTX* context_;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool established_ = false;
};

std::string port_body(std::uint16_t port) {
  return "port=" + std::to_string(port);
}

// A server answering GET with the listener's port, on loopback.
class TlsServer {
 public:
  explicit TlsServer(const Certificate* main, std::uint32_t threads = 1)
      : server_(testing::on_test_io(ServerOptions{.threads = threads,
                                                  .host = "127.0.0.1",
                                                  .port = 0,
                                                  .tls_certificate_file = main ? main->cert : "",
                                                  .tls_private_key_file = main ? main->key : "",
                                                  .log_level = LogLevel::off})) {
    server_.route("GET", "*", [](const HttpRequestView& request, HttpResponse& response) {
      response.body = port_body(request.local_port());
    });
    server_.listen();
  }
  ~TlsServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  Server& server() { return server_; }
  void run() {
    thread_ = std::thread([this] { server_.run(); });
  }

 private:
  Server server_;
  std::thread thread_;
};

// The CN presented on `port`, asked until it is `expected` or 5 s passed.
std::string wait_for_name(std::uint16_t port, const std::string& expected) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string name;
  while (std::chrono::steady_clock::now() < deadline) {
    name = TlsClient(port).peer_name();
    if (name == expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return name;
}

TEST(ListenerTls, listeners_with_their_own_certificates_each_present_theirs) {
  TempDir dir;
  const Certificate main = make_certificate(dir.path(), "main");
  const Certificate second = make_certificate(dir.path(), "second");
  TlsServer tls(&main);
  const std::uint16_t main_port = tls.server().port();
  const std::uint16_t second_port =
      tls.server().listen("127.0.0.1", 0, ListenerTls{second.cert, second.key});
  // Without a ListenerTls a listener shares the main one's TLS.
  const std::uint16_t shared_port = tls.server().listen("127.0.0.1", 0);
  tls.run();

  TlsClient to_main(main_port);
  ASSERT_TRUE(to_main.established());
  EXPECT_EQ(to_main.peer_name(), "main");
  EXPECT_NE(to_main.get(port_body(main_port)).find(port_body(main_port)), std::string::npos);

  TlsClient to_second(second_port);
  ASSERT_TRUE(to_second.established());
  EXPECT_EQ(to_second.peer_name(), "second");
  EXPECT_NE(to_second.get(port_body(second_port)).find(port_body(second_port)), std::string::npos);

  EXPECT_EQ(TlsClient(shared_port).peer_name(), "main");
}

TEST(ListenerTls, a_plain_listener_next_to_a_tls_main_one_stays_plain) {
  TempDir dir;
  const Certificate main = make_certificate(dir.path(), "main");
  TlsServer tls(&main);
  const std::uint16_t plain_port = tls.server().listen("127.0.0.1", 0, ListenerTls{});
  tls.run();

  TestClient plain(plain_port);
  plain.write("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string answer = plain.read_until(port_body(plain_port));
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  EXPECT_NE(answer.find(port_body(plain_port)), std::string::npos) << answer;
  EXPECT_FALSE(TlsClient(plain_port).established());
  EXPECT_EQ(TlsClient(tls.server().port()).peer_name(), "main");
}

TEST(ListenerTls, a_tls_listener_next_to_a_plain_main_one) {
  TempDir dir;
  const Certificate second = make_certificate(dir.path(), "second");
  TlsServer tls(nullptr);
  const std::uint16_t main_port = tls.server().port();
  const std::uint16_t tls_port =
      tls.server().listen("127.0.0.1", 0, ListenerTls{second.cert, second.key});
  tls.run();

  TestClient plain(main_port);
  plain.write("GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(plain.read_until(port_body(main_port)).find(port_body(main_port)), std::string::npos);
  EXPECT_FALSE(TlsClient(main_port).established());
  TlsClient secure(tls_port);
  EXPECT_EQ(secure.peer_name(), "second");
  EXPECT_NE(secure.get(port_body(tls_port)).find(port_body(tls_port)), std::string::npos);
}

TEST(ListenerTls, reload_swaps_every_listeners_certificate_and_open_connections_stay) {
  TempDir dir;
  const Certificate old_main = make_certificate(dir.path(), "old-main");
  const Certificate old_second = make_certificate(dir.path(), "old-second");
  const Certificate new_main = make_certificate(dir.path(), "new-main");
  const Certificate new_second = make_certificate(dir.path(), "new-second");
  // The files the server reads; the test overwrites them before the reload.
  const Certificate main_files{(dir.path() / "main.pem").string(),
                               (dir.path() / "main.key").string()};
  const Certificate second_files{(dir.path() / "second.pem").string(),
                                 (dir.path() / "second.key").string()};
  copy_file(old_main.cert, main_files.cert);
  copy_file(old_main.key, main_files.key);
  copy_file(old_second.cert, second_files.cert);
  copy_file(old_second.key, second_files.key);

  TlsServer tls(&main_files, 2);  // two loops: each has its own listeners and contexts
  const std::uint16_t main_port = tls.server().port();
  const std::uint16_t second_port =
      tls.server().listen("127.0.0.1", 0, ListenerTls{second_files.cert, second_files.key});
  tls.run();

  TlsClient open_main(main_port);
  TlsClient open_second(second_port);
  EXPECT_EQ(open_main.peer_name(), "old-main");
  EXPECT_EQ(open_second.peer_name(), "old-second");

  copy_file(new_main.cert, main_files.cert);
  copy_file(new_main.key, main_files.key);
  copy_file(new_second.cert, second_files.cert);
  copy_file(new_second.key, second_files.key);
  tls.server().reload_tls();

  EXPECT_EQ(wait_for_name(main_port, "new-main"), "new-main");
  EXPECT_EQ(wait_for_name(second_port, "new-second"), "new-second");
  // Every loop reloaded: a run of new connections (spread over both loops) sees no old one.
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(TlsClient(main_port).peer_name(), "new-main");
    EXPECT_EQ(TlsClient(second_port).peer_name(), "new-second");
  }
  // Connections made before the reload keep working.
  EXPECT_NE(open_main.get(port_body(main_port)).find(port_body(main_port)), std::string::npos);
  EXPECT_NE(open_second.get(port_body(second_port)).find(port_body(second_port)),
            std::string::npos);
}

TEST(ListenerTls, a_listener_whose_files_cannot_be_reloaded_keeps_its_certificate) {
  TempDir dir;
  const Certificate main = make_certificate(dir.path(), "main");
  const Certificate fresh = make_certificate(dir.path(), "fresh");
  const Certificate second_files{(dir.path() / "second.pem").string(),
                                 (dir.path() / "second.key").string()};
  const Certificate second = make_certificate(dir.path(), "second");
  copy_file(second.cert, second_files.cert);
  copy_file(second.key, second_files.key);
  const Certificate main_files{(dir.path() / "main.pem").string(),
                               (dir.path() / "main.key").string()};
  copy_file(main.cert, main_files.cert);
  copy_file(main.key, main_files.key);

  TlsServer tls(&main_files);
  const std::uint16_t second_port =
      tls.server().listen("127.0.0.1", 0, ListenerTls{second_files.cert, second_files.key});
  tls.run();

  std::ofstream(second_files.cert, std::ios::trunc) << "not a certificate\n";
  copy_file(fresh.cert, main_files.cert);
  copy_file(fresh.key, main_files.key);
  tls.server().reload_tls();
  EXPECT_EQ(wait_for_name(tls.server().port(), "fresh"), "fresh");
  EXPECT_EQ(TlsClient(second_port).peer_name(), "second");
}

TEST(ListenerTls, a_certificate_without_a_key_is_refused) {
  TempDir dir;
  const Certificate second = make_certificate(dir.path(), "second");
  TlsServer tls(nullptr);
  EXPECT_THROW(tls.server().listen("127.0.0.1", 0, ListenerTls{second.cert, ""}),
               std::runtime_error);
  EXPECT_THROW(tls.server().listen("127.0.0.1", 0, ListenerTls{"", second.key}),
               std::runtime_error);
  EXPECT_THROW(tls.server().listen("127.0.0.1", 0, ListenerTls{second.cert, second.cert}),
               std::runtime_error);
}

}  // namespace
}  // namespace hibiki

// A blocking WebSocket client over a real loopback socket, for server tests: it builds frames
// with the protocol layer's client writer and reads them with its parser in client role.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/frame_parser.hpp"
#include "protocol/frame_writer.hpp"

namespace hibiki::testing {

struct ReceivedFrame {
  protocol::Opcode opcode = protocol::Opcode::continuation;
  std::string payload;
};

class TestClient {
 public:
  // receive_buffer_bytes > 0 sets SO_RCVBUF before connecting (the kernel doubles it), so a
  // client that does not read fills up after a few KiB.
  explicit TestClient(std::uint16_t port, int receive_buffer_bytes = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer_bytes > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~TestClient() { ::close(fd_); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  [[nodiscard]] bool connected() const { return connected_; }

  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Sends an upgrade request for `path` with extra header lines; returns the response head.
  std::string handshake(std::string_view path = "/", std::string_view extra_headers = "") {
    std::string request = "GET " + std::string(path) +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n" +
                          std::string(extra_headers) + "\r\n";
    write(request);
    return read_head();
  }

  // Reads a response head; what follows it stays for next_frame().
  std::string read_head() {
    std::string head = std::exchange(buffer_, std::string());
    while (head.find("\r\n\r\n") == std::string::npos) {
      if (!fill(2000)) return head;
      head += buffer_;
      buffer_.clear();
    }
    const std::size_t end = head.find("\r\n\r\n") + 4;
    buffer_ = head.substr(end);
    return head.substr(0, end);
  }

  void send(protocol::Opcode opcode, std::string_view payload, bool fin = true) {
    std::string frame;
    protocol::append_masked_frame(frame, opcode, payload,
                                  {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}},
                                  {.fin = fin});
    write(frame);
  }

  // The next complete frame, or nullopt on EOF or after timeout_ms without one.
  std::optional<ReceivedFrame> next_frame(int timeout_ms = 2000) {
    ReceivedFrame frame;
    for (;;) {
      while (!buffer_.empty()) {
        protocol::FrameEvent event;
        std::span<std::byte> bytes(reinterpret_cast<std::byte*>(buffer_.data()), buffer_.size());
        const std::size_t used = parser_.parse(bytes, event);
        if (event.kind == protocol::FrameEvent::Kind::error) return std::nullopt;
        if (event.kind == protocol::FrameEvent::Kind::payload) {
          frame.opcode = event.opcode;
          frame.payload.append(reinterpret_cast<const char*>(event.payload.data()),
                               event.payload.size());
        }
        buffer_.erase(0, used);
        if (event.kind == protocol::FrameEvent::Kind::payload && event.message_end) return frame;
        if (event.kind == protocol::FrameEvent::Kind::need_more) break;
      }
      if (!fill(timeout_ms)) return std::nullopt;
    }
  }

  // Raw bytes received until `needle` shows up, EOF, or timeout_ms of silence.
  std::string read_until(std::string_view needle, int timeout_ms = 2000) {
    while (buffer_.find(needle) == std::string::npos && fill(timeout_ms)) {
    }
    return std::exchange(buffer_, std::string());
  }

  // Exactly `count` raw bytes (fewer on EOF or after timeout_ms of silence).
  std::string read_bytes(std::size_t count, int timeout_ms = 2000) {
    while (buffer_.size() < count && fill(timeout_ms)) {
    }
    std::string out = buffer_.substr(0, count);
    buffer_.erase(0, out.size());
    return out;
  }

  // True when the server closes the TCP connection within timeout_ms.
  bool wait_eof(int timeout_ms = 2000) {
    for (;;) {
      buffer_.clear();
      if (!fill(timeout_ms)) return eof_;
    }
  }

 private:
  bool fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
  protocol::FrameParser parser_{{.role = protocol::Role::client, .max_message_bytes = 1u << 30}};
};

}  // namespace hibiki::testing

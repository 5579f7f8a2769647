// Plain HTTP routes next to the WebSocket endpoints: what a handler sees and returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hibiki {

// A received request head. Views are valid only during the handler call.
class HttpRequestView {
 public:
  virtual ~HttpRequestView() = default;
  [[nodiscard]] virtual std::string_view method() const = 0;
  [[nodiscard]] virtual std::string_view path() const = 0;
  [[nodiscard]] virtual std::string_view query() const = 0;
  // First header with that name (case-insensitive).
  [[nodiscard]] virtual std::optional<std::string_view> header(std::string_view name) const = 0;
  // Every header in the order received, names as sent.
  [[nodiscard]] virtual std::vector<std::pair<std::string_view, std::string_view>> headers()
      const = 0;
  // The Content-Length bytes that followed the head (empty for GET, HEAD and upgrades).
  [[nodiscard]] virtual std::string_view body() const = 0;
  // "ip:port" of the peer.
  [[nodiscard]] virtual std::string remote_address() const = 0;
  // The local port the request came in on (Server::listen(host, port) adds listeners).
  [[nodiscard]] virtual std::uint16_t local_port() const = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

}  // namespace hibiki

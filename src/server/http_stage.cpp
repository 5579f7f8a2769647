// The HTTP stage of a connection: read a bounded request head, then either upgrade to WebSocket
// (RFC 6455 §4.2) or answer a plain GET from the routes, keeping the connection alive.
#include <algorithm>
#include <array>
#include <charconv>
#include <string>

#include "hibiki/log.hpp"
#include "protocol/handshake.hpp"
#include "protocol/http_request.hpp"
#include "protocol/permessage_deflate.hpp"
#include "server/server_core.hpp"

namespace hibiki::detail {
namespace {

using server::Connection;
using server::ConnectionState;

class RequestView final : public HttpRequestView {
 public:
  RequestView(const protocol::HttpRequest& request, const Connection& c)
      : request_(request), connection_(c) {}
  std::string_view method() const override { return request_.method; }
  std::string_view path() const override { return request_.path; }
  std::string_view query() const override { return request_.query; }
  std::optional<std::string_view> header(std::string_view name) const override {
    return request_.header(name);
  }
  std::string remote_address() const override { return connection_.peer.to_string(); }

 private:
  const protocol::HttpRequest& request_;
  const Connection& connection_;
};

std::span<const std::byte> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// Headers beyond the HTTP limits are fixed-size arrays on the stack: no allocation per request.
constexpr std::size_t kMaxHeaderSlots = 256;

}  // namespace

void ServerCore::handle_http(Connection& c, std::span<std::byte> bytes) {
  // The common case, a whole head in one read, is parsed in the loop's read buffer: only a
  // head split across reads is copied into the connection's inbox.
  bool buffered = !c.inbox.empty();
  if (buffered) c.inbox.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const protocol::HttpLimits limits{.max_head_bytes = options_.max_header_bytes,
                                    .max_headers = std::min(options_.max_headers, kMaxHeaderSlots)};
  std::array<protocol::HttpHeader, kMaxHeaderSlots> headers;
  // Pipelined requests: keep answering while complete heads are there.
  while (c.state == ConnectionState::http) {
    const std::string_view text =
        buffered ? std::string_view(c.inbox)
                 : std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (text.empty()) return;
    protocol::HttpRequest request;
    const protocol::HttpParseResult result =
        protocol::parse_http_request(text, request, std::span(headers.data(), limits.max_headers),
                                     limits, buffered ? c.http_scanned : 0);
    if (result.status == protocol::HttpParseStatus::need_more) {
      if (!buffered) c.inbox.assign(text);
      c.http_scanned = static_cast<std::uint32_t>(c.inbox.size());
      return;
    }
    if (result.status == protocol::HttpParseStatus::error) {
      log(LogLevel::info, "conn " + std::to_string(c.id) + " " + c.peer.to_string() +
                              ": bad HTTP request: " + protocol::to_string(result.error));
      answer_http_error(c, protocol::http_status_for(result.error));
      return;
    }
    c.http_scanned = 0;
    const bool upgraded = handle_request(c, request);
    if (c.state == ConnectionState::closed || c.state == ConnectionState::draining) return;
    // Whatever followed the head: frames sent right after the upgrade, or the next request.
    if (buffered) {
      c.inbox.erase(0, result.head_bytes);
      if (upgraded) {
        std::string rest = std::move(c.inbox);
        c.inbox = std::string();
        if (!rest.empty()) {
          handle_frames(c, {reinterpret_cast<std::byte*>(rest.data()), rest.size()});
        }
        return;
      }
      if (c.inbox.empty()) {
        c.inbox.shrink_to_fit();
        return;
      }
    } else {
      bytes = bytes.subspan(result.head_bytes);
      if (upgraded) {
        if (!bytes.empty()) handle_frames(c, bytes);
        return;
      }
    }
  }
}

void ServerCore::answer_http_error(Connection& c, int status) {
  if (status != 408) ++stats_.handshake_rejected;
  const std::string response = protocol::build_error_response(status);
  write_raw(c, as_bytes(response), {}, /*now=*/true);
  start_draining(c);
}

bool ServerCore::handle_request(Connection& c, const protocol::HttpRequest& request) {
  if (protocol::wants_websocket(request)) return upgrade(c, request);
  serve_http(c, request);
  return false;
}

bool ServerCore::upgrade(Connection& c, const protocol::HttpRequest& request) {
  const protocol::HandshakeCheck check = protocol::check_upgrade(
      request, protocol::HandshakeOptions{.allowed_origins = options_.allowed_origins});
  if (check.error != protocol::HandshakeError::none) {
    log(LogLevel::info, "conn " + std::to_string(c.id) + " " + c.peer.to_string() +
                            ": handshake refused: " + protocol::to_string(check.error));
    answer_http_error(c, protocol::http_status_for(check.error));
    return false;
  }
  auto route = routes_.ws.find(std::string(request.path));
  if (route == routes_.ws.end()) route = routes_.ws.find("*");
  if (route == routes_.ws.end()) {
    answer_http_error(c, 404);
    return false;
  }
  const WebSocketHandlers& handlers = routes_.ws_handlers[route->second];
  std::string chosen;
  if (handlers.select_protocol && !check.upgrade.protocols.empty()) {
    const std::vector<std::string_view> offered =
        protocol::split_protocols(check.upgrade.protocols);
    chosen = handlers.select_protocol(offered);
    // Only a protocol the client offered may be answered (RFC 6455 §4.1, client step 6).
    if (std::find(offered.begin(), offered.end(), chosen) == offered.end()) chosen.clear();
  }
  protocol::DeflateNegotiation deflate;
  if (compressors_.enabled()) {
    deflate = protocol::negotiate_permessage_deflate(request, compressors_.policy());
  }
  const std::string extensions =
      deflate.accepted ? "Sec-WebSocket-Extensions: " + deflate.response + "\r\n" : std::string();
  const std::string response =
      protocol::build_upgrade_response(check.upgrade.key, chosen, extensions);
  if (!write_raw(c, as_bytes(response), {}, /*now=*/true)) return false;
  c.state = ConnectionState::open;
  ++stats_.websocket_upgrades;
  c.route = route->second;
  if (!chosen.empty()) c.more().protocol = std::move(chosen);
  if (deflate.accepted) {
    c.compressed = true;
    c.more().compression = std::make_unique<server::CompressionState>(deflate.params);
    c.parser.set_allow_rsv1(true);  // RFC 7692 §6: RSV1 marks a compressed message
  }
  c.opened = true;
  c.last_read_ms = static_cast<std::uint32_t>(loop_.now_ms());
  if (options_.idle_timeout_ms > 0) {
    arm_timer(c, options_.idle_timeout_ms);
  } else {
    loop_.timers().disarm(c.slot);
  }
  if (handlers.on_open) handlers.on_open(handle(c));
  return c.state != ConnectionState::closed;
}

void ServerCore::serve_http(Connection& c, const protocol::HttpRequest& request) {
  const bool head_only = request.method == "HEAD";
  if (request.method != "GET" && !head_only) {
    answer_http_error(c, 405);
    return;
  }
  // GET carries no body here; a declared one would desynchronise the stream.
  if (request.header("Transfer-Encoding") ||
      (request.header("Content-Length") && *request.header("Content-Length") != "0")) {
    answer_http_error(c, 400);
    return;
  }
  auto route = routes_.http.find(std::string(request.path));
  if (route == routes_.http.end()) route = routes_.http.find("*");
  HttpResponse response;
  if (route == routes_.http.end()) {
    response.status = 404;
    response.body = "Not Found\n";
  } else {
    route->second(RequestView(request, c), response);
  }
  const auto connection = request.header("Connection");
  c.keep_alive =
      request.version_minor >= 1 && !(connection && protocol::has_token(*connection, "close"));
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " +
                     std::string(protocol::reason_phrase(response.status)) + "\r\n";
  head += "Content-Type: " + response.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  for (const auto& [name, value] : response.headers)
    head += name + ": " + value + "\r\n";
  if (!c.keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  const std::span<const std::byte> body =
      head_only ? std::span<const std::byte>{} : as_bytes(response.body);
  if (!write_raw(c, as_bytes(head), body, /*now=*/true)) return;
  if (!c.keep_alive) {
    start_draining(c);
    return;
  }
  // The handshake timeout doubles as the keep-alive idle timeout.
  arm_timer(c, options_.handshake_timeout_ms);
}

}  // namespace hibiki::detail

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
  RequestView(const protocol::HttpRequest& request, const Connection& c, std::uint16_t local_port,
              std::string_view body = {})
      : request_(request), connection_(c), local_port_(local_port), body_(body) {}
  std::string_view method() const override { return request_.method; }
  std::string_view path() const override { return request_.path; }
  std::string_view query() const override { return request_.query; }
  std::optional<std::string_view> header(std::string_view name) const override {
    return request_.header(name);
  }
  std::vector<std::pair<std::string_view, std::string_view>> headers() const override {
    std::vector<std::pair<std::string_view, std::string_view>> all;
    all.reserve(request_.headers.size());
    for (const protocol::HttpHeader& header : request_.headers)
      all.emplace_back(header.name, header.value);
    return all;
  }
  std::string_view body() const override { return body_; }
  std::string remote_address() const override { return connection_.peer.to_string(); }
  std::uint16_t local_port() const override { return local_port_; }

 private:
  const protocol::HttpRequest& request_;
  const Connection& connection_;
  std::uint16_t local_port_;
  std::string_view body_;
};

// Route table key: "GET /path".
std::string route_key(std::string_view method, std::string_view path) {
  std::string key(method);
  key += ' ';
  key += path;
  return key;
}

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
      const std::string peer = c.peer.to_string();
      log(LogLevel::info,
          "conn " + std::to_string(c.id) + " " + peer +
              ": bad HTTP request: " + protocol::to_string(result.error),
          {{"conn", c.id},
           {"peer", peer},
           {"error", protocol::to_string(result.error)},
           {"status", protocol::http_status_for(result.error)}});
      answer_http_error(c, protocol::http_status_for(result.error));
      return;
    }
    std::size_t body_bytes = 0;
    if (!body_length(c, request, body_bytes)) return;
    const std::size_t request_bytes = result.head_bytes + body_bytes;
    if (text.size() < request_bytes) {
      // The body is still coming: keep everything and parse the (complete) head again then.
      if (!buffered) c.inbox.assign(text);
      c.http_scanned = 0;
      return;
    }
    c.http_scanned = 0;
    const bool upgraded = handle_request(c, request, text.substr(result.head_bytes, body_bytes));
    if (c.state == ConnectionState::closed || c.state == ConnectionState::draining) return;
    // Whatever followed the request: frames sent right after the upgrade, or the next request.
    // While an upgrade waits for its answer, the inbox keeps those bytes.
    if (buffered) {
      c.inbox.erase(0, request_bytes);
      if (upgraded) {
        std::string rest = std::move(c.inbox);
        c.inbox = std::string();
        if (!rest.empty()) {
          handle_frames(c, {reinterpret_cast<std::byte*>(rest.data()), rest.size()});
        }
        return;
      }
      if (c.state == ConnectionState::upgrading || c.state == ConnectionState::responding) return;
      if (c.inbox.empty()) {
        c.inbox.shrink_to_fit();
        return;
      }
    } else {
      bytes = bytes.subspan(request_bytes);
      if (upgraded) {
        if (!bytes.empty()) handle_frames(c, bytes);
        return;
      }
      if (c.state == ConnectionState::upgrading || c.state == ConnectionState::responding) {
        c.inbox.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return;
      }
    }
  }
}

void ServerCore::answer_http_error(Connection& c, int status) {
  if (status != 408) ++stats_.handshake_rejected;
  if (c.h2_stream) {
    HttpResponse response{
        .status = status,
        .body = std::to_string(status) + " " + std::string(protocol::reason_phrase(status)) + "\n"};
    if (status == 426) response.headers.emplace_back("sec-websocket-version", "13");
    h2_answer(c, response, /*head_only=*/false);
    return;
  }
  const std::string response = protocol::build_error_response(status);
  write_raw(c, as_bytes(response), {}, /*now=*/true);
  start_draining(c);
}

bool ServerCore::body_length(Connection& c, const protocol::HttpRequest& request,
                             std::size_t& length) {
  length = 0;
  if (request.header("Transfer-Encoding")) {
    answer_http_error(c, 411);  // bodies must say their length up front
    return false;
  }
  const auto declared = request.header("Content-Length");
  if (!declared) return true;
  // One value, digits only (RFC 9110 §8.6); duplicates could desynchronise the stream.
  const std::string_view digits = *declared;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
  if (request.header_count("Content-Length") != 1 || digits.empty() || error != std::errc() ||
      end != digits.data() + digits.size()) {
    answer_http_error(c, 400);
    return false;
  }
  if (length == 0) return true;
  // GET, HEAD and upgrades carry no body here.
  if (request.method == "GET" || request.method == "HEAD") {
    answer_http_error(c, 400);
    return false;
  }
  if (length > options_.max_http_body_bytes) {
    answer_http_error(c, 413);
    return false;
  }
  return true;
}

bool ServerCore::handle_request(Connection& c, const protocol::HttpRequest& request,
                                std::string_view body) {
  if (protocol::wants_websocket(request)) return upgrade(c, request);
  serve_http(c, request, body);
  return false;
}

bool ServerCore::upgrade(Connection& c, const protocol::HttpRequest& request) {
  const protocol::HandshakeCheck check = protocol::check_upgrade(
      request, protocol::HandshakeOptions{.allowed_origins = options_.allowed_origins});
  const std::string peer = c.peer.to_string();
  const std::string_view user_agent = request.header("User-Agent").value_or("");
  log(LogLevel::debug, "conn " + std::to_string(c.id) + " " + peer + ": upgrade request",
      {{"conn", c.id},
       {"peer", peer},
       {"path", request.target},
       {"protocols", request.header("Sec-WebSocket-Protocol").value_or("")},
       {"origin", request.header("Origin").value_or("")},
       {"user_agent", user_agent}});
  if (check.error != protocol::HandshakeError::none) {
    log(LogLevel::info,
        "conn " + std::to_string(c.id) + " " + peer +
            ": handshake refused: " + protocol::to_string(check.error),
        {{"conn", c.id},
         {"peer", peer},
         {"error", protocol::to_string(check.error)},
         {"status", protocol::http_status_for(check.error)},
         {"path", request.target},
         {"user_agent", user_agent}});
    answer_http_error(c, protocol::http_status_for(check.error));
    return false;
  }
  return open_websocket(c, request, check.upgrade.key, check.upgrade.protocols);
}

bool ServerCore::open_websocket(Connection& c, const protocol::HttpRequest& request,
                                std::string_view key, std::string_view protocols) {
  auto route = routes_.ws.find(std::string(request.path));
  if (route == routes_.ws.end()) route = routes_.ws.find("*");
  if (route == routes_.ws.end()) {
    answer_http_error(c, 404);
    return false;
  }
  const WebSocketHandlers& handlers = routes_.ws_handlers[route->second];
  protocol::DeflateNegotiation deflate;
  if (compressors_.enabled()) {
    deflate = protocol::negotiate_permessage_deflate(request, compressors_.policy());
  }
  if (handlers.on_upgrade) {
    // The application answers now or later: keep what the 101 needs, then ask.
    auto stash = std::make_unique<server::UpgradeStash>();
    stash->key = std::string(key);
    for (std::string_view offered : protocol::split_protocols(protocols))
      stash->offered.emplace_back(offered);
    stash->deflate = std::move(deflate);
    stash->route = route->second;
    stash->deciding = true;
    server::UpgradeStash& kept = *stash;
    c.more().upgrade = std::move(stash);
    c.state = ConnectionState::upgrading;
    handlers.on_upgrade(PendingUpgrade(this, c.slot, c.generation),
                        RequestView(request, c, local_port(c)));
    if (c.state == ConnectionState::upgrading) kept.deciding = false;
    return c.state == ConnectionState::open;
  }
  std::string chosen;
  if (handlers.select_protocol && !protocols.empty()) {
    const std::vector<std::string_view> offered = protocol::split_protocols(protocols);
    chosen = handlers.select_protocol(offered);
    // Only a protocol the client offered may be answered (RFC 6455 §4.1, client step 6).
    if (std::find(offered.begin(), offered.end(), chosen) == offered.end()) chosen.clear();
  }
  return complete_upgrade(c, key, std::move(chosen), std::move(deflate), route->second);
}

bool ServerCore::complete_upgrade(Connection& c, std::string_view key, std::string chosen,
                                  protocol::DeflateNegotiation deflate, std::uint16_t route) {
  if (c.h2_stream) {
    // RFC 8441 §5: a 200 with the negotiated headers, no Sec-WebSocket-Accept.
    h2_open_tunnel(c, chosen, deflate.accepted ? deflate.response : std::string());
  } else {
    const std::string extensions =
        deflate.accepted ? "Sec-WebSocket-Extensions: " + deflate.response + "\r\n" : std::string();
    const std::string response = protocol::build_upgrade_response(key, chosen, extensions);
    if (!write_raw(c, as_bytes(response), {}, /*now=*/true)) return false;
  }
  c.state = ConnectionState::open;
  ++stats_.websocket_upgrades;
  c.route = route;
  log(LogLevel::debug, "conn " + std::to_string(c.id) + " " + c.peer.to_string() + ": open",
      {{"conn", c.id},
       {"peer", c.peer.to_string()},
       {"protocol", chosen},
       {"compressed", deflate.accepted}});
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
  if (const auto& on_open = routes_.ws_handlers[route].on_open) on_open(handle(c));
  // A handshake that was under way when a restart began: the client reconnects at once.
  if (stopping_ && c.state == ConnectionState::open) close_connection(c, stop_code_, kRestarting);
  return c.state != ConnectionState::closed;
}

bool ServerCore::accept_upgrade(Connection& c, std::string_view protocol) {
  if (c.state != ConnectionState::upgrading || !c.extras || !c.extras->upgrade) return false;
  std::unique_ptr<server::UpgradeStash> stash = std::move(c.extras->upgrade);
  std::string chosen;
  if (std::find(stash->offered.begin(), stash->offered.end(), protocol) != stash->offered.end())
    chosen = std::string(protocol);
  c.state = ConnectionState::http;
  if (!complete_upgrade(c, stash->key, std::move(chosen), std::move(stash->deflate),
                        stash->route)) {
    return c.state != ConnectionState::closed;
  }
  // Answered later: frames the client sent early waited in the inbox. (Answered during
  // on_upgrade, the inbox still holds the request and handle_http passes the rest on.)
  if (!stash->deciding && !c.inbox.empty() && c.state == ConnectionState::open) {
    std::string early = std::move(c.inbox);
    c.inbox = std::string();
    handle_frames(c, {reinterpret_cast<std::byte*>(early.data()), early.size()});
  }
  return true;
}

bool ServerCore::reject_upgrade(Connection& c, int status, std::string_view body,
                                const std::vector<std::pair<std::string, std::string>>& headers) {
  if (c.state != ConnectionState::upgrading) return false;
  if (status < 400 || status > 599) status = 500;
  c.extras->upgrade.reset();
  c.state = ConnectionState::http;
  ++stats_.handshake_rejected;
  HttpResponse response{.status = status, .body = std::string(body), .headers = headers};
  c.keep_alive = false;
  answer_http(c, response, /*head_only=*/false);
  return true;
}

void ServerCore::serve_http(Connection& c, const protocol::HttpRequest& request,
                            std::string_view body) {
  const bool head_only = request.method == "HEAD";
  const std::string_view method = head_only ? std::string_view("GET") : request.method;
  auto route = routes_.http.find(route_key(method, request.path));
  if (route == routes_.http.end()) route = routes_.http.find(route_key(method, "*"));
  const auto connection = request.header("Connection");
  // Stopping (a restart lets handshakes under way finish): answer this one, then close.
  c.keep_alive = !stopping_ && request.version_minor >= 1 &&
                 !(connection && protocol::has_token(*connection, "close"));
  if (route != routes_.http.end() && route->second.later) {
    // Answered later: further requests wait in the inbox (HTTP/1.1 answers in order).
    server::ConnectionExtras& extras = c.more();
    extras.respond_head_only = head_only;
    extras.responding_in_call = true;
    c.state = ConnectionState::responding;
    arm_timer(c, options_.handshake_timeout_ms);
    route->second.later(RequestView(request, c, local_port(c), body),
                        PendingResponse(this, c.slot, c.generation));
    if (c.extras) c.extras->responding_in_call = false;
    return;
  }
  HttpResponse response;
  if (route != routes_.http.end()) {
    route->second.now(RequestView(request, c, local_port(c), body), response);
  } else if (method == "GET") {
    response.status = 404;
    response.body = "Not Found\n";
  } else {
    answer_http_error(c, 405);
    return;
  }
  answer_http(c, response, head_only);
}

bool ServerCore::respond_later(std::uint32_t slot, std::uint32_t generation,
                               HttpResponse response) {
  if (ServerCore::current() == this) {
    Connection* c = resolve(slot, generation);
    return c != nullptr && complete_response(*c, response);
  }
  // From another thread: the connection's loop answers. Whether it still waits is known there.
  return post(InboxItem{nullptr, [this, slot, generation, response = std::move(response)] {
                          if (Connection* c = resolve(slot, generation))
                            complete_response(*c, response);
                        }});
}

bool ServerCore::complete_response(Connection& c, const HttpResponse& response) {
  if (c.state != ConnectionState::responding) return false;
  c.state = ConnectionState::http;
  answer_http(c, response, c.extras && c.extras->respond_head_only);
  // Requests the client pipelined meanwhile: the next one's turn. (Answered during the
  // handler's call, the inbox still holds this request: handle_http goes on by itself.)
  const bool in_call = c.extras && c.extras->responding_in_call;
  if (!in_call && c.state == ConnectionState::http && !c.inbox.empty()) {
    std::string waiting = std::move(c.inbox);
    c.inbox = std::string();
    handle_http(c, {reinterpret_cast<std::byte*>(waiting.data()), waiting.size()});
  }
  return true;
}

void ServerCore::answer_http(Connection& c, const HttpResponse& response, bool head_only) {
  if (c.h2_stream) {
    h2_answer(c, response, head_only);
    return;
  }
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " +
                     std::string(protocol::reason_phrase(response.status)) + "\r\n";
  // 204 and 304 carry no body and so no Content-Length (RFC 9110 §8.6).
  const bool bodiless = response.status == 204 || response.status == 304;
  if (!bodiless) {
    head += "Content-Type: " + response.content_type + "\r\n";
    head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  }
  for (const auto& [name, value] : response.headers)
    head += name + ": " + value + "\r\n";
  if (!c.keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  c.served = true;
  const std::span<const std::byte> body =
      head_only || bodiless ? std::span<const std::byte>{} : as_bytes(response.body);
  if (!write_raw(c, as_bytes(head), body, /*now=*/true)) return;
  if (!c.keep_alive) {
    start_draining(c);
    return;
  }
  // The handshake timeout doubles as the keep-alive idle timeout.
  arm_timer(c, options_.handshake_timeout_ms);
}

}  // namespace hibiki::detail

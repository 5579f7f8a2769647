// HTTP/2 connections (ALPN h2) on the event loop: the parent connection feeds its H2Session,
// and every request is a stream Connection of its own in the slab, so that WebSocket handles,
// topics, timers, limits and stats work on a stream exactly as on a TCP connection.
// A stream's outgoing bytes wait in its own SendQueue until the parent's session takes them
// within the stream's flow-control window: bytes a slow reader leaves there count against
// max_buffered_bytes like a full socket's.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

#include "hibiki/log.hpp"
#include "protocol/handshake.hpp"
#include "protocol/http_request.hpp"
#include "server/server_core.hpp"

namespace hibiki::server {

// The parent connection's session, and the glue from its callbacks to the ServerCore.
struct H2Connection final : H2Session::Handler {
  H2Connection(detail::ServerCore& core, const Connection& parent, const H2Limits& limits)
      : core(core), slot(parent.slot), generation(parent.generation), session(*this, limits) {}

  // The stream's Connection; one already closed (reclaimed at the end of the turn) only when
  // `even_closed`.
  Connection* stream(std::int32_t id, bool even_closed = false) const {
    const std::uint64_t tag = session.tag(id);
    if (tag == 0) return nullptr;
    Connection* s =
        core.resolve(static_cast<std::uint32_t>(tag), static_cast<std::uint32_t>(tag >> 32));
    return s != nullptr && (even_closed || s->state != ConnectionState::closed) ? s : nullptr;
  }

  void on_request(std::int32_t id, H2Request& request) override {
    if (Connection* parent = core.resolve(slot, generation)) core.h2_request(*parent, id, request);
  }

  void on_tunnel_data(std::int32_t id, std::span<std::byte> bytes) override {
    Connection* s = stream(id);
    if (s == nullptr) return;
    s->last_read_ms = static_cast<std::uint32_t>(core.loop_.now_ms());
    core.handle_bytes(*s, bytes);
  }

  void on_tunnel_end(std::int32_t id) override {
    // RFC 8441 §5: END_STREAM is the TCP FIN of the WebSocket.
    if (Connection* s = stream(id)) {
      core.schedule_destroy(*s, close_code::kAbnormal, "stream ended without a close frame");
    }
  }

  void on_stream_close(std::int32_t id, std::uint32_t error_code) override {
    if (Connection* s = stream(id)) {
      core.schedule_destroy(*s, close_code::kAbnormal,
                            error_code != 0 ? "stream reset by the client" : "stream closed");
    }
  }

  std::size_t read_tunnel(std::int32_t id, std::span<std::byte> out, bool& end) override {
    // A stream closed this turn (the client's END_STREAM) still sends what it queued, say the
    // close frame answering the client's, before its own END_STREAM.
    Connection* s = stream(id, /*even_closed=*/true);
    if (s == nullptr) {
      end = true;
      return 0;
    }
    const std::size_t n = s->queue ? s->queue->take(out) : 0;
    // Emptied: the stream's own flush gives the queue back, runs on_drain or asks for
    // END_STREAM, after this send.
    if (n > 0 && !s->has_queued()) core.mark_dirty(*s);
    end = (s->write_shut || s->state == ConnectionState::closed) && !s->has_queued();
    return n;
  }

  detail::ServerCore& core;
  std::uint32_t slot;
  std::uint32_t generation;
  H2Session session;
  std::size_t streams = 0;  // stream Connections alive
  bool stopping = false;    // graceful stop: GOAWAY once the streams are closed
};

void H2ConnectionDeleter::operator()(H2Connection* h2) const {
  delete h2;
}

}  // namespace hibiki::server

namespace hibiki::detail {
namespace {

using server::Connection;
using server::ConnectionState;

// Frames the session may move into the parent's queue before the socket takes them: past it,
// outgoing bytes wait in the streams' queues where the backpressure policy sees them.
constexpr std::size_t kSendBudget = 64 * 1024;

// HTTP/1.1 connection-specific headers have no place in HTTP/2 (RFC 9113 §8.2.2); the
// length is the session's to say.
bool connection_specific(std::string_view name) {
  for (const char* banned : {"connection", "content-length", "keep-alive", "proxy-connection",
                             "transfer-encoding", "upgrade"}) {
    if (protocol::iequals(name, banned)) return true;
  }
  return false;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& ch : out)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

void ServerCore::start_h2(Connection& c) {
  const server::H2Limits limits{.max_streams = options_.http2_max_streams,
                                .max_header_bytes = options_.max_header_bytes,
                                .max_headers = options_.max_headers,
                                .max_body_bytes = options_.max_http_body_bytes};
  c.more().h2.reset(new server::H2Connection(*this, c, limits));
  c.state = ConnectionState::h2;
  ++stats_.http2_connections;
  log(LogLevel::debug, "conn " + std::to_string(c.id) + " " + c.peer.to_string() + ": HTTP/2",
      {{"conn", c.id}, {"peer", c.peer.to_string()}, {"protocol", "h2"}});
  // The handshake timeout doubles as the idle timeout of a connection without streams.
  if (options_.handshake_timeout_ms > 0) {
    arm_timer(c, options_.handshake_timeout_ms);
  } else {
    loop_.timers().disarm(c.slot);
  }
  if (stopping_) c.extras->h2->stopping = true;
  mark_dirty(c);  // the server's SETTINGS go first
}

void ServerCore::h2_receive(Connection& c, std::span<std::byte> bytes) {
  server::H2Connection& h2 = *c.extras->h2;
  if (!h2.session.receive(bytes)) {
    ++stats_.protocol_errors;
    log(LogLevel::info,
        "conn " + std::to_string(c.id) + " " + c.peer.to_string() + ": HTTP/2 protocol error",
        {{"conn", c.id}, {"peer", c.peer.to_string()}, {"protocol", "h2"}});
  }
  mark_dirty(c);
}

void ServerCore::h2_flush(Connection& c) {
  server::H2Connection& h2 = *c.extras->h2;
  if (h2.stopping && h2.streams == 0) h2.session.go_away();
  for (int round = 0;; ++round) {
    if (!h2.session.produce(out(c), kSendBudget)) {
      schedule_destroy(c, close_code::kAbnormal, "HTTP/2 session failed");
      return;
    }
    if (!c.has_queued()) break;
    const int rc = c.queue->flush(c.fd.get(), c.tls());
    if (rc == -EAGAIN) return;  // the writable edge brings us back
    if (rc < 0) {
      schedule_destroy(c, close_code::kAbnormal, std::strerror(-rc));
      return;
    }
    if (!h2.session.wants_write()) break;
    if (round == 16) {  // a fast reader of a long stream: let other connections have a turn
      mark_dirty(c);
      return;
    }
  }
  release_queue(c);
  if (!h2.session.alive()) {
    // GOAWAY sent (a graceful stop, an idle connection, a protocol error) and nothing left.
    h2_close_streams(c);
    start_draining(c);
  }
}

void ServerCore::h2_on_timer(Connection& c) {
  server::H2Connection& h2 = *c.extras->h2;
  if (options_.handshake_timeout_ms == 0) return;  // no idle limit
  const auto idle_ms = static_cast<std::uint32_t>(loop_.now_ms()) - c.last_read_ms;
  if (h2.streams > 0 || idle_ms < options_.handshake_timeout_ms) {
    arm_timer(c, options_.handshake_timeout_ms - std::min(idle_ms, options_.handshake_timeout_ms) +
                     (h2.streams > 0 ? options_.handshake_timeout_ms : 0));
    return;
  }
  if (h2.session.went_away()) {
    schedule_destroy(c, close_code::kAbnormal, "HTTP/2 connection idle after GOAWAY");
    return;
  }
  h2.session.go_away();
  arm_timer(c, options_.close_timeout_ms);
  mark_dirty(c);
}

void ServerCore::h2_begin_shutdown(Connection& c) {
  c.extras->h2->stopping = true;
  mark_dirty(c);
}

void ServerCore::h2_close_streams(Connection& c) {
  if (!c.extras || !c.extras->h2) return;
  c.extras->h2->session.for_each_tag([this](std::uint64_t tag) {
    if (Connection* s =
            resolve(static_cast<std::uint32_t>(tag), static_cast<std::uint32_t>(tag >> 32))) {
      schedule_destroy(*s, close_code::kAbnormal, "HTTP/2 connection closed");
    }
  });
}

Connection* ServerCore::h2_parent(const Connection& s) const {
  const server::H2StreamRef& ref = s.extras->h2_stream;
  Connection* parent = resolve(ref.parent_slot, ref.parent_generation);
  if (parent == nullptr || !parent->extras || !parent->extras->h2) return nullptr;
  return parent;
}

void ServerCore::h2_stream_flush(Connection& s) {
  Connection* parent = h2_parent(s);
  if (parent == nullptr) return;  // reclaimed with its parent (1006)
  if (s.has_queued()) {
    parent->extras->h2->session.resume(s.extras->h2_stream.stream_id);
    mark_dirty(*parent);
    return;
  }
  release_queue(s);
  if (s.state == ConnectionState::draining && !s.write_shut) h2_end_stream(s);
  if (s.backpressured && s.state == ConnectionState::open) {
    s.backpressured = false;
    if (auto& on_drain = routes_.ws_handlers[s.route].on_drain) on_drain(handle(s));
  }
}

void ServerCore::h2_end_stream(Connection& s) {
  s.write_shut = true;
  if (Connection* parent = h2_parent(s)) {
    parent->extras->h2->session.resume(s.extras->h2_stream.stream_id);
    mark_dirty(*parent);
  }
}

void ServerCore::h2_detach_stream(Connection& s) {
  Connection* parent = h2_parent(s);
  if (parent == nullptr) return;
  server::H2Connection& h2 = *parent->extras->h2;
  --h2.streams;
  mark_dirty(*parent);
  const std::int32_t id = s.extras->h2_stream.stream_id;
  if (!h2.session.is_open(id)) return;
  h2.session.set_tag(id, 0);
  if (!h2.session.responded(id)) {
    // Dropped before an answer (a stop, a deferred answer that never came).
    h2.session.respond(id, 503, {{"content-type", "text/plain"}}, "Service Unavailable\n");
    return;
  }
  if (!h2.session.is_tunnel(id)) return;  // a response still being sent
  if (h2.session.peer_ended(id)) {
    // The client ended its side: what we still had goes out, then our END_STREAM.
    std::string rest(s.buffered(), '\0');
    if (s.queue) s.queue->take({reinterpret_cast<std::byte*>(rest.data()), rest.size()});
    h2.session.end_tunnel(id, std::move(rest));
  } else {
    h2.session.reset(id, NGHTTP2_CANCEL);  // close handshake timed out, or the server stopped
  }
}

void ServerCore::h2_request(Connection& parent, std::int32_t id, server::H2Request& request) {
  server::H2Connection& h2 = *parent.extras->h2;
  const auto refuse_stream = [&](const char* why, std::uint64_t& counter) {
    ++counter;
    log(LogLevel::info,
        "conn " + std::to_string(parent.id) + " " + parent.peer.to_string() +
            ": HTTP/2 stream refused with 503: " + why,
        {{"conn", parent.id}, {"peer", parent.peer.to_string()}, {"status", 503}, {"reason", why}});
    h2.session.respond(id, 503, {{"content-type", "text/plain"}}, "Service Unavailable\n");
    mark_dirty(parent);
  };
  if (stopping_) {
    refuse_stream("server stopping", stats_.handshake_rejected);
    return;
  }
  switch (group_.admission().admit(parent.peer.ip)) {
    case Admission::Verdict::admitted:
      break;
    case Admission::Verdict::over_total:
      refuse_stream("max_connections reached", stats_.refused_max_connections);
      return;
    case Admission::Verdict::over_per_ip:
      refuse_stream("max_connections_per_ip reached", stats_.refused_max_connections_per_ip);
      return;
  }
  Connection& s = allocate();
  s.h2_stream = true;
  s.peer = parent.peer;
  s.listener = parent.listener;
  s.rate_tokens = 2.0f * static_cast<float>(options_.max_messages_per_second);
  s.last_read_ms = static_cast<std::uint32_t>(loop_.now_ms());
  s.rate_refill_ms = s.last_read_ms;
  s.parser.set_max_message_bytes(options_.max_message_bytes);
  s.more().h2_stream = {
      .parent_slot = parent.slot, .parent_generation = parent.generation, .stream_id = id};
  h2.session.set_tag(id, token_of(s));
  ++h2.streams;
  mark_dirty(parent);
  if (request.head_too_large) {
    answer_http_error(s, 431);
    return;
  }
  if (request.body_too_large) {
    answer_http_error(s, 413);
    return;
  }
  // The request as the HTTP/1.1 code sees one: pseudo-headers in the request line, :authority
  // as Host.
  std::vector<protocol::HttpHeader> headers;
  headers.reserve(request.headers.size() + 1);
  bool has_host = false;
  for (const auto& [name, value] : request.headers) {
    headers.push_back({name, value});
    has_host = has_host || name == "host";
  }
  if (!has_host && !request.authority.empty()) headers.push_back({"host", request.authority});
  protocol::HttpRequest view;
  view.method = request.method;
  view.target = request.path;
  const std::string_view target = request.path;
  const std::size_t question = target.find('?');
  view.path = target.substr(0, question);
  if (question != std::string_view::npos) view.query = target.substr(question + 1);
  view.headers = headers;
  if (request.method == "CONNECT") {
    h2_upgrade(s, view, request);
  } else {
    serve_http(s, view, request.body);
  }
}

void ServerCore::h2_upgrade(Connection& s, const protocol::HttpRequest& request,
                            const server::H2Request& h2) {
  // RFC 8441 §4-§5: :protocol websocket, :scheme, :path and :authority (nghttp2 has already
  // reset a stream that lacks one), Sec-WebSocket-Version 13; no key, no accept.
  int status = 0;
  std::string why;
  if (h2.protocol.empty()) {
    status = 405;  // a plain CONNECT: this is no proxy
    why = "CONNECT without :protocol";
  } else if (!protocol::iequals(h2.protocol, "websocket")) {
    status = 501;
    why = "unsupported :protocol " + h2.protocol.substr(0, 64);
  } else if (h2.path.empty() || h2.scheme.empty() || h2.authority.empty()) {
    status = 400;
    why = "missing pseudo-header";
  } else if (const auto version = request.header("sec-websocket-version"); !version) {
    status = 400;
    why = "missing sec-websocket-version";
  } else if (*version != "13") {
    status = 426;
    why = "unsupported sec-websocket-version";
  } else if (!options_.allowed_origins.empty()) {
    const auto origin = request.header("origin");
    const bool allowed =
        origin && std::any_of(options_.allowed_origins.begin(), options_.allowed_origins.end(),
                              [&](const std::string& o) { return protocol::iequals(o, *origin); });
    if (!allowed) {
      status = 403;
      why = "origin not allowed";
    }
  }
  if (status != 0) {
    log(LogLevel::info,
        "conn " + std::to_string(s.id) + " " + s.peer.to_string() +
            ": HTTP/2 WebSocket refused: " + why,
        {{"conn", s.id},
         {"peer", s.peer.to_string()},
         {"status", status},
         {"error", why},
         {"path", request.target}});
    answer_http_error(s, status);
    return;
  }
  open_websocket(s, request, {}, request.header("sec-websocket-protocol").value_or(""));
}

void ServerCore::h2_answer(Connection& s, const HttpResponse& response, bool head_only) {
  s.served = true;
  if (Connection* parent = h2_parent(s)) {
    server::H2Headers headers;
    headers.reserve(response.headers.size() + 1);
    if (response.status != 204 && response.status != 304) {
      headers.emplace_back("content-type", response.content_type);
    }
    for (const auto& [name, value] : response.headers) {
      if (!connection_specific(name)) headers.emplace_back(lower(name), value);
    }
    parent->extras->h2->session.respond(s.extras->h2_stream.stream_id, response.status, headers,
                                        response.body, head_only);
    mark_dirty(*parent);
  }
  // The answer is the session's now: the stream's Connection has done its job.
  schedule_destroy(s, 0, {});
}

void ServerCore::h2_open_tunnel(Connection& s, std::string_view chosen,
                                const std::string& extensions) {
  Connection* parent = h2_parent(s);
  if (parent == nullptr) return;
  server::H2Headers headers;
  if (!chosen.empty()) headers.emplace_back("sec-websocket-protocol", std::string(chosen));
  if (!extensions.empty()) headers.emplace_back("sec-websocket-extensions", extensions);
  parent->extras->h2->session.open_tunnel(s.extras->h2_stream.stream_id, headers);
  ++stats_.http2_websocket_streams;
  mark_dirty(*parent);
}

}  // namespace hibiki::detail

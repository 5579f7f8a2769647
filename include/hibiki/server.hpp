// The WebSocket server: routes, handlers, topics, run and graceful stop.
//
//   hibiki::Server server({.port = 9001});
//   server.ws("/", {.on_message = [](hibiki::WebSocket ws, std::string_view m,
//                                    hibiki::MessageKind k) { ws.send(m, k); }});
//   server.listen();
//   return server.run();
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hibiki/http.hpp"
#include "hibiki/options.hpp"
#include "hibiki/stats.hpp"
#include "hibiki/websocket.hpp"

namespace hibiki {

namespace detail {
class ServerGroup;
class ServerCore;
}  // namespace detail

// A WebSocket upgrade request waiting for the application's answer (WebSocketHandlers::
// on_upgrade). Cheap to copy; safe to keep after the client is gone (calls then return false).
// Thread: the thread of the loop that received the request.
class PendingUpgrade {
 public:
  PendingUpgrade() = default;
  // Completes the handshake (101) and opens the WebSocket; on_open runs before this returns.
  // `protocol` is answered only if the client offered it. False when the client is gone or the
  // upgrade was already answered.
  bool accept(std::string_view protocol = {}) const;
  // Refuses the upgrade with an HTTP status (400-599), a body and extra headers; the connection
  // then closes. False when the client is gone or the upgrade was already answered.
  bool reject(int status, std::string_view body = {},
              const std::vector<std::pair<std::string, std::string>>& headers = {}) const;
  [[nodiscard]] bool is_pending() const;
  // The id the WebSocket gets (WebSocket::id()), known before it opens.
  [[nodiscard]] std::uint64_t id() const;

 private:
  friend class detail::ServerCore;
  PendingUpgrade(detail::ServerCore* core, std::uint32_t slot, std::uint32_t generation)
      : core_(core), slot_(slot), generation_(generation) {}

  detail::ServerCore* core_ = nullptr;
  std::uint32_t slot_ = 0;
  std::uint32_t generation_ = 0;
};

// An HTTP request waiting for the application's answer (Server::route_deferred): a backend
// call, work on another loop or another server. Cheap to copy; answered once (later calls do
// nothing); safe to keep after the client is gone. No answer within handshake_timeout_ms gets
// 503. Requests pipelined behind it wait for it, as HTTP/1.1 requires.
class PendingResponse {
 public:
  PendingResponse() = default;
  // Sends the response. Thread: any. On the connection's loop, false when it was not the one
  // answer (answered already, the client gone); from another thread it is handed to that loop,
  // which sends it if it is, and false only when the server has stopped.
  bool respond(HttpResponse response) const;

 private:
  friend class detail::ServerCore;
  PendingResponse(detail::ServerCore* core, std::uint32_t slot, std::uint32_t generation)
      : core_(core), slot_(slot), generation_(generation) {}

  detail::ServerCore* core_ = nullptr;
  std::uint32_t slot_ = 0;
  std::uint32_t generation_ = 0;
};

struct WebSocketHandlers {
  // Decides each upgrade to this endpoint, now or later (an authorizer, a backend call): the
  // client waits for PendingUpgrade::accept() or reject(), at most handshake_timeout_ms (then
  // 503). `request` is valid only during the call. When set, select_protocol is not used.
  std::function<void(PendingUpgrade upgrade, const HttpRequestView& request)> on_upgrade;
  // Picks one of the client's offered subprotocols (in its order), or returns empty for none.
  std::function<std::string(std::span<const std::string_view> offered)> select_protocol;
  std::function<void(WebSocket)> on_open;
  // `message` is valid only during the call.
  std::function<void(WebSocket, std::string_view message, MessageKind kind)> on_message;
  // The buffered bytes went back under the cap after backpressure.
  std::function<void(WebSocket)> on_drain;
  // Once per opened connection: the peer's code (1005 if none, 1006 if the TCP connection
  // dropped) or ours if we closed first. The handle can no longer send.
  std::function<void(WebSocket, std::uint16_t code, std::string_view reason)> on_close;
};

// One of a server's event loops, for applications that keep per-loop state of their own (an
// HTTP client, a driver) next to the connections that loop owns: descriptors watched and timers
// run on that loop's thread, work handed to it, and what must finish before it stops. Cheap to
// copy; valid while its Server lives. Thread: the hooks (watch_descriptor … finish_before_
// stopping) from that loop's thread, or from any thread before run() or after it returned;
// index() and dispatch() from any thread.
class LoopHandle {
 public:
  static constexpr std::uint32_t kReadable = 1;
  static constexpr std::uint32_t kWritable = 2;
  static constexpr std::uint32_t kError = 4;

  // 0 … Server::loop_count() - 1; loop 0 runs on the thread that called run().
  [[nodiscard]] std::size_t index() const;
  // Level-triggered readiness of `fd`: interest is kReadable | kWritable; the callback gets the
  // ready bits, plus kError on an error or hang-up. Calling again replaces both.
  void watch_descriptor(int fd, std::uint32_t interest,
                        std::function<void(std::uint32_t)> callback) const;
  void unwatch_descriptor(int fd) const;
  // Runs `callback` once on this loop after delay_ms (millisecond precision; 0: at the end of
  // this turn). Returns an id for cancel_timer() on this same loop; cancelling a fired timer
  // does nothing.
  std::uint64_t set_timer(std::uint32_t delay_ms, std::function<void()> callback) const;
  void cancel_timer(std::uint64_t id) const;
  // Runs `task` on this loop: at once when called on it, else on its next turn, after what the
  // calling thread posted there before. False when not queued (stopped, or inbox full).
  bool dispatch(std::function<void()> task) const;
  // During a graceful stop this loop keeps running (up to shutdown_timeout_ms) while `busy`
  // returns true, after its connections are gone. `busy` is called on this loop's thread.
  void finish_before_stopping(std::function<bool()> busy) const;

 private:
  friend class Server;
  explicit LoopHandle(detail::ServerCore* core) : core_(core) {}
  detail::ServerCore* core_ = nullptr;
};

using HttpHandler = std::function<void(const HttpRequestView& request, HttpResponse& response)>;
// `request` is valid only during the call; answer through `pending`, now or later.
using DeferredHttpHandler =
    std::function<void(const HttpRequestView& request, PendingResponse pending)>;

class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // WebSocket endpoint at an exact path ("/" or "/ws"). "*" matches any path not routed.
  Server& ws(std::string path, WebSocketHandlers handlers);
  // GET (and HEAD) handler at an exact path; "*" is the fallback for other paths.
  Server& get(std::string path, HttpHandler handler);
  // Handler for another method ("POST", "PUT", "DELETE", ...) at an exact path or "*". A method
  // with no route gets 405; the body is in HttpRequestView::body().
  Server& route(std::string method, std::string path, HttpHandler handler);
  // A route answered later (PendingResponse), for any method, GET included (HEAD then gets
  // the head of the answer). Replaces a route of the same method and path.
  Server& route_deferred(std::string method, std::string path, DeferredHttpHandler handler);

  // Binds the listening socket (and loads the TLS files when set). Throws std::system_error
  // when it cannot bind, std::runtime_error when the TLS files cannot be used. Returns the port.
  std::uint16_t listen();
  [[nodiscard]] std::uint16_t port() const;
  // Another listening address served by the same routes, after listen(); handlers tell them
  // apart by HttpRequestView::local_port(). Same errors as listen(). Returns the port.
  // This one uses the main listener's TLS (ServerOptions' files), or none when it has none.
  std::uint16_t listen(const std::string& host, std::uint16_t port);
  // The same with a TLS of its own, whatever the main listener uses: `tls`'s files, or plain
  // TCP when both are empty (ListenerTls{}). Throws std::runtime_error when only one file is
  // named or the files cannot be used. reload_tls() reloads them too.
  std::uint16_t listen(const std::string& host, std::uint16_t port, const ListenerTls& tls);

  // Runs the event loops until stop() finishes: loop 0 on this thread, the others (threads > 1)
  // on threads of their own. Returns 0.
  int run();
  // Graceful stop: close listeners, send 1001 to every client, wait up to
  // shutdown_timeout_ms for the close handshakes, then run() returns.
  // Async-signal-safe and callable from any thread.
  void stop();
  // The same with another close code for the clients, e.g. close_code::kServiceRestart (1012)
  // when a successor takes over: they may reconnect at once. Async-signal-safe.
  void stop(std::uint16_t code);
  // Loads the TLS certificate and key files again for new connections, the main listener's and
  // those of listeners added with their own ListenerTls; open connections keep theirs. Files
  // that cannot be loaded are logged and that listener keeps its current certificate.
  // Async-signal-safe (meant for SIGHUP) and callable from any thread.
  void reload_tls();

  // Sends to every subscriber of `topic` on every loop, framed once per loop. Messages published
  // from one thread reach every subscriber in the order they were published. Returns how many
  // subscribers on the calling loop it was queued on (other loops deliver on their next turn).
  // Thread: any; from a handler, subscribers on its own loop get it before publish() returns.
  std::size_t publish(std::string_view topic, std::string_view message,
                      MessageKind kind = MessageKind::text);

  [[nodiscard]] std::size_t connection_count() const;

  // Runs `task` on loop 0 (the thread of run()): at once when called there, otherwise on its
  // next turn, after what this thread posted or published to loop 0 before. False when it was
  // not queued: the server has stopped, or loop 0 has 65,536 items waiting. Thread: any.
  bool dispatch(std::function<void()> task);
  // Runs `task` on the loop that owns `ws` (the only thread that may use it), likewise at once
  // or on that loop's next turn, in order with this thread's earlier dispatches and publishes
  // to that loop; not at all if the connection is gone by then. Thread: any.
  bool dispatch(WebSocket ws, std::function<void(WebSocket)> task);
  // `watcher` hears, on loop 0, when a topic gets its first subscriber anywhere on the server
  // (true) and when it loses its last one (false), in that order, once per change: what a
  // bridge to other servers subscribes upstream by. Call before listen().
  void watch_topics(std::function<void(std::string_view topic, bool has_subscribers)> watcher);

  // The server's event loops (ServerOptions::threads of them), and the one the calling thread
  // runs, if any. Thread: any.
  [[nodiscard]] std::size_t loop_count() const;
  [[nodiscard]] LoopHandle loop(std::size_t index) const;  // index < loop_count()
  [[nodiscard]] std::optional<LoopHandle> current_loop() const;

  // Hooks for libraries that bring their own sockets and timeouts (an HTTP client, a database
  // driver), driven by loop 0: the same as loop(0)'s. Thread: loop 0's (with threads = 1, the
  // run() thread).
  // Level-triggered readiness of `fd`: interest is kReadable | kWritable; the callback gets the
  // ready bits, plus kError on an error or hang-up. Calling again replaces both.
  static constexpr std::uint32_t kReadable = 1;
  static constexpr std::uint32_t kWritable = 2;
  static constexpr std::uint32_t kError = 4;
  void watch_descriptor(int fd, std::uint32_t interest,
                        std::function<void(std::uint32_t)> callback);
  void unwatch_descriptor(int fd);
  // Runs `callback` once, on loop 0, after delay_ms (millisecond precision; 0: at the end of
  // this loop turn). Returns an id for cancel_timer(); cancelling a fired timer does nothing.
  std::uint64_t set_timer(std::uint32_t delay_ms, std::function<void()> callback);
  void cancel_timer(std::uint64_t id);
  // During a graceful stop, loop 0 keeps running (up to shutdown_timeout_ms) while `busy`
  // returns true, after its connections are gone: calls started by on_close can finish.
  // (LoopHandle::finish_before_stopping for the other loops.)
  void finish_before_stopping(std::function<bool()> busy);
  // Counters of the server's work and of every limit it enforced, summed over the loops (other
  // loops' as of their last turn). Thread: a handler's; with threads = 1, the run() thread.
  [[nodiscard]] ServerStats stats() const;

 private:
  std::unique_ptr<detail::ServerGroup> group_;
};

}  // namespace hibiki

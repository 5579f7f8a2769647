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
#include <span>
#include <string>
#include <string_view>

#include "hibiki/http.hpp"
#include "hibiki/options.hpp"
#include "hibiki/stats.hpp"
#include "hibiki/websocket.hpp"

namespace hibiki {

namespace detail {
class ServerGroup;
}

struct WebSocketHandlers {
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

using HttpHandler = std::function<void(const HttpRequestView& request, HttpResponse& response)>;

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

  // Binds the listening socket (and loads the TLS files when set). Throws std::system_error
  // when it cannot bind, std::runtime_error when the TLS files cannot be used. Returns the port.
  std::uint16_t listen();
  [[nodiscard]] std::uint16_t port() const;

  // Runs the event loops until stop() finishes: loop 0 on this thread, the others (threads > 1)
  // on threads of their own. Returns 0.
  int run();
  // Graceful stop: close listeners, send 1001 to every client, wait up to
  // shutdown_timeout_ms for the close handshakes, then run() returns.
  // Async-signal-safe and callable from any thread.
  void stop();
  // Loads the TLS certificate and key files again for new connections; open connections keep
  // theirs. A file that cannot be loaded is logged and the current certificate stays.
  // Async-signal-safe (meant for SIGHUP) and callable from any thread.
  void reload_tls();

  // Sends to every subscriber of `topic` on every loop, framed once per loop. Messages published
  // from one thread reach every subscriber in the order they were published. Returns how many
  // subscribers on the calling loop it was queued on (other loops deliver on their next turn).
  // Thread: any; from a handler, subscribers on its own loop get it before publish() returns.
  std::size_t publish(std::string_view topic, std::string_view message,
                      MessageKind kind = MessageKind::text);

  [[nodiscard]] std::size_t connection_count() const;
  // Counters of the server's work and of every limit it enforced, summed over the loops (other
  // loops' as of their last turn). Thread: a handler's; with threads = 1, the run() thread.
  [[nodiscard]] ServerStats stats() const;

 private:
  std::unique_ptr<detail::ServerGroup> group_;
};

}  // namespace hibiki

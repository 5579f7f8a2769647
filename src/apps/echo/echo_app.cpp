// The echo application.
#include "apps/echo/echo_app.hpp"

#include <string>

#include "hibiki/stats.hpp"

namespace hibiki::apps {

ServerOptions echo_server_defaults() {
  return ServerOptions{
      .threads = 0,  // one loop per core: the echo handler keeps no state
      .port = 9001,
      .max_message_bytes = 16u << 20,
      // A 16 MiB echo must fit while the peer is still sending its next one.
      .max_buffered_bytes = 40u << 20,
  };
}

void mount_echo(Server& server) {
  server.ws("*", {.on_message = [](WebSocket ws, std::string_view message, MessageKind kind) {
              ws.send(message, kind);
            }});
  // Alive, and ready: the routes answer only once the server listens, and the echo needs
  // nothing else. What a load balancer checks.
  server.get("/healthz", [&server](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "application/json";
    response.body =
        R"({"status":"ok","connections":)" + std::to_string(server.connection_count()) + "}";
  });
  server.get("/readyz", [](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "application/json";
    response.body = R"({"status":"ready"})";
  });
  server.get("/metrics", [&server](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "text/plain; version=0.0.4";
    response.body = metrics_text(server.stats());
  });
}

}  // namespace hibiki::apps

// Broadcast: every message any client sends reaches every connected client, through a topic.
//   ./broadcast_server 9002   then connect several clients to ws://localhost:9002/
#include <hibiki/hibiki.hpp>

#include <cstdlib>

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 9002);
  hibiki::Server server({.port = port});
  server.ws("*", {
                     .on_open = [](hibiki::WebSocket ws) { ws.subscribe("everyone"); },
                     .on_message =
                         [&server](hibiki::WebSocket, std::string_view message,
                                   hibiki::MessageKind kind) {
                           server.publish("everyone", message, kind);
                         },
                 });
  server.listen();
  hibiki::log(hibiki::LogLevel::info,
              "broadcast on ws://localhost:" + std::to_string(server.port()));
  return server.run();
}

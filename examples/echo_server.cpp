// The smallest useful hibiki program: echo every message back.
//   ./echo_server 9001   then connect to ws://localhost:9001/
#include <hibiki/hibiki.hpp>

#include <cstdlib>

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 9001);
  hibiki::Server server({.port = port});
  server.ws("*", {.on_message = [](hibiki::WebSocket ws, std::string_view message,
                                   hibiki::MessageKind kind) { ws.send(message, kind); }});
  server.listen();
  hibiki::log(hibiki::LogLevel::info, "echo on ws://localhost:" + std::to_string(server.port()));
  return server.run();
}

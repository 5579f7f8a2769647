// Broadcast across servers: every message any client sends reaches every client connected to
// any node that shares the Redis. Start two nodes and connect to both:
//   ./cluster_broadcast 9002 redis://127.0.0.1:6379 & ./cluster_broadcast 9003
//   redis://127.0.0.1:6379
#include <hibiki/cluster.hpp>
#include <hibiki/hibiki.hpp>

#include <cstdlib>

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 9002);
  hibiki::Server server({.port = port});
  // Topics with local subscribers get one Redis subscription each, whatever their number.
  hibiki::ClusterBus bus(server, {.redis_url = argc > 2 ? argv[2] : "redis://127.0.0.1:6379"});
  server.ws("*", {
                     .on_open = [](hibiki::WebSocket ws) { ws.subscribe("everyone"); },
                     .on_message =
                         [&bus](hibiki::WebSocket ws, std::string_view message,
                                hibiki::MessageKind kind) {
                           // Refused while Redis is unreachable: say so rather than lose it.
                           if (!bus.publish("everyone", message, kind)) ws.send("unavailable");
                         },
                 });
  server.listen();
  bus.start();
  hibiki::log(hibiki::LogLevel::info,
              "cluster broadcast on ws://localhost:" + std::to_string(server.port()));
  return server.run();
}

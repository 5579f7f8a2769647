// Several servers as one, through Redis: topics whose messages reach subscribers on every node,
// plus the Redis link itself for applications that keep shared state there.
//
//   hibiki::Server server({.port = 9002});
//   hibiki::ClusterBus bus(server, {.redis_url = "redis://127.0.0.1:6379"});
//   server.ws("/", {.on_open = [](hibiki::WebSocket ws) { ws.subscribe("all"); },
//                   .on_message = [&bus](hibiki::WebSocket, std::string_view m,
//                                        hibiki::MessageKind k) { bus.publish("all", m, k); }});
//   server.listen();
//   bus.start();
//   return server.run();
//
// The bus speaks Redis through two connections driven by the server's loop 0 (no thread of its
// own, nothing blocks a loop): one for commands and publishes, pipelined, and one for
// subscriptions. A topic costs one Redis subscription per node, held while the node has local
// subscribers, whatever their number; a message crosses Redis once per node and then fans out
// locally through Server::publish. The link is probed, so a silent network cut is noticed, and
// re-established with jittered backoff; subscriptions come back with it.
// Link with the CMake target `hibiki_cluster` (Debian's libhiredis).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hibiki/server.hpp"
#include "hibiki/websocket.hpp"

namespace hibiki {

namespace cluster {
class Bus;
}

// Where Redis is: redis://[:PASSWORD@]HOST[:PORT][/DB], HOST a name, an IPv4 address or an
// IPv6 address in brackets; PORT 6379 and DB 0 by default.
struct RedisAddress {
  std::string host;
  std::uint16_t port = 6379;
  std::uint32_t db = 0;
  std::string password;  // empty: no AUTH
};
// nullopt, with the reason in `error`, when `url` does not parse.
std::optional<RedisAddress> parse_redis_url(std::string_view url, std::string* error = nullptr);

// One Redis reply, copied out of the client library.
struct RedisReply {
  enum class Type : std::uint8_t { nil, integer, string, status, error, array };
  Type type = Type::nil;
  long long integer = 0;
  std::string text;  // the string, status or error text
  std::vector<RedisReply> elements;
  [[nodiscard]] bool is_error() const { return type == Type::error; }
};

struct ClusterOptions {
  std::string redis_url = "redis://127.0.0.1:6379";
  // Prefix of every key and channel the bus uses, so several clusters can share one Redis.
  std::string prefix = "hibiki";
  // Publish topics through Redis (topics with local subscribers get a Redis subscription).
  // Off for applications that only want the link (commands and channels of their own).
  bool bridge_topics = true;
  std::uint32_t connect_timeout_ms = 3000;
  // A probe goes round the link every probe_interval_ms; no answer within probe_timeout_ms
  // (a cut without FIN or RST) drops the link and reconnects.
  std::uint32_t probe_interval_ms = 1000;
  std::uint32_t probe_timeout_ms = 3000;
  // Reconnect delays: doubling from the first to the cap, each drawn at random in its upper
  // half, so nodes that lost Redis together do not come back in step.
  std::uint32_t reconnect_min_ms = 100;
  std::uint32_t reconnect_max_ms = 5000;
  // Commands waiting for their reply; past it command() and publish() refuse.
  std::size_t max_in_flight = 65536;
};

struct ClusterStats {
  bool link_up = false;
  std::uint64_t published = 0;        // topic messages sent to Redis
  std::uint64_t publish_refused = 0;  // publish() while the link was down or full
  std::uint64_t received = 0;         // topic and channel messages received from Redis
  std::uint64_t reconnects = 0;       // links established after the first
  std::uint64_t link_failures = 0;    // links lost (error, close, probe timeout, connect timeout)
  std::uint64_t commands = 0;         // commands sent (publishes and the application's)
  std::uint64_t commands_in_flight = 0;
  std::uint64_t subscriptions = 0;  // channels subscribed now (topics and the application's)
};

// A channel the application subscribes to itself: its messages, and whether the subscription
// is in place (false when the link drops: messages may have been missed until it is back).
struct ChannelHandlers {
  std::function<void(std::string_view payload)> on_message;
  std::function<void(bool subscribed)> on_state;
};

class ClusterBus {
 public:
  // Watches the server's topics (bridge_topics), so construct it before server.listen().
  // Throws std::invalid_argument when the URL does not parse, std::runtime_error when its
  // host name does not resolve (resolved once, here, never on a loop).
  ClusterBus(Server& server, ClusterOptions options);
  ~ClusterBus();
  ClusterBus(const ClusterBus&) = delete;
  ClusterBus& operator=(const ClusterBus&) = delete;

  // Starts connecting, from loop 0 (queued there when called before run()). Thread: any.
  void start();

  // Sends `message` to the subscribers of `topic` on every node of the cluster, this one
  // included, once each; messages one node publishes arrive everywhere in that order.
  // False when refused (link down, too many in flight): nobody gets it. Thread: any (from
  // another loop than 0 it is handed to loop 0, keeping each thread's order).
  bool publish(std::string_view topic, std::string_view message,
               MessageKind kind = MessageKind::text);

  // The link, for applications with state of their own in Redis. Thread: loop 0 only.
  // Sends one command; `on_reply` gets the reply, or nullptr when the link failed first (the
  // command may or may not have run). False (and no callback) when the link is down or full.
  bool command(std::vector<std::string> arguments,
               std::function<void(const RedisReply* reply)> on_reply);
  // Subscribes to `channel` (the full Redis name) while the node runs, again after every
  // reconnect; on_state(true) each time the subscription is confirmed. Replaces a previous
  // subscription of the same channel.
  void subscribe_channel(const std::string& channel, ChannelHandlers handlers);
  void unsubscribe_channel(const std::string& channel);
  // Told when the link comes up (after its handshake) and when it goes down.
  void on_link_change(std::function<void(bool up)> callback);
  [[nodiscard]] bool link_up() const;
  // Why the link is down ("connecting", "connection refused", "no answer to the probe in
  // 3000 ms", ...), empty when it is up. Thread: any.
  [[nodiscard]] std::string link_status() const;

  // Thread: any.
  [[nodiscard]] ClusterStats stats() const;
  [[nodiscard]] const ClusterOptions& options() const;

 private:
  std::unique_ptr<cluster::Bus> bus_;
};

// "# TYPE hibiki_cluster_link_up gauge\nhibiki_cluster_link_up 1\n..." for every counter.
std::string metrics_text(const ClusterStats& stats);

}  // namespace hibiki

// Several `hibiki gateway` nodes as one API, through Redis (hibiki::ClusterBus): a cluster-wide
// registry of which node holds each connection, management calls forwarded to that node and
// answered as if local, and @topics published to subscribers on every node.
//
// Redis keys, under "<prefix>:gw:" —
//   node:<node>    this node is alive; expires dead_after_ms after its last heartbeat
//   nodes          set of the nodes that have registered
//   conn:<id>      the node holding connection <id>
//   conns:<node>   set of the connection ids a node holds (for reaping a dead node's)
//   subs:<node>    hash topic → subscribers on that node (for @topics' "delivered")
// Channel "<prefix>:gw:to:<node>" carries calls to a node and answers back (cluster_messages).
// A node whose key expired is dead: its ids answer 410, and a heartbeat of any live node reaps
// its entries. Everything here runs on loop 0; the public calls hop there from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "apps/gateway/cluster_messages.hpp"
#include "apps/gateway/management_api.hpp"
#include "hibiki/cluster.hpp"
#include "hibiki/server.hpp"

namespace hibiki::apps::gateway {

struct GatewayClusterOptions {
  std::string redis_url;
  std::string prefix = "hibiki";
  std::string node_id;  // empty: "<host name>:<WebSocket port>", set by start()
  std::uint32_t heartbeat_ms = 2000;
  std::uint32_t dead_after_ms = 10000;  // a node silent this long is dead (its ids: 410)
  std::uint32_t forward_timeout_ms = 5000;
  std::size_t max_forwarded_in_flight = 10000;
};

// An answer to a management call; `base` (headers every answer carries) is filled in by the
// caller, the cluster sets status, body and error type.
using ClusterAnswer = std::function<void(int status, std::string error_type, std::string body)>;

class GatewayCluster {
 public:
  // Carries out a call on a connection of this node and answers it (on any thread).
  using LocalAction = std::function<void(ForwardedCall call, ClusterAnswer answer)>;

  // Construct before server.listen() (the bus watches the server's topics). Throws like
  // ClusterBus on a bad URL or an unknown host.
  GatewayCluster(Server& server, GatewayClusterOptions options, LocalAction local_action);
  ~GatewayCluster();
  GatewayCluster(const GatewayCluster&) = delete;
  GatewayCluster& operator=(const GatewayCluster&) = delete;

  // Connects; `port` names the node when no id was configured. Thread: any.
  void start(std::uint16_t port);
  // Registered with Redis and linked: connections may be accepted. Thread: any.
  [[nodiscard]] bool ready() const;
  // Why not ready ("" when ready). Thread: any.
  [[nodiscard]] std::string not_ready_reason() const;
  [[nodiscard]] const std::string& node_id() const;

  // A connection opened or closed on this node. Thread: any.
  void connection_opened(const std::string& connection_id);
  void connection_closed(const std::string& connection_id);
  // A connection of this node (un)subscribed to an @topic. Thread: any.
  void subscriber_changed(const std::string& topic, int change);

  // A call on a connection this node does not hold: to the node that does, whose answer comes
  // back through `answer`; 410 when no live node holds it, 503 when that node does not answer.
  // Thread: any.
  void forward(ForwardedCall call, ClusterAnswer answer);
  // Publishes to the topic's subscribers on every node; `delivered` gets their number (as the
  // nodes last reported them), or nullopt when Redis could not be reached. Thread: any.
  void publish(const std::string& topic, std::string body, MessageKind kind,
               std::function<void(std::optional<std::size_t> delivered)> delivered);

  // Commands or forwarded calls still waiting for Redis or another node (loop 0).
  [[nodiscard]] bool busy() const;
  // The bus' and the forwarding's counters, Prometheus text. Thread: any.
  [[nodiscard]] std::string metrics_text() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hibiki::apps::gateway

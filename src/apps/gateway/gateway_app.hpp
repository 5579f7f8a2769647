// `hibiki gateway`: API Gateway's WebSocket model on this machine. Clients connect over
// WebSocket; $connect, $disconnect and routed messages go to HTTP backends as Lambda-proxy
// events; backends answer $connect (accept or refuse the upgrade), may answer messages
// (two-way routes), and push to clients through the @connections management API on its own
// listener. Connections and integration calls are recorded in SQLite.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "apps/gateway/gateway_cluster.hpp"
#include "apps/gateway/gateway_config.hpp"
#include "apps/gateway/gateway_metrics.hpp"
#include "apps/gateway/headers.hpp"
#include "apps/gateway/integration_client.hpp"
#include "apps/gateway/lambda_event.hpp"
#include "apps/gateway/management_api.hpp"
#include "hibiki/server.hpp"
#include "store/connection_registry.hpp"

namespace hibiki::apps::gateway {

// Server options that carry out the config's limits and its number of loops.
ServerOptions gateway_server_options(const GatewayConfig& config);

// A management answer, produced on whichever loop (or node) holds the connection.
using ManagementDone = std::function<void(HttpResponse response)>;

class Gateway {
 public:
  // Adds the handlers to `server` (made with gateway_server_options) and opens the registry.
  // Throws std::runtime_error when the registry cannot be opened.
  Gateway(Server& server, GatewayConfig config);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds the WebSocket listener, then the management API's. Throws std::system_error.
  // Returns {WebSocket port, management port}.
  std::pair<std::uint16_t, std::uint16_t> listen();

 private:
  struct Client;  // one WebSocket client, from its upgrade to its close
  struct Loop;    // what one event loop owns: its clients and its integration client

  // WebSocket side (gateway_app.cpp); each runs on the loop of its connection.
  void on_upgrade(PendingUpgrade upgrade, const HttpRequestView& request);
  void on_open(WebSocket ws);
  void on_message(WebSocket ws, std::string_view message, MessageKind kind);
  void on_close(WebSocket ws, std::uint16_t code, std::string_view reason);
  bool within_connection_rate();
  void sweep(Loop& loop);  // idle and lifetime limits (and on loop 0 the registry); every second
  // POSTs an event to `route`'s integration from the calling loop, logs and records the call,
  // then calls `done` on that loop.
  void invoke(const RouteConfig& route, const std::string& connection_id,
              const std::string& request_id, std::string event,
              std::function<void(const IntegrationResponse&)> done);
  Loop& this_loop();
  // $connect's integration decides the upgrade (none: accepted at once).
  void connect_route(PendingUpgrade upgrade, Client& client, const HeaderList& headers,
                     std::string_view query);
  // The [authorizer] first (gateway_authorize.cpp): identity sources, then the authorizer's
  // policy; allowed, connect_route runs; else the upgrade is refused as API Gateway refuses it.
  void authorize(PendingUpgrade upgrade, Client& client, HeaderList headers, std::string query);
  [[nodiscard]] EventContext event_context(const Client& client, std::string_view route_key,
                                           std::int64_t request_time_ms,
                                           std::string_view request_id,
                                           std::string_view extended_request_id) const;
  // The registry is shared by the loops; every use goes through here.
  template <typename Use>
  auto with_registry(Use use) {
    const std::lock_guard lock(registry_mutex_);
    return use(*registry_);
  }

  // Management API (management_routes.cpp)
  void serve_http(const HttpRequestView& request, PendingResponse pending);
  void serve_management(const HttpRequestView& request, PendingResponse pending);
  // /healthz, /readyz and /metrics on the management port; false for any other path.
  bool serve_operations(const HttpRequestView& request, HttpResponse& response);
  bool authorized(const HttpRequestView& request, HttpResponse& response);
  // Carries out `request` (an action on one connection) where the connection lives: on its
  // loop, and `done` gets the answer there. `done` gets 410 (GoneException) when no connection
  // of this node has that id, or when it closes before its loop gets to it.
  // `base` is the answer prefilled with what every answer carries. A connection this node
  // does not hold is looked for on the other nodes when `forward` (a call from a client of the
  // API, not one another node forwarded here).
  void act_on_connection(const ManagementRequest& request, std::string body, HttpResponse base,
                         ManagementDone done, bool forward = true);
  void act(Client& client, const ManagementRequest& request, std::string_view body,
           HttpResponse& response);
  [[nodiscard]] std::size_t open_connections() const;
  // Subscribers of @topics on this node, for the publish answer's "delivered".
  void count_subscriber(const std::string& topic, int change);
  [[nodiscard]] std::size_t subscriber_count(const std::string& topic) const;

  Server& server_;
  GatewayConfig config_;
  HttpHandler page_;  // the chat page on the WebSocket port
  std::uint16_t management_port_ = 0;
  std::mutex registry_mutex_;
  std::unique_ptr<store::ConnectionRegistry> registry_;
  GatewayMetrics metrics_;                    // thread-safe
  std::vector<std::unique_ptr<Loop>> loops_;  // by loop index
  // Open connections by connection id, whatever their loop: what management calls look up.
  mutable std::mutex directory_mutex_;
  std::unordered_map<std::string, WebSocket> directory_;
  mutable std::mutex topics_mutex_;
  std::unordered_map<std::string, std::size_t> subscribers_;  // by topic, every loop's
  std::unique_ptr<GatewayCluster> cluster_;                   // with [cluster]
  std::mutex rate_mutex_;
  double connect_tokens_ = 0;  // new connections allowed now (token bucket)
  std::int64_t connect_refill_ms_ = 0;
};

}  // namespace hibiki::apps::gateway

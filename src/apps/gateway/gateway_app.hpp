// `hibiki gateway`: API Gateway's WebSocket model on this machine. Clients connect over
// WebSocket; $connect, $disconnect and routed messages go to HTTP backends as Lambda-proxy
// events; backends answer $connect (accept or refuse the upgrade), may answer messages
// (two-way routes), and push to clients through the @connections management API on its own
// listener. Connections and integration calls are recorded in SQLite.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "apps/gateway/gateway_config.hpp"
#include "apps/gateway/gateway_metrics.hpp"
#include "apps/gateway/headers.hpp"
#include "apps/gateway/integration_client.hpp"
#include "apps/gateway/lambda_event.hpp"
#include "apps/gateway/server_reactor.hpp"
#include "hibiki/server.hpp"
#include "store/connection_registry.hpp"

namespace hibiki::apps::gateway {

// Server options that carry out the config's limits (one loop: the gateway's state and its
// backend client live on it).
ServerOptions gateway_server_options(const GatewayConfig& config);

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

  // WebSocket side (gateway_app.cpp)
  void on_upgrade(PendingUpgrade upgrade, const HttpRequestView& request);
  void on_open(WebSocket ws);
  void on_message(WebSocket ws, std::string_view message, MessageKind kind);
  void on_close(WebSocket ws, std::uint16_t code, std::string_view reason);
  bool within_connection_rate();
  void sweep();  // idle and lifetime limits, registry flush; every second
  // POSTs an event to `route`'s integration, logs and records the call, then calls `done`.
  void invoke(const RouteConfig& route, const std::string& connection_id,
              const std::string& request_id, std::string event,
              std::function<void(const IntegrationResponse&)> done);
  // $connect's integration decides the upgrade (none: accepted at once).
  void connect_route(PendingUpgrade upgrade, Client& client, const HeaderList& headers,
                     std::string_view query);
  // The [authorizer] first (gateway_authorize.cpp): identity sources, then the authorizer's
  // policy; allowed, connect_route runs; else the upgrade is refused as API Gateway refuses it.
  void authorize(PendingUpgrade upgrade, Client& client, HeaderList headers, std::string query);
  Client* open_client(std::string_view connection_id);
  [[nodiscard]] EventContext event_context(const Client& client, std::string_view route_key,
                                           std::int64_t request_time_ms,
                                           std::string_view request_id,
                                           std::string_view extended_request_id) const;

  // Management API (management_api_routes.cpp)
  void serve_management(const HttpRequestView& request, HttpResponse& response);
  // /healthz, /readyz and /metrics on the management port; false for any other path.
  bool serve_operations(const HttpRequestView& request, HttpResponse& response);
  bool authorized(const HttpRequestView& request, HttpResponse& response);

  Server& server_;
  GatewayConfig config_;
  std::uint16_t management_port_ = 0;
  std::unique_ptr<store::ConnectionRegistry> registry_;
  ServerReactor reactor_;
  std::unique_ptr<IntegrationClient> integrations_;
  GatewayMetrics metrics_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Client>> clients_;  // by WebSocket id
  std::unordered_map<std::string, Client*> by_connection_id_;           // open clients
  double connect_tokens_ = 0;  // new connections allowed now (token bucket)
  std::int64_t connect_refill_ms_ = 0;
  std::uint64_t sweep_timer_ = 0;
};

}  // namespace hibiki::apps::gateway

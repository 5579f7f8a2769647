// One client of the gateway as both of its halves (gateway_app.cpp, management_routes.cpp) see
// it, from the upgrade request to the close, and the loop that owns it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "apps/gateway/gateway_app.hpp"
#include "apps/gateway/server_reactor.hpp"

namespace hibiki::apps::gateway {

struct Gateway::Client {
  std::string connection_id;  // AWS-like, what backends and @connections use
  WebSocket ws;               // set when the upgrade is accepted
  std::int64_t connected_at_ms = 0;
  std::int64_t last_active_ms = 0;  // a message either way; drives the idle limit
  std::string source_ip;
  std::string user_agent;
  std::string domain_name;
  // What the $connect authorizer allowed it with; requestContext.authorizer in its events.
  std::optional<AuthorizerContext> authorizer;
  std::unordered_set<std::string> topics;  // @topics it is subscribed to
};

// One event loop's share of the gateway, used only on that loop's thread: the clients it
// accepted and the HTTP client that carries their events, so integration calls never cross
// loops or wait on a lock.
struct Gateway::Loop {
  explicit Loop(LoopHandle handle) : handle(handle), reactor(handle), integrations(reactor) {}
  LoopHandle handle;
  ServerReactor reactor;
  IntegrationClient integrations;
  std::unordered_map<std::uint64_t, std::unique_ptr<Client>> clients;  // by WebSocket id
  std::unordered_map<std::string, Client*> open;                       // by connection id
  std::atomic<std::size_t> open_count{0};  // open.size(), for /metrics on another loop
  std::uint64_t sweep_timer = 0;
};

// Wall-clock milliseconds, as API Gateway's events and GetConnection report them.
inline std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace hibiki::apps::gateway

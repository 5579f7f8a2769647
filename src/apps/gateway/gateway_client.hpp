// One client of the gateway as both of its halves (gateway_app.cpp, management_routes.cpp) see
// it: from the upgrade request to the close.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "apps/gateway/gateway_app.hpp"

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
};

// Wall-clock milliseconds, as API Gateway's events and GetConnection report them.
inline std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace hibiki::apps::gateway

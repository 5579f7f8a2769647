// The gateway's configuration file (TOML): what it holds, its defaults, and the loader that
// checks every key. Unknown keys, wrong types and out-of-range values are errors that name the
// key, e.g. `routes."message".timeout_ms: must be between 50 and 29000`. Reads a file only in
// load_gateway_config_file.
//
//   [gateway]     host, port, threads, stage, api_id, domain_name, profile,
//                 route_selection_expression, connect_refusal, and overrides of the
//                 profile's limits
//   [tls]         cert, key: PEM files for wss:// and https:// on the WebSocket port
//   [management]  host, port, token, sigv4_access_key_id, sigv4_secret_access_key,
//                 sigv4_region, sigv4_service, allow_loopback
//   [management.tls]  cert, key: PEM files for https:// on the management port
//   [registry]    path
//   [routes."<route key>"]  integration, timeout_ms, route_response
//   [authorizer]  integration, identity_sources, timeout_ms, account_id, region: a $connect
//                 REQUEST authorizer (authorizer.hpp); none when the section is absent
//   [cluster]     redis, node_id, prefix: several nodes as one through Redis
//                 (gateway_cluster.hpp); one node alone when the section is absent
//
// Each TLS table is optional (without it the port is plain); when present it needs both keys.
// SIGHUP reloads both pairs of files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apps/gateway/authorizer.hpp"
#include "apps/gateway/integration_url.hpp"
#include "apps/gateway/route_selection.hpp"

namespace hibiki::apps::gateway {

enum class Profile : std::uint8_t {
  aws,      // API Gateway's quotas, so what works locally works deployed
  relaxed,  // no idle or lifetime limit, 16 MiB messages and frames, no connection rate limit
};

// Limits on client connections. 0 turns a time or rate limit off.
struct GatewayLimits {
  std::uint32_t idle_timeout_s = 600;              // no frame either way for this long: close
  std::uint32_t max_duration_s = 7200;             // a connection's whole life
  std::uint32_t max_message_bytes = 131072;        // 128 KiB over all frames of a message
  std::uint32_t max_frame_bytes = 32768;           // 32 KiB per frame
  std::uint32_t new_connections_per_second = 500;  // accepted upgrades per second, all clients
};

// aws: 600 s, 7200 s, 128 KiB, 32 KiB, 500/s. relaxed: 0, 0, 16 MiB, 16 MiB, 0.
[[nodiscard]] GatewayLimits profile_limits(Profile profile);

struct RouteConfig {
  std::string key;                   // "$connect", "$disconnect", "$default" or a custom key
  std::string integration;           // the URL as written
  IntegrationUrl url;                // the same, parsed
  std::uint32_t timeout_ms = 29000;  // 50..29000, API Gateway's integration timeout range
  bool route_response = false;       // two-way: the integration's answer goes back to the client
};

// A listener's TLS: PEM files of the certificate chain and of its private key. Both empty (no
// [tls] table): plain TCP.
struct TlsFiles {
  std::string cert;
  std::string key;
  [[nodiscard]] bool enabled() const { return !cert.empty(); }
};

struct ManagementConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8081;
  TlsFiles tls;  // [management.tls]: https:// on the management port
  // When set, requests need "Authorization: Bearer <token>" or a SigV4 Authorization header
  // (checked when a secret is set). When empty, only loopback peers may call.
  std::string token;
  // With a secret, SigV4 signatures are verified against it (and this key id); without one, a
  // SigV4 Authorization header is accepted unchecked, from loopback peers only.
  std::string sigv4_access_key_id;
  std::string sigv4_secret_access_key;
  // When set, a SigV4 credential scope must name this region and this service (AWS's
  // "execute-api"); any is accepted when empty.
  std::string sigv4_region;
  std::string sigv4_service;
  // Loopback callers without credentials: accepted when nothing is configured; once a token or
  // a key pair is, only when this says so (true).
  std::optional<bool> allow_loopback;
  [[nodiscard]] bool has_credentials() const {
    return !token.empty() || !sigv4_secret_access_key.empty();
  }
  [[nodiscard]] bool loopback_exempt() const { return allow_loopback.value_or(!has_credentials()); }
};

// The $connect REQUEST authorizer: an HTTP endpoint standing in for the Lambda function.
struct AuthorizerConfig {
  std::string integration;  // the URL the authorizer event is POSTed to, as written
  IntegrationUrl url;       // the same, parsed
  // Checked before the call: a missing or empty one refuses the upgrade with 401. Empty: the
  // authorizer is always called.
  std::vector<IdentitySource> identity_sources;
  // 50..10000: 10 s is the Lambda authorizer timeout of API Gateway's HTTP API quotas (the
  // WebSocket quotas name none).
  std::uint32_t timeout_ms = 10000;
  // The methodArn's account and region: arn:aws:execute-api:{region}:{account_id}:{api_id}/…
  std::string account_id = "123456789012";  // 12 digits; AWS's documentation example account
  std::string region = "us-east-1";
};

// Several gateway nodes sharing one Redis (docs/GATEWAY.md, "Several nodes").
struct ClusterConfig {
  std::string redis_url;  // redis://[:PASSWORD@]HOST[:PORT][/DB]
  std::string node_id;    // empty: "<host name>:<WebSocket port>"
  std::string prefix = "hibiki";
};

struct GatewayConfig {
  std::string host = "0.0.0.0";  // the WebSocket listener
  std::uint16_t port = 8080;     // 0 picks a free port
  // Event loops, each with its own connections and its own client for the integrations; 0: one
  // per core.
  std::uint32_t threads = 0;
  TlsFiles tls;               // [tls]: wss:// and https:// on the WebSocket port
  std::string stage = "dev";  // in events and in management paths /{stage}/@connections/...
  std::string api_id = "local";
  std::string domain_name;  // requestContext.domainName; empty: the upgrade's Host header
  Profile profile = Profile::aws;
  RouteSelector route_selector = default_route_selector();  // route_selection_expression
  // Status of a refused upgrade when $connect's integration answers non-2xx: 0 means the
  // integration's own status (connect_refusal = "backend"), else this fixed status (400-599).
  int connect_refusal_status = 0;
  GatewayLimits limits;  // the profile's, with the file's overrides applied
  ManagementConfig management;
  std::string registry_path = "data/gateway.sqlite3";  // ":memory:" keeps nothing
  std::vector<RouteConfig> routes;                     // sorted by key
  RouteTable route_table;                              // the keys of `routes`, for select_route
  std::optional<ClusterConfig> cluster;                // [cluster]; one node without it
  std::optional<AuthorizerConfig> authorizer;          // [authorizer]; none without the section

  // The route with exactly this key, or null.
  [[nodiscard]] const RouteConfig* find_route(std::string_view key) const;
};

// Parses and checks TOML text. On failure returns nothing and sets `error` to one line naming
// the key (or the TOML syntax error's line and column).
[[nodiscard]] std::optional<GatewayConfig> load_gateway_config(std::string_view toml_text,
                                                               std::string& error);

// The same for a file; an unreadable file is an error naming the path.
[[nodiscard]] std::optional<GatewayConfig> load_gateway_config_file(const std::string& path,
                                                                    std::string& error);

}  // namespace hibiki::apps::gateway

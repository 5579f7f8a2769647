// Fuzzes the gateway's configuration loader: load_gateway_config on any TOML text must return a
// configuration or a one-line error, never throw, and a configuration it returns must hold only
// values its documented ranges allow.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apps/gateway/gateway_config.hpp"
#include "apps/gateway/integration_url.hpp"
#include "apps/gateway/route_selection.hpp"
#include "fuzz_support.hpp"

namespace {

namespace gw = hibiki::apps::gateway;
using hibiki::fuzz::check;

bool is_name_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         ch == '-' || ch == '_';
}

bool is_word(std::string_view text) {
  return !text.empty() && std::none_of(text.begin(), text.end(), [](char ch) {
    const auto byte = static_cast<unsigned char>(ch);
    return byte <= 0x20 || byte == 0x7F;
  });
}

void check_config(const gw::GatewayConfig& config) {
  check(is_word(config.host), "gateway.host is empty or holds spaces or control characters");
  check(!config.stage.empty() && config.stage.size() <= 128 &&
            std::all_of(config.stage.begin(), config.stage.end(), is_name_char),
        "gateway.stage outside 1-128 characters of A-Z a-z 0-9 - _");
  check(!config.api_id.empty() &&
            std::all_of(config.api_id.begin(), config.api_id.end(), is_name_char),
        "gateway.api_id is not A-Z a-z 0-9 - _");
  check(config.domain_name.empty() || is_word(config.domain_name),
        "gateway.domain_name holds spaces or control characters");
  check(!config.route_selector.path().empty(), "a route selector without a path");
  check(config.connect_refusal_status == 0 ||
            (config.connect_refusal_status >= 400 && config.connect_refusal_status <= 599),
        "connect_refusal outside 0 and 400-599");

  const gw::GatewayLimits& limits = config.limits;
  constexpr std::uint32_t kMaxBytes = std::uint32_t{1} << 30;
  check(limits.max_message_bytes >= 1 && limits.max_message_bytes <= kMaxBytes,
        "max_message_bytes outside 1-2^30");
  check(limits.max_frame_bytes >= 1 && limits.max_frame_bytes <= limits.max_message_bytes,
        "max_frame_bytes outside 1-max_message_bytes");
  check(limits.idle_timeout_s <= 2147483647 && limits.max_duration_s <= 2147483647,
        "a time limit past 2^31-1 seconds");
  check(limits.new_connections_per_second <= 1000000, "new_connections_per_second past 10^6");

  check(is_word(config.management.host), "management.host is empty or holds spaces");
  check(config.management.token.empty() || is_word(config.management.token),
        "management.token holds spaces or control characters");
  check(config.management.sigv4_secret_access_key.empty() ||
            !config.management.sigv4_access_key_id.empty(),
        "a SigV4 secret without its key id");
  check(!config.registry_path.empty(), "registry.path is empty");

  std::vector<std::string> keys;
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const gw::RouteConfig& route = config.routes[i];
    check(!route.key.empty(), "a route with an empty key");
    check(i == 0 || config.routes[i - 1].key < route.key, "routes not sorted by unique key");
    check(route.timeout_ms >= 50 && route.timeout_ms <= 29000, "timeout_ms outside 50-29000");
    check(!route.route_response ||
              (route.key != gw::kConnectRoute && route.key != gw::kDisconnectRoute),
          "route_response on a lifecycle route");
    std::string why;
    const std::optional<gw::IntegrationUrl> url = gw::parse_integration_url(route.integration, why);
    check(url.has_value() && url->host == route.url.host && url->port == route.url.port &&
              url->tls == route.url.tls && url->target == route.url.target,
          "a route's integration is not its parsed URL");
    check(route.url.port >= 1 && !route.url.host.empty(), "an integration without host or port");
    check(config.find_route(route.key) == &route, "find_route misses a route");
    keys.push_back(route.key);
  }
  check(config.route_table.keys() == keys, "the route table is not the routes' keys");
}

}  // namespace

// Layout: the configuration file's text.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<char> copy = hibiki::fuzz::exact_copy<char>({data, size});
  const std::string_view text(copy.data(), copy.size());
  std::string error = "left over";
  std::optional<gw::GatewayConfig> config;
  try {
    config = gw::load_gateway_config(text, error);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "threw: %s\n", e.what());
    check(false, "load_gateway_config threw");
  } catch (...) {
    check(false, "load_gateway_config threw");
  }
  if (!config) {
    check(!error.empty(), "refused without an error");
    if (error.find('\n') != std::string::npos) std::fprintf(stderr, "error: %s\n", error.c_str());
    check(error.find('\n') == std::string::npos, "the error is more than one line");
    return 0;
  }
  check(error.empty(), "an error with a configuration");
  check_config(*config);

  // Loading is a pure function of the text.
  std::string again_error;
  const std::optional<gw::GatewayConfig> again = gw::load_gateway_config(text, again_error);
  check(again.has_value() && again->routes.size() == config->routes.size() &&
            again->stage == config->stage && again->port == config->port,
        "the same text loaded differently");
  return 0;
}

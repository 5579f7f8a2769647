// The gateway's TOML configuration, read with toml++ and checked key by key (see
// gateway_config.hpp). Every message starts with the key's full name, so a typo is found
// without reading this file.
#include "apps/gateway/gateway_config.hpp"

#include "apps/common/one_line.hpp"
#include "hibiki/cluster.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <utility>

namespace hibiki::apps::gateway {
namespace {

constexpr std::int64_t kMinTimeoutMs = 50;
constexpr std::int64_t kMaxTimeoutMs = 29000;  // API Gateway's integration timeout ceiling
constexpr std::int64_t kMaxBytes = std::int64_t{1} << 30;
constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int32_t>::max();
constexpr std::size_t kMaxStageChars = 128;  // API Gateway's stage name limit
// API Gateway waits 10 s for a Lambda authorizer (the HTTP API quotas state it; the
// WebSocket quotas name no limit of their own).
constexpr std::int64_t kMaxAuthorizerTimeoutMs = 10000;

// Reads one table's keys; the first failure is kept in `error` and later reads do nothing.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string where, std::string& error)
      : table_(table), where_(std::move(where)), error_(error) {}

  [[nodiscard]] bool ok() const { return error_.empty(); }

  // Fails on a key not in `known`.
  void only(std::initializer_list<std::string_view> known) {
    for (const auto& [key, node] : table_) {
      if (!ok()) return;
      if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
      std::string list;
      for (std::string_view name : known)
        list += (list.empty() ? "" : ", ") + std::string(name);
      fail(key.str(), "unknown key (known keys: " + list + ")");
    }
  }

  [[nodiscard]] bool has(std::string_view key) const { return table_.contains(key); }

  void string(std::string_view key, std::string& out) {
    const toml::node* node = table_.get(key);
    if (!ok() || node == nullptr) return;
    if (!node->is_string()) return fail(key, "must be a string");
    out = node->as_string()->get();
  }

  // A string with no spaces or control characters, not empty.
  void word(std::string_view key, std::string& out) {
    string(key, out);
    if (!ok() || !has(key)) return;
    if (out.empty()) return fail(key, "must not be empty");
    if (std::any_of(out.begin(), out.end(),
                    [](char ch) { return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7F; })) {
      fail(key, "must not contain spaces or control characters");
    }
  }

  template <typename Int>
  void integer(std::string_view key, std::int64_t min, std::int64_t max, Int& out) {
    const toml::node* node = table_.get(key);
    if (!ok() || node == nullptr) return;
    if (!node->is_integer()) return fail(key, "must be an integer");
    const std::int64_t value = node->as_integer()->get();
    if (value < min || value > max) {
      return fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    out = static_cast<Int>(value);
  }

  void boolean(std::string_view key, bool& out) {
    const toml::node* node = table_.get(key);
    if (!ok() || node == nullptr) return;
    if (!node->is_boolean()) return fail(key, "must be true or false");
    out = node->as_boolean()->get();
  }

  void fail(std::string_view key, const std::string& why) {
    if (ok()) error_ = where_ + "." + std::string(key) + ": " + why;
  }

  [[nodiscard]] const toml::table& table() const { return table_; }

 private:
  const toml::table& table_;
  std::string where_;
  std::string& error_;
};

// The section called `name`, or null when absent; an error when it is not a table.
const toml::table* section(const toml::table& root, std::string_view name, std::string& error) {
  const toml::node* node = root.get(name);
  if (node == nullptr) return nullptr;
  if (!node->is_table()) {
    error = std::string(name) + ": must be a table ([" + std::string(name) + "])";
    return nullptr;
  }
  return node->as_table();
}

bool is_stage_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '-' || ch == '_';
}

void read_gateway(const toml::table& table, GatewayConfig& config, std::string& error) {
  TableReader r(table, "gateway", error);
  r.only({"host", "port", "stage", "api_id", "domain_name", "profile", "route_selection_expression",
          "connect_refusal", "idle_timeout_s", "max_duration_s", "max_message_bytes",
          "max_frame_bytes", "new_connections_per_second", "threads"});
  r.word("host", config.host);
  r.integer("threads", 0, 1024, config.threads);
  r.integer("port", 0, 65535, config.port);
  r.string("stage", config.stage);
  if (r.ok() && (config.stage.empty() || config.stage.size() > kMaxStageChars ||
                 !std::all_of(config.stage.begin(), config.stage.end(), is_stage_char))) {
    r.fail("stage", "must be 1-128 characters of A-Z, a-z, 0-9, '-' and '_'");
  }
  r.string("api_id", config.api_id);
  if (r.ok() && (config.api_id.empty() ||
                 !std::all_of(config.api_id.begin(), config.api_id.end(), is_stage_char))) {
    r.fail("api_id", "must be 1 or more characters of A-Z, a-z, 0-9, '-' and '_'");
  }
  r.string("domain_name", config.domain_name);
  if (r.ok() && !config.domain_name.empty()) r.word("domain_name", config.domain_name);

  std::string profile = "aws";
  r.string("profile", profile);
  if (r.ok() && profile == "aws") {
    config.profile = Profile::aws;
  } else if (r.ok() && profile == "relaxed") {
    config.profile = Profile::relaxed;
  } else {
    r.fail("profile", "must be \"aws\" or \"relaxed\"");
  }
  config.limits = profile_limits(config.profile);

  std::string expression = "$request.body.action";
  r.string("route_selection_expression", expression);
  if (r.ok()) {
    std::string why;
    if (auto selector = RouteSelector::parse(expression, why)) {
      config.route_selector = std::move(*selector);
    } else {
      r.fail("route_selection_expression", why);
    }
  }

  if (const toml::node* refusal = table.get("connect_refusal"); r.ok() && refusal != nullptr) {
    // Only an integer is read as one: toml++ would cast a float such as 6e40, out of range.
    const std::int64_t status = refusal->is_integer() ? refusal->as_integer()->get() : 0;
    if (refusal->is_string() && refusal->as_string()->get() == "backend") {
      config.connect_refusal_status = 0;
    } else if (refusal->is_integer() && status >= 400 && status <= 599) {
      config.connect_refusal_status = static_cast<int>(status);
    } else {
      r.fail("connect_refusal", "must be \"backend\" or an HTTP status between 400 and 599");
    }
  }

  GatewayLimits& limits = config.limits;
  r.integer("idle_timeout_s", 0, kMaxSeconds, limits.idle_timeout_s);
  r.integer("max_duration_s", 0, kMaxSeconds, limits.max_duration_s);
  r.integer("max_message_bytes", 1, kMaxBytes, limits.max_message_bytes);
  r.integer("max_frame_bytes", 1, kMaxBytes, limits.max_frame_bytes);
  r.integer("new_connections_per_second", 0, 1000000, limits.new_connections_per_second);
  if (r.ok() && limits.max_frame_bytes > limits.max_message_bytes) {
    if (r.has("max_frame_bytes")) {
      r.fail("max_frame_bytes", "must not exceed max_message_bytes (" +
                                    std::to_string(limits.max_message_bytes) + ")");
    } else {
      // Only the message limit was lowered below the profile's frame limit: a frame can then
      // never be larger than a message anyway.
      limits.max_frame_bytes = limits.max_message_bytes;
    }
  }
}

// A [tls] table at `where` ("tls" or "management.tls"): cert and key, both required.
void read_tls(const toml::node& node, const std::string& where, TlsFiles& tls, std::string& error) {
  if (!node.is_table()) {
    error = where + ": must be a table ([" + where + "])";
    return;
  }
  TableReader r(*node.as_table(), where, error);
  r.only({"cert", "key"});
  if (r.ok() && !r.has("cert")) {
    r.fail("cert", r.has("key") ? "is required with " + where + ".key" : "is required");
  }
  if (r.ok() && !r.has("key")) r.fail("key", "is required with " + where + ".cert");
  r.string("cert", tls.cert);
  if (r.ok() && tls.cert.empty()) r.fail("cert", "must not be empty");
  r.string("key", tls.key);
  if (r.ok() && tls.key.empty()) r.fail("key", "must not be empty");
}

void read_management(const toml::table& table, ManagementConfig& config, std::string& error) {
  TableReader r(table, "management", error);
  r.only({"host", "port", "token", "sigv4_access_key_id", "sigv4_secret_access_key", "sigv4_region",
          "sigv4_service", "allow_loopback", "tls"});
  r.word("host", config.host);
  r.integer("port", 0, 65535, config.port);
  r.string("token", config.token);
  if (r.ok() && !config.token.empty()) r.word("token", config.token);
  r.string("sigv4_access_key_id", config.sigv4_access_key_id);
  r.string("sigv4_secret_access_key", config.sigv4_secret_access_key);
  if (r.ok() && !config.sigv4_secret_access_key.empty() && config.sigv4_access_key_id.empty()) {
    r.fail("sigv4_access_key_id", "must be set when sigv4_secret_access_key is");
  }
  if (r.has("sigv4_region")) r.word("sigv4_region", config.sigv4_region);
  if (r.has("sigv4_service")) r.word("sigv4_service", config.sigv4_service);
  if (r.has("allow_loopback")) {
    bool allow = false;
    r.boolean("allow_loopback", allow);
    config.allow_loopback = allow;
  }
  if (const toml::node* tls = table.get("tls"); r.ok() && tls != nullptr) {
    read_tls(*tls, "management.tls", config.tls, error);
  }
}

void read_registry(const toml::table& table, GatewayConfig& config, std::string& error) {
  TableReader r(table, "registry", error);
  r.only({"path"});
  r.string("path", config.registry_path);
  if (r.ok() && config.registry_path.empty()) r.fail("path", "must not be empty");
}

void read_route(std::string_view key, const toml::node& node, GatewayConfig& config,
                std::string& error) {
  const std::string where = "routes.\"" + std::string(key) + "\"";
  if (!node.is_table()) {
    error = where + ": must be a table ([" + where + "])";
    return;
  }
  if (key.empty()) {
    error = "routes.\"\": a route key must not be empty";
    return;
  }
  TableReader r(*node.as_table(), where, error);
  r.only({"integration", "timeout_ms", "route_response"});
  RouteConfig route;
  route.key = std::string(key);
  if (r.ok() && !r.has("integration")) r.fail("integration", "is required");
  r.string("integration", route.integration);
  if (r.ok()) {
    std::string why;
    if (auto url = parse_integration_url(route.integration, why)) {
      route.url = std::move(*url);
    } else {
      r.fail("integration", why);
    }
  }
  r.integer("timeout_ms", kMinTimeoutMs, kMaxTimeoutMs, route.timeout_ms);
  r.boolean("route_response", route.route_response);
  if (r.ok() && route.route_response && (key == kConnectRoute || key == kDisconnectRoute)) {
    r.fail("route_response", "only message routes answer the client");
  }
  if (r.ok()) config.routes.push_back(std::move(route));
}

bool is_region_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
}

// A node id or key prefix: 1-64 of letters, digits, '.', '_', ':' and '-'.
bool is_name(std::string_view text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == ':' ||
           ch == '-';
  });
}

void read_cluster(const toml::table& table, GatewayConfig& config, std::string& error) {
  TableReader r(table, "cluster", error);
  r.only({"redis", "node_id", "prefix"});
  ClusterConfig cluster;
  r.string("redis", cluster.redis_url);
  if (r.ok()) {
    std::string why;
    if (!r.has("redis")) {
      r.fail("redis", "is required in [cluster] (redis://HOST:PORT[/DB])");
    } else if (!parse_redis_url(cluster.redis_url, &why)) {
      r.fail("redis", "not a Redis URL (redis://HOST:PORT[/DB]): " + why);
    }
  }
  r.string("node_id", cluster.node_id);
  if (r.ok() && r.has("node_id") && !is_name(cluster.node_id)) {
    r.fail("node_id", "must be 1-64 characters of letters, digits, '.', '_', ':' and '-'");
  }
  r.string("prefix", cluster.prefix);
  if (r.ok() && !is_name(cluster.prefix)) {
    r.fail("prefix", "must be 1-64 characters of letters, digits, '.', '_', ':' and '-'");
  }
  if (r.ok()) config.cluster = std::move(cluster);
}

void read_authorizer(const toml::table& table, GatewayConfig& config, std::string& error) {
  TableReader r(table, "authorizer", error);
  r.only({"integration", "identity_sources", "timeout_ms", "account_id", "region"});
  AuthorizerConfig authorizer;
  if (r.ok() && !r.has("integration")) r.fail("integration", "is required");
  r.string("integration", authorizer.integration);
  if (r.ok()) {
    std::string why;
    if (auto url = parse_integration_url(authorizer.integration, why)) {
      authorizer.url = std::move(*url);
    } else {
      r.fail("integration", why);
    }
  }
  if (const toml::node* sources = table.get("identity_sources"); r.ok() && sources != nullptr) {
    const toml::array* array = sources->as_array();
    if (array == nullptr) {
      r.fail("identity_sources", "must be an array of strings");
    } else {
      for (std::size_t i = 0; i < array->size() && r.ok(); ++i) {
        const std::string key = "identity_sources[" + std::to_string(i) + "]";
        const toml::node& item = *array->get(i);
        if (!item.is_string()) {
          r.fail(key, "must be a string");
          break;
        }
        std::string why;
        if (auto source = parse_identity_source(item.as_string()->get(), why)) {
          authorizer.identity_sources.push_back(std::move(*source));
        } else {
          r.fail(key, why);
        }
      }
    }
  }
  r.integer("timeout_ms", kMinTimeoutMs, kMaxAuthorizerTimeoutMs, authorizer.timeout_ms);
  r.string("account_id", authorizer.account_id);
  if (r.ok() && (authorizer.account_id.size() != 12 ||
                 !std::all_of(authorizer.account_id.begin(), authorizer.account_id.end(),
                              [](char ch) { return ch >= '0' && ch <= '9'; }))) {
    r.fail("account_id", "must be 12 digits, e.g. \"123456789012\"");
  }
  r.string("region", authorizer.region);
  if (r.ok() &&
      (authorizer.region.empty() ||
       !std::all_of(authorizer.region.begin(), authorizer.region.end(), is_region_char))) {
    r.fail("region", "must be 1 or more characters of a-z, 0-9 and '-', e.g. \"us-east-1\"");
  }
  if (r.ok()) config.authorizer = std::move(authorizer);
}

}  // namespace

GatewayLimits profile_limits(Profile profile) {
  if (profile == Profile::relaxed) {
    constexpr std::uint32_t k16MiB = 16 * 1024 * 1024;
    return GatewayLimits{.idle_timeout_s = 0,
                         .max_duration_s = 0,
                         .max_message_bytes = k16MiB,
                         .max_frame_bytes = k16MiB,
                         .new_connections_per_second = 0};
  }
  return GatewayLimits{};
}

const RouteConfig* GatewayConfig::find_route(std::string_view key) const {
  const auto it =
      std::lower_bound(routes.begin(), routes.end(), key,
                       [](const RouteConfig& route, std::string_view k) { return route.key < k; });
  return it != routes.end() && it->key == key ? &*it : nullptr;
}

namespace {

std::optional<GatewayConfig> parse_and_check(std::string_view toml_text, std::string& error) {
  error.clear();
  toml::table root;
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    error = "line " + std::to_string(e.source().begin.line) + ", column " +
            std::to_string(e.source().begin.column) + ": " + std::string(e.description());
    return std::nullopt;
  }
  for (const auto& [key, node] : root) {
    const std::string_view name = key.str();
    if (name != "gateway" && name != "tls" && name != "management" && name != "registry" &&
        name != "routes" && name != "authorizer" && name != "cluster") {
      error = std::string(name) +
              ": unknown key (known sections: gateway, tls, management, registry, routes, "
              "authorizer, cluster)";
      return std::nullopt;
    }
  }

  GatewayConfig config;
  if (const toml::table* gateway = section(root, "gateway", error)) {
    read_gateway(*gateway, config, error);
  }
  if (const toml::node* tls = root.get("tls"); error.empty() && tls != nullptr) {
    read_tls(*tls, "tls", config.tls, error);
  }
  if (const toml::table* management = section(root, "management", error);
      error.empty() && management) {
    read_management(*management, config.management, error);
  }
  if (const toml::table* registry = section(root, "registry", error); error.empty() && registry) {
    read_registry(*registry, config, error);
  }
  if (const toml::table* routes = section(root, "routes", error); error.empty() && routes) {
    for (const auto& [key, node] : *routes) {
      if (!error.empty()) break;
      read_route(key.str(), node, config, error);
    }
  }
  if (const toml::table* authorizer = section(root, "authorizer", error);
      error.empty() && authorizer) {
    read_authorizer(*authorizer, config, error);
  }
  if (const toml::table* cluster = section(root, "cluster", error); error.empty() && cluster) {
    read_cluster(*cluster, config, error);
  }
  if (!error.empty()) return std::nullopt;

  std::sort(config.routes.begin(), config.routes.end(),
            [](const RouteConfig& a, const RouteConfig& b) { return a.key < b.key; });
  std::vector<std::string> keys;
  for (const RouteConfig& route : config.routes)
    keys.push_back(route.key);
  config.route_table = RouteTable(std::move(keys));
  return config;
}

}  // namespace

std::optional<GatewayConfig> load_gateway_config(std::string_view toml_text, std::string& error) {
  std::optional<GatewayConfig> config = parse_and_check(toml_text, error);
  error = one_line(error);
  return config;
}

std::optional<GatewayConfig> load_gateway_config_file(const std::string& path, std::string& error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = path + ": cannot be read (" + std::strerror(errno) + ")";
    return std::nullopt;
  }
  std::ostringstream text;
  text << file.rdbuf();
  auto config = load_gateway_config(text.str(), error);
  if (!config) error = path + ": " + error;
  return config;
}

}  // namespace hibiki::apps::gateway

#include "apps/gateway/gateway_config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace hibiki::apps::gateway {
namespace {

// The documented example, every key set.
constexpr std::string_view kFull = R"(
[gateway]
host = "127.0.0.1"
port = 9000
threads = 3
stage = "prod"
api_id = "abc123"
domain_name = "ws.example.com"
profile = "aws"
route_selection_expression = "$request.body.type"
connect_refusal = 403
idle_timeout_s = 300
max_duration_s = 3600
max_message_bytes = 65536
max_frame_bytes = 16384
new_connections_per_second = 100
[tls]
cert = "/etc/hibiki/ws-cert.pem"
key = "/etc/hibiki/ws-key.pem"
[management]
host = "127.0.0.2"
port = 9001
token = "s3cret"
sigv4_access_key_id = "AKIDEXAMPLE"
sigv4_secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
sigv4_region = "eu-west-3"
sigv4_service = "execute-api"
allow_loopback = true
[management.tls]
cert = "/etc/hibiki/api-cert.pem"
key = "/etc/hibiki/api-key.pem"
[registry]
path = ":memory:"
[routes."$connect"]
integration = "http://127.0.0.1:8000/connect"
timeout_ms = 5000
[routes."$disconnect"]
integration = "http://127.0.0.1:8000/"
[routes."message"]
integration = "https://backend.example/ws"
route_response = true
[routes."$default"]
integration = "http://127.0.0.1:8000/"
)";

std::string load_error(std::string_view toml) {
  std::string error;
  EXPECT_FALSE(load_gateway_config(toml, error).has_value()) << toml;
  return error;
}

TEST(GatewayConfig, reads_every_key) {
  std::string error;
  const auto config = load_gateway_config(kFull, error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_EQ(config->host, "127.0.0.1");
  EXPECT_EQ(config->port, 9000);
  EXPECT_EQ(config->threads, 3u);
  EXPECT_EQ(config->stage, "prod");
  EXPECT_EQ(config->api_id, "abc123");
  EXPECT_EQ(config->domain_name, "ws.example.com");
  EXPECT_EQ(config->profile, Profile::aws);
  EXPECT_EQ(config->route_selector.path(), std::vector<std::string>{"type"});
  EXPECT_EQ(config->connect_refusal_status, 403);
  EXPECT_EQ(config->limits.idle_timeout_s, 300u);
  EXPECT_EQ(config->limits.max_duration_s, 3600u);
  EXPECT_EQ(config->limits.max_message_bytes, 65536u);
  EXPECT_EQ(config->limits.max_frame_bytes, 16384u);
  EXPECT_EQ(config->limits.new_connections_per_second, 100u);
  EXPECT_TRUE(config->tls.enabled());
  EXPECT_EQ(config->tls.cert, "/etc/hibiki/ws-cert.pem");
  EXPECT_EQ(config->tls.key, "/etc/hibiki/ws-key.pem");
  EXPECT_TRUE(config->management.tls.enabled());
  EXPECT_EQ(config->management.tls.cert, "/etc/hibiki/api-cert.pem");
  EXPECT_EQ(config->management.tls.key, "/etc/hibiki/api-key.pem");
  EXPECT_EQ(config->management.host, "127.0.0.2");
  EXPECT_EQ(config->management.port, 9001);
  EXPECT_EQ(config->management.token, "s3cret");
  EXPECT_EQ(config->management.sigv4_access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(config->management.sigv4_secret_access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  EXPECT_EQ(config->management.sigv4_region, "eu-west-3");
  EXPECT_EQ(config->management.sigv4_service, "execute-api");
  EXPECT_EQ(config->management.allow_loopback, true);
  EXPECT_TRUE(config->management.loopback_exempt());
  EXPECT_EQ(config->registry_path, ":memory:");

  ASSERT_EQ(config->routes.size(), 4u);
  EXPECT_EQ(config->route_table.keys(),
            (std::vector<std::string>{"$connect", "$default", "$disconnect", "message"}));
  const RouteConfig* connect = config->find_route("$connect");
  ASSERT_NE(connect, nullptr);
  EXPECT_EQ(connect->integration, "http://127.0.0.1:8000/connect");
  EXPECT_EQ(connect->url.port, 8000);
  EXPECT_EQ(connect->url.target, "/connect");
  EXPECT_EQ(connect->timeout_ms, 5000u);
  EXPECT_FALSE(connect->route_response);
  const RouteConfig* message = config->find_route("message");
  ASSERT_NE(message, nullptr);
  EXPECT_TRUE(message->url.tls);
  EXPECT_EQ(message->timeout_ms, 29000u);
  EXPECT_TRUE(message->route_response);
  EXPECT_EQ(config->find_route("other"), nullptr);
}

TEST(GatewayConfig, cluster_section_names_redis_the_node_and_the_prefix) {
  std::string error;
  auto config = load_gateway_config(
      "[cluster]\nredis = \"redis://10.0.0.5:6380/2\"\nnode_id = \"gw-1\"\nprefix = \"api\"\n",
      error);
  ASSERT_TRUE(config.has_value()) << error;
  ASSERT_TRUE(config->cluster.has_value());
  EXPECT_EQ(config->cluster->redis_url, "redis://10.0.0.5:6380/2");
  EXPECT_EQ(config->cluster->node_id, "gw-1");
  EXPECT_EQ(config->cluster->prefix, "api");
  config = load_gateway_config("[cluster]\nredis = \"redis://127.0.0.1\"\n", error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_EQ(config->cluster->node_id, "");  // the host name and port, at start
  EXPECT_EQ(config->cluster->prefix, "hibiki");
  EXPECT_FALSE(load_gateway_config("", error)->cluster.has_value());
}

TEST(GatewayConfig, an_empty_file_gives_the_defaults) {
  std::string error;
  const auto config = load_gateway_config("", error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_EQ(config->host, "0.0.0.0");
  EXPECT_EQ(config->port, 8080);
  EXPECT_EQ(config->threads, 0u);  // one loop per core
  EXPECT_EQ(config->stage, "dev");
  EXPECT_EQ(config->api_id, "local");
  EXPECT_EQ(config->domain_name, "");
  EXPECT_EQ(config->profile, Profile::aws);
  EXPECT_EQ(config->route_selector.expression(), "$request.body.action");
  EXPECT_EQ(config->connect_refusal_status, 0);
  EXPECT_EQ(config->management.host, "127.0.0.1");
  EXPECT_EQ(config->management.port, 8081);
  EXPECT_EQ(config->management.token, "");
  EXPECT_FALSE(config->tls.enabled());
  EXPECT_FALSE(config->management.tls.enabled());
  // Nothing configured: loopback callers are let in; with credentials only if said so.
  EXPECT_TRUE(config->management.loopback_exempt());
  ManagementConfig with_token = config->management;
  with_token.token = "t";
  EXPECT_FALSE(with_token.loopback_exempt());
  with_token.allow_loopback = true;
  EXPECT_TRUE(with_token.loopback_exempt());
  EXPECT_EQ(config->registry_path, "data/gateway.sqlite3");
  EXPECT_TRUE(config->routes.empty());
  const GatewayLimits aws = profile_limits(Profile::aws);
  EXPECT_EQ(config->limits.idle_timeout_s, aws.idle_timeout_s);
}

TEST(GatewayConfig, each_port_has_its_own_optional_tls) {
  std::string error;
  const auto only_api =
      load_gateway_config("[management]\ntls = { cert = \"a.pem\", key = \"a.key\" }\n", error);
  ASSERT_TRUE(only_api.has_value()) << error;
  EXPECT_FALSE(only_api->tls.enabled());
  EXPECT_EQ(only_api->management.tls.cert, "a.pem");
  EXPECT_EQ(only_api->management.tls.key, "a.key");
  const auto only_ws = load_gateway_config("[tls]\ncert = \"w.pem\"\nkey = \"w.key\"\n", error);
  ASSERT_TRUE(only_ws.has_value()) << error;
  EXPECT_TRUE(only_ws->tls.enabled());
  EXPECT_FALSE(only_ws->management.tls.enabled());
}

TEST(GatewayConfig, profiles_set_the_limits_and_keys_override_them) {
  const GatewayLimits aws = profile_limits(Profile::aws);
  EXPECT_EQ(aws.idle_timeout_s, 600u);
  EXPECT_EQ(aws.max_duration_s, 7200u);
  EXPECT_EQ(aws.max_message_bytes, 131072u);
  EXPECT_EQ(aws.max_frame_bytes, 32768u);
  EXPECT_EQ(aws.new_connections_per_second, 500u);
  const GatewayLimits relaxed = profile_limits(Profile::relaxed);
  EXPECT_EQ(relaxed.idle_timeout_s, 0u);
  EXPECT_EQ(relaxed.max_duration_s, 0u);
  EXPECT_EQ(relaxed.max_message_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(relaxed.max_frame_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(relaxed.new_connections_per_second, 0u);

  std::string error;
  auto config =
      load_gateway_config("[gateway]\nprofile = \"relaxed\"\nidle_timeout_s = 30\n", error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_EQ(config->profile, Profile::relaxed);
  EXPECT_EQ(config->limits.idle_timeout_s, 30u);
  EXPECT_EQ(config->limits.max_duration_s, 0u);
  EXPECT_EQ(config->limits.max_message_bytes, 16u * 1024 * 1024);

  // Lowering only the message limit below the profile's frame limit lowers the frame limit too.
  config = load_gateway_config("[gateway]\nmax_message_bytes = 1000\n", error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_EQ(config->limits.max_frame_bytes, 1000u);
}

TEST(GatewayConfig, connect_refusal_is_backend_or_a_status) {
  std::string error;
  auto config = load_gateway_config("[gateway]\nconnect_refusal = \"backend\"\n", error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_EQ(config->connect_refusal_status, 0);
  EXPECT_EQ(load_error("[gateway]\nconnect_refusal = 200\n"),
            "gateway.connect_refusal: must be \"backend\" or an HTTP status between 400 and 599");
  EXPECT_EQ(load_error("[gateway]\nconnect_refusal = \"403\"\n"),
            "gateway.connect_refusal: must be \"backend\" or an HTTP status between 400 and 599");
}

// Found by gateway_config_fuzz: toml++ quotes the bytes it stopped at, a newline included, and a
// quoted key may hold any control character; the error stays one line.
TEST(GatewayConfig, errors_are_one_line_with_control_characters_escaped) {
  const std::string syntax = load_error("[gateway]\nprofile = tru\n\n");
  EXPECT_EQ(syntax.find('\n'), std::string::npos) << syntax;
  EXPECT_NE(syntax.find("saw 'tru\\n'"), std::string::npos) << syntax;
  const std::string key = load_error("[gateway]\n\"a\\nb\\t\\u0001\" = 1\n");
  EXPECT_TRUE(key.starts_with("gateway.a\\nb\\t\\x01: unknown key")) << key;
}

// Found by gateway_config_fuzz: a float there was converted to an integer first, undefined
// behaviour for one out of range.
TEST(GatewayConfig, connect_refusal_refuses_floats) {
  for (const char* value : {"6e40", "403.0", "-inf", "nan"}) {
    EXPECT_EQ(load_error(std::string("[gateway]\nconnect_refusal = ") + value + "\n"),
              "gateway.connect_refusal: must be \"backend\" or an HTTP status between 400 and 599");
  }
}

TEST(GatewayConfig, errors_name_the_key_and_what_is_wrong) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"[gateway]\nprot = 1\n",
       "gateway.prot: unknown key (known keys: host, port, stage, api_id, domain_name, profile, "
       "route_selection_expression, connect_refusal, idle_timeout_s, max_duration_s, "
       "max_message_bytes, max_frame_bytes, new_connections_per_second, threads)"},
      {"[gatway]\n",
       "gatway: unknown key (known sections: gateway, tls, management, registry, routes, "
       "authorizer, cluster)"},
      {"[cluster]\nnode_id = \"a\"\n",
       "cluster.redis: is required in [cluster] (redis://HOST:PORT[/DB])"},
      {"[cluster]\nredis = \"http://x\"\n",
       "cluster.redis: not a Redis URL (redis://HOST:PORT[/DB]): must start with redis://"},
      {"[cluster]\nredis = \"redis://127.0.0.1\"\nnode_id = \"a b\"\n",
       "cluster.node_id: must be 1-64 characters of letters, digits, '.', '_', ':' and '-'"},
      {"[cluster]\nredis = \"redis://127.0.0.1\"\nprefix = \"\"\n",
       "cluster.prefix: must be 1-64 characters of letters, digits, '.', '_', ':' and '-'"},
      {"[cluster]\nredis = \"redis://127.0.0.1\"\nnodes = 3\n",
       "cluster.nodes: unknown key (known keys: redis, node_id, prefix)"},
      {"gateway = 1\n", "gateway: must be a table ([gateway])"},
      {"[gateway]\nport = \"80\"\n", "gateway.port: must be an integer"},
      {"[gateway]\nport = 70000\n", "gateway.port: must be between 0 and 65535"},
      {"[gateway]\nthreads = -1\n", "gateway.threads: must be between 0 and 1024"},
      {"[gateway]\nhost = \"\"\n", "gateway.host: must not be empty"},
      {"[gateway]\nstage = \"a/b\"\n",
       "gateway.stage: must be 1-128 characters of A-Z, a-z, 0-9, '-' and '_'"},
      {"[gateway]\napi_id = \"\"\n",
       "gateway.api_id: must be 1 or more characters of A-Z, a-z, 0-9, '-' and '_'"},
      {"[gateway]\ndomain_name = \"a b\"\n",
       "gateway.domain_name: must not contain spaces or control characters"},
      {"[gateway]\nprofile = \"fast\"\n", "gateway.profile: must be \"aws\" or \"relaxed\""},
      {"[gateway]\nroute_selection_expression = \"${request.body.action}\"\n",
       "gateway.route_selection_expression: \"${request.body.action}\": templates like "
       "${request.body.action} are not supported; write the plain form $request.body.action"},
      {"[gateway]\nidle_timeout_s = -1\n",
       "gateway.idle_timeout_s: must be between 0 and 2147483647"},
      {"[gateway]\nmax_message_bytes = 0\n",
       "gateway.max_message_bytes: must be between 1 and 1073741824"},
      {"[gateway]\nmax_message_bytes = 1000\nmax_frame_bytes = 2000\n",
       "gateway.max_frame_bytes: must not exceed max_message_bytes (1000)"},
      {"[management]\ntoken = \"a b\"\n",
       "management.token: must not contain spaces or control characters"},
      {"[management]\nsigv4_secret_access_key = \"x\"\n",
       "management.sigv4_access_key_id: must be set when sigv4_secret_access_key is"},
      {"[management]\nsecret = \"x\"\n",
       "management.secret: unknown key (known keys: host, port, token, sigv4_access_key_id, "
       "sigv4_secret_access_key, sigv4_region, sigv4_service, allow_loopback, tls)"},
      {"[management]\nallow_loopback = \"yes\"\n",
       "management.allow_loopback: must be true or false"},
      {"[management]\nsigv4_region = \"\"\n", "management.sigv4_region: must not be empty"},
      {"[tls]\ncert = \"c.pem\"\n", "tls.key: is required with tls.cert"},
      {"[tls]\nkey = \"k.pem\"\n", "tls.cert: is required with tls.key"},
      {"[tls]\n", "tls.cert: is required"},
      {"tls = \"c.pem\"\n", "tls: must be a table ([tls])"},
      {"[tls]\ncert = \"\"\nkey = \"k.pem\"\n", "tls.cert: must not be empty"},
      {"[tls]\ncert = \"c.pem\"\nkey = 1\n", "tls.key: must be a string"},
      {"[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nca = \"x\"\n",
       "tls.ca: unknown key (known keys: cert, key)"},
      {"[management.tls]\nkey = \"k.pem\"\n",
       "management.tls.cert: is required with management.tls.key"},
      {"[management.tls]\ncert = \"c.pem\"\n",
       "management.tls.key: is required with management.tls.cert"},
      {"[management]\ntls = true\n", "management.tls: must be a table ([management.tls])"},
      {"[management.tls]\ncert = \"c.pem\"\nkey = \"\"\n", "management.tls.key: must not be empty"},
      {"[registry]\npath = \"\"\n", "registry.path: must not be empty"},
      {"[registry]\npath = 5\n", "registry.path: must be a string"},
      {"[routes.\"message\"]\ntimeout_ms = 100\n", "routes.\"message\".integration: is required"},
      {"[routes.\"message\"]\nintegration = \"ftp://x/\"\n",
       "routes.\"message\".integration: must start with http:// or https://"},
      {"[routes.\"message\"]\nintegration = \"http://x/\"\ntimeout_ms = 30000\n",
       "routes.\"message\".timeout_ms: must be between 50 and 29000"},
      {"[routes.\"message\"]\nintegration = \"http://x/\"\ntimeout_ms = 49\n",
       "routes.\"message\".timeout_ms: must be between 50 and 29000"},
      {"[routes.\"message\"]\nintegration = \"http://x/\"\nroute_response = \"yes\"\n",
       "routes.\"message\".route_response: must be true or false"},
      {"[routes.\"message\"]\nintegration = \"http://x/\"\ntimeout = 5\n",
       "routes.\"message\".timeout: unknown key (known keys: integration, timeout_ms, "
       "route_response)"},
      {"[routes.\"$disconnect\"]\nintegration = \"http://x/\"\nroute_response = true\n",
       "routes.\"$disconnect\".route_response: only message routes answer the client"},
      {"[routes]\nmessage = \"http://x/\"\n",
       "routes.\"message\": must be a table ([routes.\"message\"])"},
      {"[routes.\"\"]\nintegration = \"http://x/\"\n",
       "routes.\"\": a route key must not be empty"},
  };
  for (const auto& [toml, expected] : cases)
    EXPECT_EQ(load_error(toml), expected) << toml;
}

TEST(GatewayConfig, toml_syntax_errors_give_line_and_column) {
  const std::string error = load_error("[gateway]\nport = = 1\n");
  EXPECT_EQ(error.rfind("line 2, column ", 0), 0u) << error;
}

TEST(GatewayConfig, route_keys_may_be_any_string) {
  std::string error;
  const auto config = load_gateway_config(
      "[routes.\"send message\"]\nintegration = \"http://x/\"\n"
      "[routes.\"caf\xC3\xA9\"]\nintegration = \"http://x/\"\n",
      error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_TRUE(config->route_table.contains("send message"));
  EXPECT_TRUE(config->route_table.contains("caf\xC3\xA9"));
}

TEST(GatewayConfig, loads_a_file_and_names_it_in_errors) {
  const std::string path = ::testing::TempDir() + "gateway_config_test.toml";
  {
    std::ofstream file(path);
    file << kFull;
  }
  std::string error;
  const auto config = load_gateway_config_file(path, error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_EQ(config->stage, "prod");
  {
    std::ofstream file(path);
    file << "[gateway]\nport = -1\n";
  }
  EXPECT_FALSE(load_gateway_config_file(path, error).has_value());
  EXPECT_EQ(error, path + ": gateway.port: must be between 0 and 65535");
  std::remove(path.c_str());
  EXPECT_FALSE(load_gateway_config_file(path, error).has_value());
  EXPECT_EQ(error, path + ": cannot be read (No such file or directory)");
}

TEST(GatewayConfig, authorizer_section) {
  std::string error;
  auto config = load_gateway_config(R"(
[authorizer]
integration = "http://127.0.0.1:8000/authorize"
identity_sources = ["route.request.header.Auth", "route.request.querystring.token"]
timeout_ms = 3000
account_id = "000000000000"
region = "eu-west-3"
)",
                                    error);
  ASSERT_TRUE(config.has_value()) << error;
  ASSERT_TRUE(config->authorizer.has_value());
  const AuthorizerConfig& a = *config->authorizer;
  EXPECT_EQ(a.integration, "http://127.0.0.1:8000/authorize");
  EXPECT_EQ(a.url.port, 8000);
  EXPECT_EQ(a.url.target, "/authorize");
  ASSERT_EQ(a.identity_sources.size(), 2u);
  EXPECT_EQ(a.identity_sources[0].kind, IdentitySource::Kind::header);
  EXPECT_EQ(a.identity_sources[0].name, "Auth");
  EXPECT_EQ(a.identity_sources[1].kind, IdentitySource::Kind::querystring);
  EXPECT_EQ(a.identity_sources[1].name, "token");
  EXPECT_EQ(a.timeout_ms, 3000u);
  EXPECT_EQ(a.account_id, "000000000000");
  EXPECT_EQ(a.region, "eu-west-3");

  // Defaults: no identity source, 10 s, AWS's documentation account, us-east-1.
  config = load_gateway_config("[authorizer]\nintegration = \"http://h/\"\n", error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_TRUE(config->authorizer->identity_sources.empty());
  EXPECT_EQ(config->authorizer->timeout_ms, 10000u);
  EXPECT_EQ(config->authorizer->account_id, "123456789012");
  EXPECT_EQ(config->authorizer->region, "us-east-1");

  // No section: no authorizer.
  config = load_gateway_config("", error);
  ASSERT_TRUE(config.has_value()) << error;
  EXPECT_FALSE(config->authorizer.has_value());
}

TEST(GatewayConfig, authorizer_errors_name_the_key) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"[authorizer]\n", "authorizer.integration: is required"},
      {"authorizer = 1\n", "authorizer: must be a table ([authorizer])"},
      {"[authorizer]\nintegration = \"ftp://h/\"\n",
       "authorizer.integration: must start with http:// or https://"},
      {"[authorizer]\nintegration = \"http://h/\"\nttl = 5\n",
       "authorizer.ttl: unknown key (known keys: integration, identity_sources, timeout_ms, "
       "account_id, region)"},
      {"[authorizer]\nintegration = \"http://h/\"\nidentity_sources = \"route.request.header.A\"\n",
       "authorizer.identity_sources: must be an array of strings"},
      {"[authorizer]\nintegration = \"http://h/\"\nidentity_sources = [\"route.request.header.A\", "
       "1]\n",
       "authorizer.identity_sources[1]: must be a string"},
      {"[authorizer]\nintegration = \"http://h/\"\n"
       "identity_sources = [\"route.request.header.A\", \"route.request.cookie.c\"]\n",
       "authorizer.identity_sources[1]: \"route.request.cookie.c\": must be "
       "route.request.header.<Name> or route.request.querystring.<name>"},
      {"[authorizer]\nintegration = \"http://h/\"\nidentity_sources = "
       "[\"route.request.header.\"]\n",
       "authorizer.identity_sources[0]: \"route.request.header.\": the header name must be 1 or "
       "more token characters"},
      {"[authorizer]\nintegration = \"http://h/\"\ntimeout_ms = 10001\n",
       "authorizer.timeout_ms: must be between 50 and 10000"},
      {"[authorizer]\nintegration = \"http://h/\"\ntimeout_ms = 49\n",
       "authorizer.timeout_ms: must be between 50 and 10000"},
      {"[authorizer]\nintegration = \"http://h/\"\naccount_id = \"1234\"\n",
       "authorizer.account_id: must be 12 digits, e.g. \"123456789012\""},
      {"[authorizer]\nintegration = \"http://h/\"\naccount_id = 123456789012\n",
       "authorizer.account_id: must be a string"},
      {"[authorizer]\nintegration = \"http://h/\"\nregion = \"US East\"\n",
       "authorizer.region: must be 1 or more characters of a-z, 0-9 and '-', e.g. \"us-east-1\""},
  };
  for (const auto& [toml, expected] : cases)
    EXPECT_EQ(load_error(toml), expected) << toml;
}

}  // namespace
}  // namespace hibiki::apps::gateway

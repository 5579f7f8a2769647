#include "apps/gateway/integration_url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hibiki::apps::gateway {
namespace {

TEST(GatewayIntegrationUrl, splits_http_and_https_urls) {
  std::string error;
  auto url = parse_integration_url("http://127.0.0.1:8000/", error);
  ASSERT_TRUE(url.has_value()) << error;
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8000);
  EXPECT_EQ(url->target, "/");
  EXPECT_EQ(url->host_header, "127.0.0.1:8000");

  url = parse_integration_url("https://api.example.com/ws/events?x=1", error);
  ASSERT_TRUE(url.has_value()) << error;
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "api.example.com");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/ws/events?x=1");
  EXPECT_EQ(url->host_header, "api.example.com");

  url = parse_integration_url("http://backend", error);
  ASSERT_TRUE(url.has_value()) << error;
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->target, "/");

  url = parse_integration_url("http://backend?q", error);
  ASSERT_TRUE(url.has_value()) << error;
  EXPECT_EQ(url->target, "/?q");

  url = parse_integration_url("http://[::1]:9000/lambda", error);
  ASSERT_TRUE(url.has_value()) << error;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->host_header, "[::1]:9000");
}

TEST(GatewayIntegrationUrl, refuses_other_schemes_and_malformed_urls) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"ftp://host/", "must start with http:// or https://"},
      {"HTTP://host/", "must start with http:// or https://"},
      {"127.0.0.1:8000", "must start with http:// or https://"},
      {"http:///path", "has no host"},
      {"http://:80/", "has no host"},
      {"http://host:/", "has an empty port"},
      {"http://host:0/", "has a port outside 1-65535"},
      {"http://host:65536/", "has a port outside 1-65535"},
      {"http://host:8a/", "has a port outside 1-65535"},
      {"http://user:pw@host/", "must not carry user info (user@host)"},
      {"http://host/a#frag", "must not have a fragment (#...)"},
      {"http://host/a b", "must not contain spaces or control characters"},
      {"http://[::1/", "has an IPv6 address without its closing ']'"},
      {"http://[::1]x/", "has characters after the IPv6 address"},
  };
  for (const auto& [url, why] : cases) {
    std::string error;
    EXPECT_FALSE(parse_integration_url(url, error).has_value()) << url;
    EXPECT_EQ(error, why) << url;
  }
}

}  // namespace
}  // namespace hibiki::apps::gateway

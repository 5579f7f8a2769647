// The gateway's /metrics text: counters by label, a cumulative latency histogram per route,
// label values escaped, outcomes of transport errors kept to their kind.
#include <gtest/gtest.h>

#include <string>

#include "apps/gateway/gateway_metrics.hpp"

namespace hibiki::apps::gateway {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(GatewayMetrics, integration_calls_by_route_and_outcome_with_a_histogram) {
  GatewayMetrics metrics;
  metrics.integration_call("$connect", 200, "", 3);
  metrics.integration_call("$connect", 200, "", 30);
  metrics.integration_call("$connect", 403, "", 7);
  metrics.integration_call("message", 0, "timeout after 29000 ms", 29000);
  metrics.integration_call("message", 0, "cannot connect: Connection refused", 1);
  const std::string text = metrics.text(2);
  EXPECT_TRUE(has_line(text, "hibiki_gateway_connections 2")) << text;
  EXPECT_TRUE(has_line(
      text, R"(hibiki_gateway_integration_calls_total{route="$connect",outcome="200"} 2)"));
  EXPECT_TRUE(has_line(
      text, R"(hibiki_gateway_integration_calls_total{route="$connect",outcome="403"} 1)"));
  EXPECT_TRUE(has_line(
      text, R"(hibiki_gateway_integration_calls_total{route="message",outcome="timeout"} 1)"));
  EXPECT_TRUE(has_line(
      text, R"(hibiki_gateway_integration_calls_total{route="message",outcome="error"} 1)"));
  // Cumulative buckets: 3 ms ≤ 5 ms; 7 ms ≤ 10 ms; 30 ms ≤ 50 ms.
  const std::string bucket =
      R"(hibiki_gateway_integration_duration_seconds_bucket{route="$connect",le=")";
  EXPECT_TRUE(has_line(text, bucket + R"(0.005"} 1)")) << text;
  EXPECT_TRUE(has_line(text, bucket + R"(0.01"} 2)"));
  EXPECT_TRUE(has_line(text, bucket + R"(0.025"} 2)"));
  EXPECT_TRUE(has_line(text, bucket + R"(0.05"} 3)"));
  EXPECT_TRUE(has_line(text, bucket + R"(+Inf"} 3)"));
  EXPECT_TRUE(
      has_line(text, R"(hibiki_gateway_integration_duration_seconds_count{route="$connect"} 3)"));
  EXPECT_TRUE(
      has_line(text, R"(hibiki_gateway_integration_duration_seconds_sum{route="$connect"} 0.04)"));
  EXPECT_TRUE(has_line(
      text, R"(hibiki_gateway_integration_duration_seconds_bucket{route="message",le="10"} 1)"));
  EXPECT_TRUE(has_line(
      text, R"(hibiki_gateway_integration_duration_seconds_bucket{route="message",le="+Inf"} 2)"));
  EXPECT_NE(text.find("# TYPE hibiki_gateway_integration_duration_seconds histogram"),
            std::string::npos);
}

TEST(GatewayMetrics, management_calls_and_limits) {
  GatewayMetrics metrics;
  metrics.management_call("post_to_connection", 200);
  metrics.management_call("post_to_connection", 200);
  metrics.management_call("post_to_connection", 410);
  metrics.limit_hit("idle_timeout_s");
  const std::string text = metrics.text(0);
  EXPECT_TRUE(has_line(
      text,
      R"(hibiki_gateway_management_calls_total{operation="post_to_connection",status="200"} 2)"));
  EXPECT_TRUE(has_line(
      text,
      R"(hibiki_gateway_management_calls_total{operation="post_to_connection",status="410"} 1)"));
  EXPECT_TRUE(has_line(text, R"(hibiki_gateway_limits_total{limit="idle_timeout_s"} 1)"));
  EXPECT_NE(text.find("# TYPE hibiki_gateway_limits_total counter"), std::string::npos);
}

TEST(GatewayMetrics, label_values_are_escaped) {
  GatewayMetrics metrics;
  metrics.integration_call("say \"hi\"\\now\n", 200, "", 1);
  EXPECT_NE(metrics.text(0).find(R"({route="say \"hi\"\\now\n",outcome="200"})"),
            std::string::npos);
}

TEST(GatewayMetrics, authorizer_outcomes) {
  GatewayMetrics metrics;
  metrics.authorizer_outcome("allow");
  metrics.authorizer_outcome("allow");
  metrics.authorizer_outcome("deny");
  metrics.authorizer_outcome("unauthorized");
  metrics.authorizer_outcome("error");
  const std::string text = metrics.text(0);
  EXPECT_TRUE(has_line(text, "# TYPE hibiki_gateway_authorizer_total counter")) << text;
  EXPECT_TRUE(has_line(text, R"(hibiki_gateway_authorizer_total{outcome="allow"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(hibiki_gateway_authorizer_total{outcome="deny"} 1)"));
  EXPECT_TRUE(has_line(text, R"(hibiki_gateway_authorizer_total{outcome="unauthorized"} 1)"));
  EXPECT_TRUE(has_line(text, R"(hibiki_gateway_authorizer_total{outcome="error"} 1)"));
}

}  // namespace
}  // namespace hibiki::apps::gateway

#include "apps/gateway/integration_response.hpp"

#include <gtest/gtest.h>

namespace hibiki::apps::gateway {
namespace {

TEST(GatewayIntegrationResponse, a_non_2xx_status_is_passed_through) {
  const IntegrationResult result =
      parse_integration_response(403, R"({"statusCode":200,"body":"ok"})");
  EXPECT_EQ(result.status, 403);
  EXPECT_EQ(result.body, R"({"statusCode":200,"body":"ok"})");
  EXPECT_TRUE(result.headers.empty());
  EXPECT_EQ(parse_integration_response(500, "boom").status, 500);
  EXPECT_EQ(parse_integration_response(302, "").status, 302);
}

TEST(GatewayIntegrationResponse, reads_a_lambda_proxy_result) {
  const IntegrationResult result = parse_integration_response(
      200,
      R"({"statusCode":401,"body":"{\"error\":\"no\"}","headers":{"Sec-WebSocket-Protocol":"chat",)"
      R"("X-Count":3,"X-Flag":true,"X-Null":null},"multiValueHeaders":{"Set-Cookie":["a=1","b=2"]}})");
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.body, R"({"error":"no"})");
  EXPECT_EQ(result.headers, (HeaderList{{"Sec-WebSocket-Protocol", "chat"},
                                        {"X-Count", "3"},
                                        {"X-Flag", "true"},
                                        {"Set-Cookie", "a=1"},
                                        {"Set-Cookie", "b=2"}}));
}

TEST(GatewayIntegrationResponse, decodes_a_base64_body) {
  const IntegrationResult result = parse_integration_response(
      200, R"({"statusCode":200,"body":"aGVsbG8=","isBase64Encoded":true})");
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "hello");
  EXPECT_EQ(parse_integration_response(200, R"({"statusCode":200,"body":"aGVsbG8=",)"
                                            R"("isBase64Encoded":false})")
                .body,
            "aGVsbG8=");
}

TEST(GatewayIntegrationResponse, missing_or_non_string_bodies) {
  EXPECT_EQ(parse_integration_response(200, R"({"statusCode":204})").body, "");
  EXPECT_EQ(parse_integration_response(200, R"({"statusCode":200,"body":null})").body, "");
  EXPECT_EQ(parse_integration_response(200, R"({"statusCode":200,"body":{"a": [1, 2]}})").body,
            R"({"a":[1,2]})");
}

TEST(GatewayIntegrationResponse, an_unusable_result_is_a_502) {
  for (std::string_view body :
       {R"({"statusCode":99})", R"({"statusCode":600})", R"({"statusCode":200.5})",
        R"({"statusCode":200,"body":"!!","isBase64Encoded":true})"}) {
    const IntegrationResult result = parse_integration_response(200, body);
    EXPECT_EQ(result.status, 502) << body;
    EXPECT_EQ(result.body, "") << body;
  }
}

TEST(GatewayIntegrationResponse, anything_else_is_a_plain_http_answer) {
  for (std::string_view body :
       {"hello", "", R"({"message":"hi"})", R"({"statusCode":"200","body":"x"})", "[1,2]",
        R"({"statusCode":200)"}) {
    const IntegrationResult result = parse_integration_response(201, body);
    EXPECT_EQ(result.status, 201) << body;
    EXPECT_EQ(result.body, body);
    EXPECT_TRUE(result.headers.empty());
  }
}

}  // namespace
}  // namespace hibiki::apps::gateway

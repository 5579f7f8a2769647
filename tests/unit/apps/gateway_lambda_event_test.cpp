#include "apps/gateway/lambda_event.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hibiki::apps::gateway {
namespace {

EventContext context(std::string_view route_key) {
  return EventContext{.connection_id = "L0SM9cOFvHcCIhw=",
                      .route_key = route_key,
                      .stage = "dev",
                      .api_id = "local",
                      .domain_name = "localhost:8080",
                      .connected_at_ms = 1795622258123,
                      .request_time_ms = 1795622258456,
                      .request_id = "L0SM9F5VvHcFhUQ=",
                      .extended_request_id = "L0SM9F5VvHcFhUR=",
                      .source_ip = "127.0.0.1",
                      .user_agent = "test-agent/1.0"};
}

// requestContext up to (and without) "identity", for the given event.
std::string context_json(std::string_view route_key, std::string_view event_type,
                         std::string_view middle) {
  return R"("requestContext":{"routeKey":")" + std::string(route_key) + "\"" + std::string(middle) +
         R"(,"eventType":")" + std::string(event_type) +
         R"(","extendedRequestId":"L0SM9F5VvHcFhUR=","requestTime":"25/Nov/2026:15:57:38 +0000",)"
         R"("messageDirection":"IN")";
}

constexpr std::string_view kContextTail =
    R"("stage":"dev","connectedAt":1795622258123,"requestTimeEpoch":1795622258456,)"
    R"("identity":{"sourceIp":"127.0.0.1","userAgent":"test-agent/1.0"},)"
    R"("requestId":"L0SM9F5VvHcFhUQ=","domainName":"localhost:8080",)"
    R"("connectionId":"L0SM9cOFvHcCIhw=","apiId":"local"})";

TEST(GatewayLambdaEvent, connect_event_has_headers_query_and_context) {
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Host", "localhost:8080"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
      {"X-Custom", "one"},
      {"x-custom", "two"},
      {"Cookie", "a=\"b\""}};
  const ConnectEvent event{.context = context("$connect"),
                           .headers = headers,
                           .query = "token=abc%3D&room=lobby&room=dev+ops"};
  EXPECT_EQ(connect_event_json(event),
            R"({"headers":{"Host":"localhost:8080","Sec-WebSocket-Key":"dGhlIHNhbXBsZSBub25jZQ==",)"
            R"("X-Custom":"two","Cookie":"a=\"b\""},)"
            R"("multiValueHeaders":{"Host":["localhost:8080"],)"
            R"("Sec-WebSocket-Key":["dGhlIHNhbXBsZSBub25jZQ=="],"X-Custom":["one","two"],)"
            R"("Cookie":["a=\"b\""]},)"
            R"("queryStringParameters":{"token":"abc=","room":"dev ops"},)"
            R"("multiValueQueryStringParameters":{"token":["abc="],"room":["lobby","dev ops"]},)" +
                context_json("$connect", "CONNECT", "") + "," + std::string(kContextTail) +
                R"(,"isBase64Encoded":false})");
}

TEST(GatewayLambdaEvent, connect_event_without_query_leaves_the_parameters_out) {
  const std::vector<std::pair<std::string, std::string>> headers = {{"Host", "h"}};
  const ConnectEvent event{.context = context("$connect"), .headers = headers, .query = ""};
  const std::string json = connect_event_json(event);
  EXPECT_EQ(json.find("queryStringParameters"), std::string::npos);
  EXPECT_EQ(json.rfind(R"({"headers":{"Host":"h"},"multiValueHeaders":{"Host":["h"]},)", 0), 0u);
}

TEST(GatewayLambdaEvent, message_event_carries_the_text_body) {
  const MessageEvent event{.context = context("message"),
                           .message_id = "L0SM9dJ0vHcAbCE=",
                           .body = "{\"action\":\"message\",\"message\":\"h\xC3\xA9\\n\"}"};
  EXPECT_EQ(message_event_json(event),
            "{" + context_json("message", "MESSAGE", R"(,"messageId":"L0SM9dJ0vHcAbCE=")") + "," +
                std::string(kContextTail) +
                R"(,"body":"{\"action\":\"message\",\"message\":\"h)"
                "\xC3\xA9"
                R"(\\n\"}","isBase64Encoded":false})");
}

TEST(GatewayLambdaEvent, binary_message_is_base64_with_the_flag_set) {
  const MessageEvent event{.context = context("$default"),
                           .message_id = "m",
                           .body = std::string_view("\x00\xFF\x10", 3),
                           .binary = true};
  const std::string json = message_event_json(event);
  EXPECT_NE(json.find(R"(,"body":"AP8Q","isBase64Encoded":true})"), std::string::npos) << json;
}

TEST(GatewayLambdaEvent, disconnect_event_has_status_reason_and_aws_headers) {
  const DisconnectEvent event{
      .context = context("$disconnect"), .status_code = 1001, .reason = "Going away"};
  EXPECT_EQ(disconnect_event_json(event),
            R"({"headers":{"Host":"localhost:8080","x-api-key":"","X-Forwarded-For":"",)"
            R"("x-restapi":""},"multiValueHeaders":{"Host":["localhost:8080"],"x-api-key":[""],)"
            R"("X-Forwarded-For":[""],"x-restapi":[""]},)" +
                context_json("$disconnect", "DISCONNECT", R"(,"disconnectStatusCode":1001)") +
                R"(,"disconnectReason":"Going away",)" + std::string(kContextTail) +
                R"(,"isBase64Encoded":false})");
}

TEST(GatewayLambdaEvent, an_unknown_user_agent_is_null_and_text_is_escaped) {
  EventContext c = context("$disconnect");
  c.user_agent = "";
  const DisconnectEvent event{
      .context = c, .status_code = 1005, .reason = "Client-side close frame status not set\x01"};
  const std::string json = disconnect_event_json(event);
  EXPECT_NE(json.find(R"("identity":{"sourceIp":"127.0.0.1","userAgent":null})"),
            std::string::npos);
  EXPECT_NE(json.find(R"("disconnectReason":"Client-side close frame status not set\u0001")"),
            std::string::npos);
}

}  // namespace
}  // namespace hibiki::apps::gateway

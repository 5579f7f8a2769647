#include "apps/gateway/management_api.hpp"

#include <gtest/gtest.h>

namespace hibiki::apps::gateway {
namespace {

using Action = ManagementAction;

TEST(GatewayManagementApi, parses_the_connection_calls) {
  ManagementRequest r =
      parse_management_request("POST", "/dev/@connections/L0SM9cOFvHcCIhw%3D", "dev");
  EXPECT_EQ(r.kind, Action::post_to_connection);
  EXPECT_EQ(r.connection_id, "L0SM9cOFvHcCIhw=");
  r = parse_management_request("GET", "/dev/@connections/abc=", "dev");
  EXPECT_EQ(r.kind, Action::get_connection);
  EXPECT_EQ(r.connection_id, "abc=");
  r = parse_management_request("DELETE", "/dev/%40connections/a+b%2Bc", "dev");
  EXPECT_EQ(r.kind, Action::delete_connection);
  EXPECT_EQ(r.connection_id, "a+b+c");  // '+' is not a space in a path
  EXPECT_TRUE(r.topic.empty());
}

TEST(GatewayManagementApi, parses_the_topic_calls) {
  ManagementRequest r = parse_management_request("POST", "/prod/@topics/room%2Flobby", "prod");
  EXPECT_EQ(r.kind, Action::publish_topic);
  EXPECT_EQ(r.topic, "room/lobby");
  r = parse_management_request("PUT", "/prod/@topics/news/@connections/id%3D", "prod");
  EXPECT_EQ(r.kind, Action::subscribe_topic);
  EXPECT_EQ(r.topic, "news");
  EXPECT_EQ(r.connection_id, "id=");
  r = parse_management_request("DELETE", "/prod/@topics/news/@connections/id", "prod");
  EXPECT_EQ(r.kind, Action::unsubscribe_topic);
}

TEST(GatewayManagementApi, another_stage_or_none_is_forbidden) {
  for (std::string_view path : {"/prod/@connections/abc", "/", "/DEV/@connections/abc"}) {
    const ManagementRequest r = parse_management_request("POST", path, "dev");
    EXPECT_EQ(r.kind, Action::invalid) << path;
    EXPECT_EQ(r.error, AwsErrorKind::forbidden) << path;
    EXPECT_EQ(r.error_status, 403) << path;
  }
}

TEST(GatewayManagementApi, unknown_paths_and_methods_are_missing_authentication_token) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"PUT", "/dev/@connections/abc"},
      {"PATCH", "/dev/@connections/abc"},
      {"post", "/dev/@connections/abc"},
      {"GET", "/dev/@topics/news"},
      {"POST", "/dev/@topics/news/@connections/abc"},
      {"GET", "/dev/@topics/news/@connections/abc"},
      {"POST", "/dev/@connections/"},
      {"POST", "/dev/@connections"},
      {"POST", "/dev/@connections/abc/more"},
      {"POST", "/dev/connections/abc"},
      {"POST", "/dev"},
      {"POST", ""},
      {"POST", "dev/@connections/abc"},
      {"POST", "/dev/@topics//@connections/abc"},
  };
  for (const auto& [method, path] : cases) {
    const ManagementRequest r = parse_management_request(method, path, "dev");
    EXPECT_EQ(r.kind, Action::invalid) << method << " " << path;
    EXPECT_EQ(r.error, AwsErrorKind::missing_authentication_token) << method << " " << path;
    EXPECT_EQ(r.error_status, 403) << method << " " << path;
  }
}

TEST(GatewayManagementApi, a_malformed_escape_is_a_bad_request) {
  ManagementRequest r = parse_management_request("POST", "/dev/@connections/abc%3", "dev");
  EXPECT_EQ(r.kind, Action::invalid);
  EXPECT_EQ(r.error, AwsErrorKind::bad_request);
  EXPECT_EQ(r.error_status, 400);
  EXPECT_EQ(r.error_message, "Invalid connectionId: abc%3");
  r = parse_management_request("POST", "/dev/@topics/%zz", "dev");
  EXPECT_EQ(r.error_message, "Invalid path segment: %zz");
}

TEST(GatewayManagementApi, success_statuses) {
  EXPECT_EQ(success_status(Action::post_to_connection), 200);
  EXPECT_EQ(success_status(Action::get_connection), 200);
  EXPECT_EQ(success_status(Action::delete_connection), 204);
  EXPECT_EQ(success_status(Action::publish_topic), 200);
  EXPECT_EQ(success_status(Action::subscribe_topic), 204);
  EXPECT_EQ(success_status(Action::unsubscribe_topic), 204);
}

TEST(GatewayManagementApi, aws_error_answers) {
  struct Case {
    AwsErrorKind kind;
    int status;
    std::string_view type;
    std::string_view body;
  };
  const Case cases[] = {
      {AwsErrorKind::gone, 410, "GoneException", ""},
      {AwsErrorKind::forbidden, 403, "ForbiddenException", R"({"message":"Forbidden"})"},
      {AwsErrorKind::payload_too_large, 413, "PayloadTooLargeException",
       R"({"message":"Payload too large"})"},
      {AwsErrorKind::limit_exceeded, 429, "LimitExceededException",
       R"({"message":"Too Many Requests"})"},
      {AwsErrorKind::bad_request, 400, "BadRequestException", R"({"message":"Bad Request"})"},
      {AwsErrorKind::missing_authentication_token, 403, "MissingAuthenticationTokenException",
       R"({"message":"Missing Authentication Token"})"},
      {AwsErrorKind::invalid_signature, 403, "InvalidSignatureException",
       R"({"message":"The request signature we calculated does not match the signature you )"
       R"(provided. Check your AWS Secret Access Key and signing method. Consult the service )"
       R"(documentation for details."})"},
  };
  for (const Case& c : cases) {
    const AwsError error = aws_error(c.kind);
    EXPECT_EQ(error.status, c.status) << c.type;
    EXPECT_EQ(error.error_type, c.type);
    EXPECT_EQ(error.body, c.body) << c.type;
  }
  EXPECT_EQ(aws_error(AwsErrorKind::bad_request, "Invalid connectionId: \"x").body,
            R"({"message":"Invalid connectionId: \"x"})");
}

TEST(GatewayManagementApi, get_connection_body_uses_the_wire_names) {
  EXPECT_EQ(get_connection_body(1795622258123, "127.0.0.1", "Mozilla/5.0 \"x\"", 1795622282007),
            R"({"connectedAt":"2026-11-25T15:57:38.123Z","identity":{"sourceIp":"127.0.0.1",)"
            R"("userAgent":"Mozilla/5.0 \"x\""},"lastActiveAt":"2026-11-25T15:58:02.007Z"})");
  // Without a User-Agent header, null, as in the events.
  EXPECT_EQ(get_connection_body(1795622258123, "127.0.0.1", "", 1795622282007),
            R"({"connectedAt":"2026-11-25T15:57:38.123Z","identity":{"sourceIp":"127.0.0.1",)"
            R"("userAgent":null},"lastActiveAt":"2026-11-25T15:58:02.007Z"})");
}

}  // namespace
}  // namespace hibiki::apps::gateway

// Management API paths and answers (see management_api.hpp).
#include "apps/gateway/management_api.hpp"

#include <optional>
#include <vector>

#include "apps/gateway/json_writer.hpp"
#include "apps/gateway/time_format.hpp"
#include "apps/gateway/url_encoding.hpp"

namespace hibiki::apps::gateway {
namespace {

constexpr std::string_view kConnections = "@connections";
constexpr std::string_view kTopics = "@topics";

ManagementRequest refuse(AwsErrorKind error) {
  ManagementRequest request;
  request.error = error;
  request.error_status = aws_error(error).status;
  return request;
}

// Splits "/a/b%2Fc/d" into raw segments {"a", "b%2Fc", "d"}; nothing unless it starts with '/'.
std::optional<std::vector<std::string_view>> split_path(std::string_view path) {
  if (!path.starts_with('/')) return std::nullopt;
  std::vector<std::string_view> segments;
  path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

}  // namespace

ManagementRequest parse_management_request(std::string_view method, std::string_view path,
                                           std::string_view stage) {
  const auto raw = split_path(path);
  if (!raw || raw->empty()) return refuse(AwsErrorKind::missing_authentication_token);
  std::vector<std::string> segments;
  for (std::size_t i = 0; i < raw->size(); ++i) {
    auto decoded = percent_decode((*raw)[i], PlusMeans::plus);
    if (!decoded) {
      ManagementRequest request = refuse(AwsErrorKind::bad_request);
      // Connection ids sit last under @connections; say so as API Gateway does.
      const bool id = i + 1 == raw->size() && i > 0 && (*raw)[i - 1] == kConnections;
      request.error_message =
          std::string(id ? "Invalid connectionId: " : "Invalid path segment: ") +
          std::string((*raw)[i]);
      return request;
    }
    segments.push_back(std::move(*decoded));
  }
  if (segments[0] != stage) return refuse(AwsErrorKind::forbidden);

  ManagementRequest request;
  const std::size_t n = segments.size();
  const bool connection_path = n == 3 && segments[1] == kConnections && !segments[2].empty();
  const bool topic_path = n == 3 && segments[1] == kTopics && !segments[2].empty();
  const bool subscription_path = n == 5 && segments[1] == kTopics && !segments[2].empty() &&
                                 segments[3] == kConnections && !segments[4].empty();
  if (connection_path) {
    request.connection_id = segments[2];
    if (method == "POST") request.kind = ManagementAction::post_to_connection;
    if (method == "GET") request.kind = ManagementAction::get_connection;
    if (method == "DELETE") request.kind = ManagementAction::delete_connection;
  } else if (topic_path) {
    request.topic = segments[2];
    if (method == "POST") request.kind = ManagementAction::publish_topic;
  } else if (subscription_path) {
    request.topic = segments[2];
    request.connection_id = segments[4];
    if (method == "PUT") request.kind = ManagementAction::subscribe_topic;
    if (method == "DELETE") request.kind = ManagementAction::unsubscribe_topic;
  }
  if (request.kind == ManagementAction::invalid) {
    return refuse(AwsErrorKind::missing_authentication_token);
  }
  return request;
}

int success_status(ManagementAction action) {
  switch (action) {
    case ManagementAction::delete_connection:
    case ManagementAction::subscribe_topic:
    case ManagementAction::unsubscribe_topic:
      return 204;
    default:
      return 200;
  }
}

AwsError aws_error(AwsErrorKind kind, std::string_view message) {
  AwsError error;
  std::string_view text;
  switch (kind) {
    case AwsErrorKind::gone:
      error = {410, "GoneException", {}};
      break;
    case AwsErrorKind::forbidden:
      error = {403, "ForbiddenException", {}};
      text = "Forbidden";
      break;
    case AwsErrorKind::payload_too_large:
      error = {413, "PayloadTooLargeException", {}};
      text = "Payload too large";
      break;
    case AwsErrorKind::limit_exceeded:
      error = {429, "LimitExceededException", {}};
      text = "Too Many Requests";
      break;
    case AwsErrorKind::bad_request:
      error = {400, "BadRequestException", {}};
      text = "Bad Request";
      break;
    case AwsErrorKind::missing_authentication_token:
      error = {403, "MissingAuthenticationTokenException", {}};
      text = "Missing Authentication Token";
      break;
    case AwsErrorKind::service_unavailable:
      error = {503, "ServiceUnavailableException", {}};
      text = "Service Unavailable";
      break;
    case AwsErrorKind::invalid_signature:
      error = {403, "InvalidSignatureException", {}};
      text =
          "The request signature we calculated does not match the signature you provided. Check "
          "your AWS Secret Access Key and signing method. Consult the service documentation for "
          "details.";
      break;
  }
  if (!message.empty()) text = message;
  if (!text.empty()) {
    error.body = R"({"message":)";
    append_json_string(error.body, text);
    error.body += '}';
  }
  return error;
}

const char* to_string(ManagementAction action) {
  switch (action) {
    case ManagementAction::post_to_connection:
      return "post_to_connection";
    case ManagementAction::get_connection:
      return "get_connection";
    case ManagementAction::delete_connection:
      return "delete_connection";
    case ManagementAction::publish_topic:
      return "publish_topic";
    case ManagementAction::subscribe_topic:
      return "subscribe_topic";
    case ManagementAction::unsubscribe_topic:
      return "unsubscribe_topic";
    case ManagementAction::invalid:
      return "invalid";
  }
  return "invalid";
}

std::string get_connection_body(std::int64_t connected_at_ms, std::string_view source_ip,
                                std::string_view user_agent, std::int64_t last_active_ms) {
  JsonWriter json;
  json.begin_object();
  json.key("connectedAt").string(format_iso8601_ms(connected_at_ms));
  json.key("identity").begin_object();
  json.key("sourceIp").string(source_ip);
  // null without a User-Agent header, as in the events.
  json.key("userAgent");
  if (user_agent.empty()) {
    json.null();
  } else {
    json.string(user_agent);
  }
  json.end_object();
  json.key("lastActiveAt").string(format_iso8601_ms(last_active_ms));
  json.end_object();
  return json.take();
}

}  // namespace hibiki::apps::gateway

// The @connections management API (what AWS SDKs' ApiGatewayManagementApi calls) and hibiki's
// @topics extension: request paths to actions, and the answers' exact AWS shapes. No I/O.
//
//   POST   /{stage}/@connections/{id}                     PostToConnection: body → the client
//   GET    /{stage}/@connections/{id}                     GetConnection
//   DELETE /{stage}/@connections/{id}                     DeleteConnection (204 No Content)
//   POST   /{stage}/@topics/{topic}                       body → every subscriber of the topic
//   PUT    /{stage}/@topics/{topic}/@connections/{id}     subscribe the connection
//   DELETE /{stage}/@topics/{topic}/@connections/{id}     unsubscribe it
//
// Refusals follow API Gateway: a path under another stage (or none) is 403 ForbiddenException
// {"message":"Forbidden"}; a path or method the API does not have is 403
// MissingAuthenticationTokenException {"message":"Missing Authentication Token"} (API Gateway
// answers that, not 404 or 405, for any resource and method it does not know).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hibiki::apps::gateway {

enum class ManagementAction : std::uint8_t {
  post_to_connection,
  get_connection,
  delete_connection,
  publish_topic,
  subscribe_topic,
  unsubscribe_topic,
  invalid,  // see ManagementRequest::error
};

// The operation's name in metrics: "post_to_connection", "get_connection", … "invalid".
[[nodiscard]] const char* to_string(ManagementAction action);

// Every error answer the management API gives, with its AWS error type.
enum class AwsErrorKind : std::uint8_t {
  gone,                          // 410 GoneException: no such connection (any more)
  forbidden,                     // 403 ForbiddenException: not allowed (token, peer, stage)
  payload_too_large,             // 413 PayloadTooLargeException: body over the message limit
  limit_exceeded,                // 429 LimitExceededException: too many requests, or the
                                 //     client's send buffer is full
  bad_request,                   // 400 BadRequestException: e.g. a malformed connection id
  missing_authentication_token,  // 403 MissingAuthenticationTokenException: unknown path or
                                 //     method, or no credentials at all
  invalid_signature,             // 403 InvalidSignatureException: SigV4 signature mismatch
  service_unavailable,           // 503 ServiceUnavailableException: the node holding the
                                 //     connection did not answer (SDKs retry it)
};

struct ManagementRequest {
  ManagementAction kind = ManagementAction::invalid;
  std::string connection_id;  // percent-decoded; '+' stays '+'
  std::string topic;          // percent-decoded
  // When kind is invalid: why, and the HTTP status of aws_error(error).
  AwsErrorKind error = AwsErrorKind::missing_authentication_token;
  int error_status = 0;
  std::string error_message;  // for aws_error(error, error_message); empty: the default text
};

// `path` is the request path as received, without the query string; each segment is
// percent-decoded before matching (so "%40connections" is "@connections", and an id's "%3D" is
// '='). A malformed escape is bad_request ("Invalid connectionId: …"); an empty id or topic is
// an unknown path.
[[nodiscard]] ManagementRequest parse_management_request(std::string_view method,
                                                         std::string_view path,
                                                         std::string_view stage);

// The status of a successful answer: 204 for delete_connection, subscribe_topic and
// unsubscribe_topic (no body), else 200.
[[nodiscard]] int success_status(ManagementAction action);

struct AwsError {
  int status = 0;
  std::string_view error_type;  // the x-amzn-ErrorType header's value, e.g. "GoneException"
  std::string body;             // JSON, sent as application/json; may be empty (see below)
};

// Bodies are {"message":"…"} with API Gateway's text ("Forbidden", "Missing Authentication
// Token", the SigV4 mismatch sentence, "Too Many Requests", …), or `message` when one is given.
// GoneException has an empty body, as API Gateway sends it (SDKs report it with no message).
[[nodiscard]] AwsError aws_error(AwsErrorKind kind, std::string_view message = {});

// GetConnection's answer:
// {"connectedAt":"2026-11-25T15:57:38.123Z","identity":{"sourceIp":"127.0.0.1",
//  "userAgent":"…"},"lastActiveAt":"2026-11-25T15:58:02.007Z"}
// These camelCase names are what the service sends on the wire; the SDKs expose them as
// ConnectedAt, Identity.SourceIp, Identity.UserAgent and LastActiveAt.
[[nodiscard]] std::string get_connection_body(std::int64_t connected_at_ms,
                                              std::string_view source_ip,
                                              std::string_view user_agent,
                                              std::int64_t last_active_ms);

}  // namespace hibiki::apps::gateway

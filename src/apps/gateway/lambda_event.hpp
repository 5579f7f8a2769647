// Lambda-proxy event bodies for WebSocket APIs, as API Gateway POSTs them to an integration:
// CONNECT, MESSAGE and DISCONNECT, built from plain values (no server types). Shapes follow the
// events API Gateway sends (AWS docs, "Set up an AWS Lambda proxy integration for WebSocket
// APIs", and captured events), key order included:
//
//   CONNECT     {"headers":{…},"multiValueHeaders":{…},
//                ["queryStringParameters":{…},"multiValueQueryStringParameters":{…},]
//                "requestContext":{…},"isBase64Encoded":false}
//   MESSAGE     {"requestContext":{… "messageId" …},"body":"…","isBase64Encoded":false|true}
//   DISCONNECT  {"headers":{"Host":…,"x-api-key":"","X-Forwarded-For":"","x-restapi":""},
//                "multiValueHeaders":{…},"requestContext":{… "disconnectStatusCode",
//                "disconnectReason" …},"isBase64Encoded":false}
//
//   AUTHORIZER  {"type":"REQUEST","methodArn":"…","headers":{…},"multiValueHeaders":{…},
//                ["queryStringParameters":{…},"multiValueQueryStringParameters":{…},]
//                "stageVariables":{},"requestContext":{… as CONNECT …}}
//                (apigateway-websocket-api-lambda-auth.html)
//
// requestContext: routeKey, [authorizer], [messageId | disconnectStatusCode], eventType,
// extendedRequestId, requestTime, messageDirection "IN", [disconnectReason], stage, connectedAt,
// requestTimeEpoch, identity {sourceIp, userAgent}, requestId, domainName, connectionId, apiId.
// `authorizer` is {"principalId":"…","integrationLatency":N,<context keys: string values>} on
// every event of a connection its $connect authorizer allowed.
// No I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hibiki::apps::gateway {

// What a $connect authorizer allowed the connection with: requestContext.authorizer.
struct AuthorizerContext {
  std::string principal_id;
  std::int64_t integration_latency_ms = 0;  // how long the authorizer took to answer
  // The answer's `context`, values as strings ("1", "true"), as API Gateway passes them on.
  std::vector<std::pair<std::string, std::string>> context;
};

// What every event's requestContext says. Views must outlive the call only.
struct EventContext {
  std::string_view connection_id;
  std::string_view route_key;  // "$connect", "$disconnect", or the selected route
  std::string_view stage;
  std::string_view api_id;
  std::string_view domain_name;
  std::int64_t connected_at_ms = 0;               // connectedAt: when the upgrade arrived
  std::int64_t request_time_ms = 0;               // requestTimeEpoch, and requestTime in seconds
  std::string_view request_id;                    // new_request_id() per event
  std::string_view extended_request_id;           // new_request_id() per event
  std::string_view source_ip;                     // the peer's address, without the port
  std::string_view user_agent;                    // the upgrade's User-Agent; empty is sent as null
  const AuthorizerContext* authorizer = nullptr;  // null: no "authorizer" key
};

struct ConnectEvent {
  EventContext context;
  // The upgrade request's headers as received (names keep their case). "headers" holds the last
  // value of each name, "multiValueHeaders" all of them; names differing only in case are one
  // header, under the first spelling seen.
  std::span<const std::pair<std::string, std::string>> headers;
  // The raw query string without '?'. Parsed into queryStringParameters (last value of each
  // name) and multiValueQueryStringParameters, percent-decoded with '+' as a space; both keys
  // are left out when there are no parameters, as API Gateway does.
  std::string_view query;
};

struct MessageEvent {
  EventContext context;
  std::string_view message_id;  // new_request_id() per message
  std::string_view body;        // the whole message
  bool binary = false;          // binary: body goes base64 with isBase64Encoded true
};

struct DisconnectEvent {
  EventContext context;
  // The close code the connection ended with, and its reason; API Gateway sends e.g. 1001
  // "Going away" for an idle timeout and 1005 "Client-side close frame status not set".
  int status_code = 1005;
  std::string_view reason;
};

// The REQUEST authorizer's input for $connect: the CONNECT event's headers, query and
// requestContext, with type and methodArn first, an empty stageVariables and no
// isBase64Encoded.
struct AuthorizerEvent {
  ConnectEvent connect;
  std::string_view method_arn;
};

[[nodiscard]] std::string authorizer_event_json(const AuthorizerEvent& event);
[[nodiscard]] std::string connect_event_json(const ConnectEvent& event);
[[nodiscard]] std::string message_event_json(const MessageEvent& event);
[[nodiscard]] std::string disconnect_event_json(const DisconnectEvent& event);

}  // namespace hibiki::apps::gateway

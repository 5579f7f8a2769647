// Lambda-proxy event bodies written with JsonWriter (see lambda_event.hpp).
#include "apps/gateway/lambda_event.hpp"

#include <vector>

#include "apps/gateway/base64.hpp"
#include "apps/gateway/headers.hpp"
#include "apps/gateway/json_writer.hpp"
#include "apps/gateway/time_format.hpp"
#include "apps/gateway/url_encoding.hpp"

namespace hibiki::apps::gateway {
namespace {

// One name with all its values, in order of first appearance.
struct Group {
  std::string_view name;
  std::vector<std::string_view> values;
};

template <typename Pairs>
std::vector<Group> group_by_name(const Pairs& pairs, bool ignore_case) {
  std::vector<Group> groups;
  for (const auto& [name, value] : pairs) {
    Group* group = nullptr;
    for (Group& g : groups) {
      if (ignore_case ? iequals(g.name, name) : g.name == name) {
        group = &g;
        break;
      }
    }
    if (group == nullptr) group = &groups.emplace_back(Group{name, {}});
    group->values.emplace_back(value);
  }
  return groups;
}

// "<single>": {name: last value, …}, "<multi>": {name: [values…], …}
void write_groups(JsonWriter& json, std::string_view single, std::string_view multi,
                  const std::vector<Group>& groups) {
  json.key(single).begin_object();
  for (const Group& group : groups)
    json.key(group.name).string(group.values.back());
  json.end_object();
  json.key(multi).begin_object();
  for (const Group& group : groups) {
    json.key(group.name).begin_array();
    for (std::string_view value : group.values)
      json.string(value);
    json.end_array();
  }
  json.end_object();
}

enum class EventType { connect, message, disconnect };

void write_request_context(JsonWriter& json, EventType type, const EventContext& c,
                           std::string_view message_id, int disconnect_status,
                           std::string_view disconnect_reason) {
  json.key("requestContext").begin_object();
  json.key("routeKey").string(c.route_key);
  if (c.authorizer != nullptr) {
    json.key("authorizer").begin_object();
    json.key("principalId").string(c.authorizer->principal_id);
    json.key("integrationLatency").number(c.authorizer->integration_latency_ms);
    for (const auto& [key, value] : c.authorizer->context) {
      // principalId and integrationLatency are API Gateway's own; a context key of that name
      // does not replace them.
      if (key == "principalId" || key == "integrationLatency") continue;
      json.key(key).string(value);
    }
    json.end_object();
  }
  if (type == EventType::message) json.key("messageId").string(message_id);
  if (type == EventType::disconnect) json.key("disconnectStatusCode").number(disconnect_status);
  json.key("eventType")
      .string(type == EventType::connect   ? "CONNECT"
              : type == EventType::message ? "MESSAGE"
                                           : "DISCONNECT");
  json.key("extendedRequestId").string(c.extended_request_id);
  json.key("requestTime").string(format_request_time(c.request_time_ms));
  json.key("messageDirection").string("IN");
  if (type == EventType::disconnect) json.key("disconnectReason").string(disconnect_reason);
  json.key("stage").string(c.stage);
  json.key("connectedAt").number(c.connected_at_ms);
  json.key("requestTimeEpoch").number(c.request_time_ms);
  json.key("identity").begin_object();
  json.key("sourceIp").string(c.source_ip);
  json.key("userAgent");
  if (c.user_agent.empty()) {
    json.null();
  } else {
    json.string(c.user_agent);
  }
  json.end_object();
  json.key("requestId").string(c.request_id);
  json.key("domainName").string(c.domain_name);
  json.key("connectionId").string(c.connection_id);
  json.key("apiId").string(c.api_id);
  json.end_object();
}

}  // namespace

namespace {

// "headers", "multiValueHeaders" and, when there is a query, its two keys.
void write_request_parameters(JsonWriter& json, const ConnectEvent& event) {
  write_groups(json, "headers", "multiValueHeaders", group_by_name(event.headers, true));
  const auto params = parse_query(event.query);
  if (!params.empty()) {
    write_groups(json, "queryStringParameters", "multiValueQueryStringParameters",
                 group_by_name(params, false));
  }
}

}  // namespace

std::string authorizer_event_json(const AuthorizerEvent& event) {
  JsonWriter json;
  json.begin_object();
  json.key("type").string("REQUEST");
  json.key("methodArn").string(event.method_arn);
  write_request_parameters(json, event.connect);
  json.key("stageVariables").begin_object().end_object();
  write_request_context(json, EventType::connect, event.connect.context, {}, 0, {});
  json.end_object();
  return json.take();
}

std::string connect_event_json(const ConnectEvent& event) {
  JsonWriter json;
  json.begin_object();
  write_request_parameters(json, event);
  write_request_context(json, EventType::connect, event.context, {}, 0, {});
  json.key("isBase64Encoded").boolean(false);
  json.end_object();
  return json.take();
}

std::string message_event_json(const MessageEvent& event) {
  JsonWriter json;
  json.begin_object();
  write_request_context(json, EventType::message, event.context, event.message_id, 0, {});
  json.key("body");
  if (event.binary) {
    json.string(base64_encode(event.body));
  } else {
    json.string(event.body);
  }
  json.key("isBase64Encoded").boolean(event.binary);
  json.end_object();
  return json.take();
}

std::string disconnect_event_json(const DisconnectEvent& event) {
  // API Gateway sends these four headers on $disconnect, all but Host empty.
  const std::pair<std::string_view, std::string_view> headers[] = {
      {"Host", event.context.domain_name},
      {"x-api-key", ""},
      {"X-Forwarded-For", ""},
      {"x-restapi", ""}};
  JsonWriter json;
  json.begin_object();
  write_groups(json, "headers", "multiValueHeaders", group_by_name(headers, true));
  write_request_context(json, EventType::disconnect, event.context, {}, event.status_code,
                        event.reason);
  json.key("isBase64Encoded").boolean(false);
  json.end_object();
  return json.take();
}

}  // namespace hibiki::apps::gateway

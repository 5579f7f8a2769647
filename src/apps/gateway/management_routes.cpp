// The gateway's management API on its own listener: @connections (PostToConnection,
// GetConnection, DeleteConnection) answered as API Gateway does, errors included, plus the
// @topics extension that broadcasts with one call. Callers are checked first: a bearer token,
// a SigV4 signature, or a loopback address, as the config says.
#include <simdjson.h>

#include "apps/gateway/gateway_app.hpp"
#include "apps/gateway/gateway_client.hpp"
#include "apps/gateway/gateway_ids.hpp"
#include "apps/gateway/headers.hpp"
#include "apps/gateway/management_api.hpp"
#include "apps/gateway/sigv4.hpp"
#include "hibiki/log.hpp"
#include "hibiki/stats.hpp"

namespace hibiki::apps::gateway {
namespace {

constexpr std::int64_t kSignatureWindowSeconds = 300;

bool is_loopback(std::string_view address) {
  return address.starts_with("127.") || address.starts_with("[::1]:");
}

void answer_error(HttpResponse& response, AwsErrorKind kind, std::string_view message = {}) {
  const AwsError error = aws_error(kind, message);
  response.status = error.status;
  response.body = error.body;
  response.headers.emplace_back("x-amzn-ErrorType", std::string(error.error_type));
}

}  // namespace

bool Gateway::authorized(const HttpRequestView& request, HttpResponse& response) {
  const ManagementConfig& config = config_.management;
  const std::optional<std::string_view> authorization = request.header("Authorization");
  // Loopback callers are let in without credentials only while none are configured, or when
  // the configuration says so (allow_loopback = true).
  const bool exempt = config.loopback_exempt() && is_loopback(request.remote_address());
  if (authorization && is_sigv4_authorization(*authorization)) {
    if (config.sigv4_secret_access_key.empty()) {
      // An AWS SDK signs every call; with no secret to check against, trust only this machine.
      if (exempt) return true;
      answer_error(response, AwsErrorKind::forbidden);
      return false;
    }
    const std::optional<SigV4Authorization> parsed = parse_sigv4_authorization(*authorization);
    if (!parsed || parsed->access_key_id != config.sigv4_access_key_id) {
      answer_error(response, AwsErrorKind::forbidden);
      return false;
    }
    // AWS's answers to a credential scoped to another region or service.
    if (!config.sigv4_region.empty() && parsed->region != config.sigv4_region) {
      answer_error(response, AwsErrorKind::invalid_signature,
                   "Credential should be scoped to a valid region. ");
      return false;
    }
    if (!config.sigv4_service.empty() && parsed->service != config.sigv4_service) {
      answer_error(
          response, AwsErrorKind::invalid_signature,
          "Credential should be scoped to correct service: '" + config.sigv4_service + "'. ");
      return false;
    }
    HeaderList headers;
    for (const auto& [name, value] : request.headers())
      headers.emplace_back(name, value);
    // A signature is good for five minutes either way of its X-Amz-Date (AWS's window).
    const std::optional<std::string_view> amz_date = find_header(headers, "X-Amz-Date");
    if (!amz_date || !sigv4_date_within(*amz_date, epoch_ms() / 1000, kSignatureWindowSeconds)) {
      answer_error(response, AwsErrorKind::invalid_signature, "Signature expired");
      return false;
    }
    const SigV4Status status = check_sigv4(request.method(), request.path(), request.query(),
                                           headers, request.body(), config.sigv4_secret_access_key);
    if (status != SigV4Status::ok) {
      log(LogLevel::warn, std::string("gateway management: SigV4 refused: ") + to_string(status) +
                              " from " + request.remote_address());
      answer_error(response, AwsErrorKind::invalid_signature);
      return false;
    }
    return true;
  }
  if (!config.token.empty() && authorization && *authorization == "Bearer " + config.token) {
    return true;
  }
  // Exempt callers need no credentials; but where credentials are configured, wrong ones
  // shown are still wrong.
  if (exempt && (!authorization || !config.has_credentials())) return true;
  // A configured token (or key pair) must be shown: none is a missing token, anything else
  // the wrong one.
  answer_error(response, config.has_credentials() && !authorization
                             ? AwsErrorKind::missing_authentication_token
                             : AwsErrorKind::forbidden);
  return false;
}

bool Gateway::serve_operations(const HttpRequestView& request, HttpResponse& response) {
  const std::string_view path = request.path();
  if (request.method() != "GET" && request.method() != "HEAD") return false;
  if (path == "/healthz" || path == "/readyz") {
    // Alive, and (the process serving both listeners with its registry open) ready: what a
    // load balancer checks, without credentials.
    response.content_type = "application/json";
    response.body = path == "/healthz" ? R"({"status":"ok","connections":)" +
                                             std::to_string(by_connection_id_.size()) + "}"
                                       : std::string(R"({"status":"ready"})");
    return true;
  }
  if (path == "/metrics") {
    // Behind the same credentials as the API (Prometheus can send a bearer token).
    if (!authorized(request, response)) {
      response.content_type = "application/json";
      return true;
    }
    response.content_type = "text/plain; version=0.0.4";
    response.body = metrics_text(server_.stats()) + metrics_.text(by_connection_id_.size());
    return true;
  }
  return false;
}

void Gateway::serve_management(const HttpRequestView& request, HttpResponse& response) {
  response.content_type = "application/json";
  response.headers.emplace_back("x-amzn-RequestId", new_request_id());
  if (!authorized(request, response)) return;
  const ManagementRequest parsed =
      parse_management_request(request.method(), request.path(), config_.stage);
  if (parsed.kind == ManagementAction::invalid) {
    answer_error(response, parsed.error, parsed.error_message);
    return;
  }
  const std::string_view body = request.body();
  const MessageKind kind =
      simdjson::validate_utf8(body.data(), body.size()) ? MessageKind::text : MessageKind::binary;
  response.status = success_status(parsed.kind);
  if (parsed.kind == ManagementAction::publish_topic) {
    if (body.size() > config_.limits.max_message_bytes) {
      metrics_.limit_hit("max_message_bytes");
      answer_error(response, AwsErrorKind::payload_too_large);
      return;
    }
    const std::size_t delivered = server_.publish(parsed.topic, body, kind);
    response.body = R"({"delivered":)" + std::to_string(delivered) + "}";
    return;
  }
  Client* client = open_client(parsed.connection_id);
  if (client == nullptr) {
    answer_error(response, AwsErrorKind::gone);
    return;
  }
  switch (parsed.kind) {
    case ManagementAction::post_to_connection:
      if (body.size() > config_.limits.max_message_bytes) {
        metrics_.limit_hit("max_message_bytes");
        answer_error(response, AwsErrorKind::payload_too_large);
        return;
      }
      switch (client->ws.send(body, kind)) {
        case SendStatus::sent:
          client->last_active_ms = epoch_ms();
          registry_->touch(client->connection_id, client->last_active_ms);
          break;
        case SendStatus::dropped:  // the client's send buffer is full
          metrics_.limit_hit("send_buffer_full");
          answer_error(response, AwsErrorKind::limit_exceeded);
          break;
        case SendStatus::closed:
          answer_error(response, AwsErrorKind::gone);
          break;
      }
      return;
    case ManagementAction::get_connection:
      response.body = get_connection_body(client->connected_at_ms, client->source_ip,
                                          client->user_agent, client->last_active_ms);
      return;
    case ManagementAction::delete_connection:
      client->ws.close(close_code::kNormal, "Connection Closed Normally");
      return;
    case ManagementAction::subscribe_topic:
      client->ws.subscribe(parsed.topic);
      return;
    case ManagementAction::unsubscribe_topic:
      client->ws.unsubscribe(parsed.topic);
      return;
    case ManagementAction::publish_topic:
    case ManagementAction::invalid:
      return;  // handled above
  }
}

}  // namespace hibiki::apps::gateway

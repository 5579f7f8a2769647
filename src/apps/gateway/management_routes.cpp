// The gateway's management API on its own listener: @connections (PostToConnection,
// GetConnection, DeleteConnection) answered as API Gateway does, errors included, plus the
// @topics extension that broadcasts with one call. Callers are checked first: a bearer token,
// a SigV4 signature, or a loopback address, as the config says.
#include <simdjson.h>

#include <memory>
#include <optional>

#include "apps/gateway/gateway_app.hpp"
#include "apps/gateway/gateway_client.hpp"
#include "apps/gateway/gateway_ids.hpp"
#include "apps/gateway/headers.hpp"
#include "apps/gateway/json_writer.hpp"
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
      log(LogLevel::warn,
          std::string("gateway management: SigV4 refused: ") + to_string(status) + " from " +
              request.remote_address(),
          {{"error", to_string(status)}, {"peer", request.remote_address()}});
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
    if (path == "/healthz") {
      response.body = R"({"status":"ok","connections":)" + std::to_string(open_connections()) + "}";
    } else if (cluster_ && !cluster_->ready()) {
      // Not linked to Redis: a load balancer should send new clients elsewhere.
      response.status = 503;
      response.body = R"({"status":"not ready","reason":)";
      append_json_string(response.body, cluster_->not_ready_reason());
      response.body += "}";
    } else {
      response.body = R"({"status":"ready"})";
    }
    return true;
  }
  if (path == "/metrics") {
    // Behind the same credentials as the API (Prometheus can send a bearer token).
    if (!authorized(request, response)) {
      response.content_type = "application/json";
      return true;
    }
    response.content_type = "text/plain; version=0.0.4";
    response.body = metrics_text(server_.stats()) + metrics_.text(open_connections());
    if (cluster_) response.body += cluster_->metrics_text();
    // How the kernel spread the clients over the loops (SO_REUSEPORT).
    response.body +=
        "# HELP hibiki_gateway_loop_connections WebSocket clients connected now, by event loop.\n"
        "# TYPE hibiki_gateway_loop_connections gauge\n";
    for (const std::unique_ptr<Loop>& loop : loops_) {
      response.body += "hibiki_gateway_loop_connections{loop=\"" +
                       std::to_string(loop->handle.index()) + "\"} " +
                       std::to_string(loop->open_count.load(std::memory_order_relaxed)) + "\n";
    }
    return true;
  }
  return false;
}

void Gateway::serve_http(const HttpRequestView& request, PendingResponse pending) {
  if (request.local_port() == management_port_) {
    serve_management(request, pending);
    return;
  }
  HttpResponse response;
  if (request.method() == "GET") {
    page_(request, response);
  } else {
    response.status = 404;
    response.body = "Not Found\n";
  }
  pending.respond(std::move(response));
}

namespace {

// Answers a management call once, from whichever thread gets to it; an answer nobody gave (the
// task carrying it was dropped because the connection closed first) is 410 GoneException.
class ManagementReply {
 public:
  ManagementReply(ManagementDone done, HttpResponse base)
      : done_(std::move(done)), base_(std::move(base)) {}
  ~ManagementReply() {
    if (!done_) return;
    HttpResponse gone = base_;
    answer_error(gone, AwsErrorKind::gone);
    done_(std::move(gone));
  }
  ManagementReply(const ManagementReply&) = delete;
  ManagementReply& operator=(const ManagementReply&) = delete;

  // The answer, prefilled with what every answer carries.
  [[nodiscard]] HttpResponse base() const { return base_; }
  void finish(HttpResponse response) {
    if (!done_) return;
    ManagementDone done = std::move(done_);
    done_ = nullptr;
    done(std::move(response));
  }

 private:
  ManagementDone done_;
  HttpResponse base_;
};

}  // namespace

void Gateway::serve_management(const HttpRequestView& request, PendingResponse pending) {
  HttpResponse response;
  if (serve_operations(request, response)) {
    pending.respond(std::move(response));
    return;
  }
  const ManagementRequest parsed =
      parse_management_request(request.method(), request.path(), config_.stage);
  ManagementDone done = [this, pending, operation = to_string(parsed.kind)](HttpResponse answer) {
    metrics_.management_call(operation, answer.status);
    pending.respond(std::move(answer));
  };
  response.content_type = "application/json";
  response.headers.emplace_back("x-amzn-RequestId", new_request_id());
  if (!authorized(request, response)) return done(std::move(response));
  if (parsed.kind == ManagementAction::invalid) {
    answer_error(response, parsed.error, parsed.error_message);
    return done(std::move(response));
  }
  const std::string_view body = request.body();
  const bool carries_message = parsed.kind == ManagementAction::publish_topic ||
                               parsed.kind == ManagementAction::post_to_connection;
  if (carries_message && body.size() > config_.limits.max_message_bytes) {
    metrics_.limit_hit("max_message_bytes");
    answer_error(response, AwsErrorKind::payload_too_large);
    return done(std::move(response));
  }
  response.status = success_status(parsed.kind);
  if (parsed.kind == ManagementAction::publish_topic) {
    const MessageKind kind =
        simdjson::validate_utf8(body.data(), body.size()) ? MessageKind::text : MessageKind::binary;
    if (cluster_) {
      // Every node's subscribers, through Redis; "delivered" as the nodes last counted them.
      cluster_->publish(parsed.topic, std::string(body), kind,
                        [response = std::move(response),
                         done = std::move(done)](std::optional<std::size_t> delivered) mutable {
                          if (delivered) {
                            response.body = R"({"delivered":)" + std::to_string(*delivered) + "}";
                          } else {
                            answer_error(response, AwsErrorKind::service_unavailable);
                          }
                          done(std::move(response));
                        });
      return;
    }
    server_.publish(parsed.topic, body, kind);
    const std::size_t delivered = subscriber_count(parsed.topic);
    response.body = R"({"delivered":)" + std::to_string(delivered) + "}";
    return done(std::move(response));
  }
  act_on_connection(parsed, std::string(body), std::move(response), std::move(done));
}

void Gateway::act_on_connection(const ManagementRequest& request, std::string body,
                                HttpResponse base, ManagementDone done, bool forward) {
  std::optional<WebSocket> ws;
  {
    const std::lock_guard lock(directory_mutex_);
    auto found = directory_.find(request.connection_id);
    if (found != directory_.end()) ws = found->second;
  }
  auto reply = std::make_shared<ManagementReply>(std::move(done), std::move(base));
  if (!ws && forward && cluster_) {
    // Another node may hold it: its answer comes back as this node's.
    cluster_->forward(ForwardedCall{.action = request.kind,
                                    .connection_id = request.connection_id,
                                    .topic = request.topic,
                                    .body = std::move(body)},
                      [reply](int status, std::string error_type, std::string answer_body) {
                        HttpResponse response = reply->base();
                        response.status = status;
                        response.body = std::move(answer_body);
                        if (!error_type.empty())
                          response.headers.emplace_back("x-amzn-ErrorType", error_type);
                        reply->finish(std::move(response));
                      });
    return;
  }
  if (!ws) return;  // the reply's destructor answers 410
  // The task is dropped, and the reply answers 410, if the connection closes before its loop
  // runs it.
  server_.dispatch(*ws, [this, reply, request, body = std::move(body)](WebSocket socket) {
    auto* client = static_cast<Client*>(socket.user_data());
    if (client == nullptr) return;
    HttpResponse response = reply->base();
    response.status = success_status(request.kind);
    act(*client, request, body, response);
    reply->finish(std::move(response));
  });
}

void Gateway::act(Client& client, const ManagementRequest& request, std::string_view body,
                  HttpResponse& response) {
  const MessageKind kind =
      simdjson::validate_utf8(body.data(), body.size()) ? MessageKind::text : MessageKind::binary;
  switch (request.kind) {
    case ManagementAction::post_to_connection:
      switch (client.ws.send(body, kind)) {
        case SendStatus::sent:
          client.last_active_ms = epoch_ms();
          with_registry([&client](store::ConnectionRegistry& registry) {
            return registry.touch(client.connection_id, client.last_active_ms);
          });
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
      response.body = get_connection_body(client.connected_at_ms, client.source_ip,
                                          client.user_agent, client.last_active_ms);
      return;
    case ManagementAction::delete_connection:
      client.ws.close(close_code::kNormal, "Connection Closed Normally");
      return;
    case ManagementAction::subscribe_topic:
      if (client.ws.subscribe(request.topic)) {
        client.topics.insert(request.topic);
        count_subscriber(request.topic, +1);
      }
      return;
    case ManagementAction::unsubscribe_topic:
      if (client.ws.unsubscribe(request.topic)) {
        client.topics.erase(request.topic);
        count_subscriber(request.topic, -1);
      }
      return;
    case ManagementAction::publish_topic:
    case ManagementAction::invalid:
      return;  // not actions on a connection
  }
}

void Gateway::count_subscriber(const std::string& topic, int change) {
  if (cluster_) cluster_->subscriber_changed(topic, change);
  const std::lock_guard lock(topics_mutex_);
  std::size_t& count = subscribers_[topic];
  if (change > 0) {
    ++count;
  } else if (count > 0) {
    --count;
  }
  if (count == 0) subscribers_.erase(topic);
}

std::size_t Gateway::subscriber_count(const std::string& topic) const {
  const std::lock_guard lock(topics_mutex_);
  auto found = subscribers_.find(topic);
  return found == subscribers_.end() ? 0 : found->second;
}

}  // namespace hibiki::apps::gateway

// The gateway's WebSocket side: upgrades decided by $connect, messages routed to their
// integration, $disconnect after every close, and the idle and lifetime limits.
#include "apps/gateway/gateway_app.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <stdexcept>

#include "apps/gateway/error_frame.hpp"
#include "apps/gateway/gateway_client.hpp"
#include "apps/gateway/gateway_ids.hpp"
#include "apps/gateway/headers.hpp"
#include "apps/gateway/integration_response.hpp"
#include "apps/gateway/lambda_event.hpp"
#include "apps/gateway/management_api.hpp"
#include "apps/gateway/route_selection.hpp"
#include "hibiki/log.hpp"
#include "hibiki/static_files.hpp"

// Generated from web/ at build time (cmake/embed_assets.cmake).
std::span<const hibiki::StaticAsset> hibiki_chat_web_assets();

namespace hibiki::apps::gateway {

namespace {

constexpr std::uint32_t kSweepIntervalMs = 1000;

// "1.2.3.4:5678" or "[::1]:5678" -> the address alone, as requestContext.identity.sourceIp.
std::string ip_of(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  std::string_view ip = colon == std::string_view::npos ? address : address.substr(0, colon);
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  return std::string(ip);
}

}  // namespace

// What every event says about its connection and this request. Views into `client`.
EventContext Gateway::event_context(const Client& client, std::string_view route_key,
                                    std::int64_t request_time_ms, std::string_view request_id,
                                    std::string_view extended_request_id) const {
  return {.connection_id = client.connection_id,
          .route_key = route_key,
          .stage = config_.stage,
          .api_id = config_.api_id,
          .domain_name = client.domain_name,
          .connected_at_ms = client.connected_at_ms,
          .request_time_ms = request_time_ms,
          .request_id = request_id,
          .extended_request_id = extended_request_id,
          .source_ip = client.source_ip,
          .user_agent = client.user_agent,
          .authorizer = client.authorizer ? &*client.authorizer : nullptr};
}

namespace {

// API Gateway's disconnectReason when the close frame carried none.
std::string_view default_close_reason(std::uint16_t code) {
  switch (code) {
    case close_code::kNoStatus:
      return "Client-side close frame status not set";
    case close_code::kAbnormal:
      return "Connection closed abnormally";
    case close_code::kNormal:
      return "Connection Closed Normally";
    default:
      return {};
  }
}

// "Root=1-<epoch seconds in hex>-<24 hex digits>", the X-Ray trace header's shape.
std::string new_trace_id(std::int64_t now_ms) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "Root=1-";
  char seconds[16];
  std::snprintf(seconds, sizeof seconds, "%08llx", static_cast<unsigned long long>(now_ms / 1000));
  id += seconds;
  id += '-';
  std::random_device random;
  for (int i = 0; i < 24; ++i)
    id += kHex[random() & 15];
  return id;
}

MessageKind kind_of(std::string_view bytes) {
  return simdjson::validate_utf8(bytes.data(), bytes.size()) ? MessageKind::text
                                                             : MessageKind::binary;
}

}  // namespace

ServerOptions gateway_server_options(const GatewayConfig& config) {
  std::uint32_t longest_connect_ms = 0;
  if (const RouteConfig* connect = config.find_route(kConnectRoute)) {
    longest_connect_ms = connect->timeout_ms;
  }
  if (config.authorizer) longest_connect_ms += config.authorizer->timeout_ms;
  ServerOptions options{
      .threads = config.threads,
      .host = config.host,
      .port = config.port,
      // Bodies past the message limit get the management API's own 413 (PayloadTooLarge).
      .max_http_body_bytes =
          std::max<std::size_t>(1u << 20, std::size_t{config.limits.max_message_bytes} * 2),
      .max_message_bytes = config.limits.max_message_bytes,
      .max_frame_bytes = config.limits.max_frame_bytes,
      // API Gateway sends a message longer than its 32 KB frame limit as a fragmented one; the
      // relaxed profile keeps one frame per message.
      .max_send_frame_bytes =
          config.profile == Profile::aws ? std::size_t{config.limits.max_frame_bytes} : 0,
      // A client whose buffer is full makes PostToConnection answer 429, as API Gateway does.
      .backpressure_policy = BackpressurePolicy::drop,
      // The upgrade waits for $connect's integration, which has its own timeout.
      .handshake_timeout_ms = std::max<std::uint32_t>(10'000, longest_connect_ms + 1'000),
      // API Gateway does not ping; the gateway applies its own idle limit (sweep()).
      .idle_timeout_ms = 0,
      .max_connections_per_ip = 0,
  };
  // [tls]: wss:// and https:// on the WebSocket port; the management port has its own TLS
  // (Gateway::listen()).
  options.tls_certificate_file = config.tls.cert;
  options.tls_private_key_file = config.tls.key;
  return options;
}

Gateway::Gateway(Server& server, GatewayConfig config)
    : server_(server), config_(std::move(config)) {
  std::string error;
  auto registry = store::ConnectionRegistry::open(config_.registry_path, error);
  if (!registry) throw std::runtime_error("gateway registry: " + error);
  registry_ = std::make_unique<store::ConnectionRegistry>(std::move(*registry));
  if (registry_->recovered_on_open() > 0) {
    log(LogLevel::warn, "gateway registry: " + std::to_string(registry_->recovered_on_open()) +
                            " connection(s) left open by the previous run marked closed (1006)");
  }
  for (std::size_t index = 0; index < server_.loop_count(); ++index)
    loops_.push_back(std::make_unique<Loop>(server_.loop(index)));
  if (config_.cluster) {
    // Calls other nodes forward here act on this node's connections only.
    auto local_action = [this](ForwardedCall call, ClusterAnswer answer) {
      const ManagementRequest request{.kind = call.action,
                                      .connection_id = std::move(call.connection_id),
                                      .topic = std::move(call.topic)};
      act_on_connection(
          request, std::move(call.body), HttpResponse{},
          [answer = std::move(answer)](HttpResponse response) {
            std::string error_type;
            for (const auto& [name, value] : response.headers) {
              if (name == "x-amzn-ErrorType") error_type = value;
            }
            answer(response.status, std::move(error_type), std::move(response.body));
          },
          /*forward=*/false);
    };
    cluster_ = std::make_unique<GatewayCluster>(
        server_,
        GatewayClusterOptions{.redis_url = config_.cluster->redis_url,
                              .prefix = config_.cluster->prefix,
                              .node_id = config_.cluster->node_id},
        std::move(local_action));
  }
  connect_tokens_ = config_.limits.new_connections_per_second;
  connect_refill_ms_ = epoch_ms();

  server_.ws(
      "*", {.on_upgrade = [this](PendingUpgrade upgrade,
                                 const HttpRequestView& request) { on_upgrade(upgrade, request); },
            .on_open = [this](WebSocket ws) { on_open(ws); },
            .on_message = [this](WebSocket ws, std::string_view message,
                                 MessageKind kind) { on_message(ws, message, kind); },
            .on_close = [this](WebSocket ws, std::uint16_t code,
                               std::string_view reason) { on_close(ws, code, reason); }});
  page_ = serve_assets(hibiki_chat_web_assets());
  // The WebSocket port also serves the chat page (it falls back to the talk's JSON against a
  // backend that only speaks that); the management port serves the @connections API, whose
  // answers may come from another loop.
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    server_.route_deferred(method, "*",
                           [this](const HttpRequestView& request, PendingResponse pending) {
                             serve_http(request, pending);
                           });
  }
  for (const std::unique_ptr<Loop>& loop : loops_) {
    Loop* here = loop.get();
    here->sweep_timer = here->handle.set_timer(kSweepIntervalMs, [this, here] { sweep(*here); });
    // A graceful stop closes every client: let their $disconnect calls go out first.
    here->handle.finish_before_stopping([this, here] {
      return here->integrations.in_flight() > 0 ||
             (here->handle.index() == 0 && cluster_ && cluster_->busy());
    });
  }
}

Gateway::~Gateway() {
  for (const std::unique_ptr<Loop>& loop : loops_) {
    loop->handle.finish_before_stopping({});
    loop->handle.cancel_timer(loop->sweep_timer);
  }
}

std::pair<std::uint16_t, std::uint16_t> Gateway::listen() {
  const std::uint16_t port = server_.listen();
  // [management.tls], or plain even when the WebSocket port has TLS.
  management_port_ = server_.listen(config_.management.host, config_.management.port,
                                    ListenerTls{.certificate_file = config_.management.tls.cert,
                                                .private_key_file = config_.management.tls.key});
  if (cluster_) cluster_->start(port);
  return {port, management_port_};
}

Gateway::Loop& Gateway::this_loop() {
  return *loops_[server_.current_loop()->index()];
}

std::size_t Gateway::open_connections() const {
  const std::lock_guard lock(directory_mutex_);
  return directory_.size();
}

bool Gateway::within_connection_rate() {
  const double rate = config_.limits.new_connections_per_second;
  if (rate == 0) return true;
  const std::lock_guard lock(rate_mutex_);
  const std::int64_t now = epoch_ms();
  connect_tokens_ =
      std::min(rate, connect_tokens_ + rate * static_cast<double>(now - connect_refill_ms_) / 1000);
  connect_refill_ms_ = now;
  if (connect_tokens_ < 1) return false;
  connect_tokens_ -= 1;
  return true;
}

void Gateway::on_upgrade(PendingUpgrade upgrade, const HttpRequestView& request) {
  if (request.local_port() == management_port_) {
    upgrade.reject(404, "Not Found\n");
    return;
  }
  if (cluster_ && !cluster_->ready()) {
    // Connections taken now could not be reached from the other nodes.
    upgrade.reject(503, "Service Unavailable: " + cluster_->not_ready_reason() + "\n",
                   {{"Retry-After", "3"}});
    return;
  }
  if (!within_connection_rate()) {
    metrics_.limit_hit("new_connections_per_second");
    log(LogLevel::warn,
        "gateway: upgrade refused with 429, over " +
            std::to_string(config_.limits.new_connections_per_second) +
            " new connections per second",
        {{"status", 429}, {"limit", config_.limits.new_connections_per_second}});
    upgrade.reject(429, "Too Many Requests\n");
    return;
  }
  const std::uint64_t socket_id = upgrade.id();
  auto client = std::make_unique<Client>();
  client->connection_id = new_connection_id();
  client->connected_at_ms = epoch_ms();
  client->last_active_ms = client->connected_at_ms;
  client->source_ip = ip_of(request.remote_address());
  client->user_agent = std::string(request.header("User-Agent").value_or(""));
  client->domain_name = config_.domain_name.empty()
                            ? std::string(request.header("Host").value_or(""))
                            : config_.domain_name;
  Client& c = *client;
  Loop& loop = this_loop();
  loop.clients[socket_id] = std::move(client);

  HeaderList headers;
  for (const auto& [name, value] : request.headers())
    headers.emplace_back(name, value);
  // What API Gateway's front end adds on the way to the integration.
  headers.emplace_back("X-Amzn-Trace-Id", new_trace_id(c.connected_at_ms));
  headers.emplace_back("X-Forwarded-For", c.source_ip);
  headers.emplace_back("X-Forwarded-Port", std::to_string(request.local_port()));
  headers.emplace_back("X-Forwarded-Proto", config_.tls.enabled() ? "https" : "http");
  if (config_.authorizer) {
    authorize(upgrade, c, std::move(headers), std::string(request.query()));
    return;
  }
  connect_route(upgrade, c, headers, request.query());
}

void Gateway::connect_route(PendingUpgrade upgrade, Client& c, const HeaderList& headers,
                            std::string_view query) {
  const std::uint64_t socket_id = upgrade.id();
  Loop& loop = this_loop();
  const RouteConfig* route = config_.find_route(kConnectRoute);
  if (route == nullptr) {
    upgrade.accept();
    return;
  }
  const std::string request_id = new_request_id();
  const ConnectEvent event{
      .context = event_context(c, kConnectRoute, c.connected_at_ms, request_id, request_id),
      .headers = headers,
      .query = query};
  invoke(*route, c.connection_id, request_id, connect_event_json(event),
         [this, &loop, upgrade, socket_id](const IntegrationResponse& response) {
           if (!upgrade.is_pending()) {  // the client went away while the backend decided
             loop.clients.erase(socket_id);
             return;
           }
           if (!response.error.empty()) {
             upgrade.reject(500, "Internal server error\n");
             loop.clients.erase(socket_id);
             return;
           }
           const IntegrationResult result =
               parse_integration_response(response.http_status, response.body);
           if (result.status < 200 || result.status > 299) {
             int status = config_.connect_refusal_status != 0 ? config_.connect_refusal_status
                                                              : result.status;
             if (status < 400 || status > 599) status = 502;  // not an answer a client can get
             upgrade.reject(status, result.body);
             loop.clients.erase(socket_id);
             return;
           }
           // From a Lambda-proxy result's headers, or a plain answer's own.
           std::optional<std::string_view> protocol =
               find_header(result.headers, "Sec-WebSocket-Protocol");
           if (!protocol) protocol = find_header(response.headers, "Sec-WebSocket-Protocol");
           upgrade.accept(protocol.value_or(""));
         });
}

void Gateway::on_open(WebSocket ws) {
  Loop& loop = this_loop();
  auto found = loop.clients.find(ws.id());
  if (found == loop.clients.end()) {
    ws.close(close_code::kInternalError, "no such connection");
    return;
  }
  Client& c = *found->second;
  c.ws = ws;
  ws.set_user_data(&c);
  loop.open[c.connection_id] = &c;
  loop.open_count.store(loop.open.size(), std::memory_order_relaxed);
  {
    const std::lock_guard lock(directory_mutex_);
    directory_[c.connection_id] = ws;
  }
  if (cluster_) cluster_->connection_opened(c.connection_id);
  with_registry([&c](store::ConnectionRegistry& registry) {
    if (!registry.add_connection({.connection_id = c.connection_id,
                                  .source_ip = c.source_ip,
                                  .user_agent = c.user_agent,
                                  .connected_at_ms = c.connected_at_ms})) {
      log(LogLevel::error, "gateway registry: " + registry.last_error());
    }
  });
  log(LogLevel::info, "gateway: connection " + c.connection_id + " from " + c.source_ip,
      {{"connection_id", c.connection_id},
       {"source_ip", c.source_ip},
       {"user_agent", c.user_agent}});
}

void Gateway::on_message(WebSocket ws, std::string_view message, MessageKind kind) {
  auto* c = static_cast<Client*>(ws.user_data());
  if (c == nullptr) return;
  const std::int64_t now = epoch_ms();
  c->last_active_ms = now;
  with_registry([c, now](store::ConnectionRegistry& registry) {
    return registry.touch(c->connection_id, now);
  });
  if (kind == MessageKind::binary && config_.profile == Profile::aws) {
    // API Gateway's WebSocket APIs take text frames only.
    metrics_.limit_hit("binary_frame");
    ws.close(close_code::kUnsupportedData, "Binary frames are not supported");
    return;
  }
  const RouteChoice choice = select_route(config_.route_selector, message, config_.route_table,
                                          kind == MessageKind::binary);
  const std::string request_id = new_request_id();
  if (choice.outcome == RouteChoice::Outcome::no_route) {
    ws.send(aws_error_frame(kForbiddenMessage, c->connection_id, request_id));
    return;
  }
  const RouteConfig* route = config_.find_route(choice.route_key);
  if (route == nullptr) return;  // select_route only picks configured keys
  const std::string message_id = new_request_id();
  const MessageEvent event{.context = event_context(*c, route->key, now, request_id, request_id),
                           .message_id = message_id,
                           .body = message,
                           .binary = kind == MessageKind::binary};
  invoke(*route, c->connection_id, request_id, message_event_json(event),
         [&loop = this_loop(), id = c->connection_id, request_id,
          two_way = route->route_response](const IntegrationResponse& response) {
           auto found = loop.open.find(id);
           if (found == loop.open.end()) return;  // closed while the backend answered
           Client* client = found->second;
           // A backend that failed (no answer, or a server error of its own) leaves the client
           // API Gateway's "Internal server error" frame.
           if (!response.error.empty() || response.http_status >= 500) {
             client->ws.send(aws_error_frame(kInternalServerErrorMessage, id, request_id));
             return;
           }
           if (!two_way) return;
           const IntegrationResult result =
               parse_integration_response(response.http_status, response.body);
           if (!result.body.empty()) client->ws.send(result.body, kind_of(result.body));
         });
}

void Gateway::on_close(WebSocket ws, std::uint16_t code, std::string_view reason) {
  auto* c = static_cast<Client*>(ws.user_data());
  if (c == nullptr) return;
  const std::int64_t now = epoch_ms();
  with_registry([&](store::ConnectionRegistry& registry) {
    if (!registry.mark_disconnected(c->connection_id, code, reason, now)) {
      log(LogLevel::error, "gateway registry: " + registry.last_error());
    }
  });
  Loop& loop = this_loop();
  loop.open.erase(c->connection_id);
  loop.open_count.store(loop.open.size(), std::memory_order_relaxed);
  for (const std::string& topic : c->topics)
    count_subscriber(topic, -1);
  if (cluster_) cluster_->connection_closed(c->connection_id);
  {
    const std::lock_guard lock(directory_mutex_);
    directory_.erase(c->connection_id);
  }
  log(LogLevel::info,
      "gateway: connection " + c->connection_id + " closed " + std::to_string(code) + " " +
          std::string(reason),
      {{"connection_id", c->connection_id}, {"code", code}, {"reason", reason}});
  // $disconnect always fires, best effort: nobody is left to hear of a failure.
  if (const RouteConfig* route = config_.find_route(kDisconnectRoute)) {
    const std::string request_id = new_request_id();
    const DisconnectEvent event{
        .context = event_context(*c, kDisconnectRoute, now, request_id, request_id),
        .status_code = code,
        .reason = reason.empty() ? default_close_reason(code) : reason};
    invoke(*route, c->connection_id, request_id, disconnect_event_json(event),
           [](const IntegrationResponse&) {});
  }
  loop.clients.erase(ws.id());
}

void Gateway::invoke(const RouteConfig& route, const std::string& connection_id,
                     const std::string& request_id, std::string event,
                     std::function<void(const IntegrationResponse&)> done) {
  this_loop().integrations.post(
      route.integration, std::move(event), {}, route.timeout_ms,
      [this, route_key = route.key, connection_id, request_id,
       done = std::move(done)](const IntegrationResponse& response) {
        const LogLevel level =
            response.error.empty() && response.http_status < 500 ? LogLevel::info : LogLevel::warn;
        if (level >= log_level()) {  // the line is built only when it is written
          const std::string outcome = response.error.empty()
                                          ? "HTTP " + std::to_string(response.http_status)
                                          : response.error;
          log(level,
              "gateway: " + route_key + " connection " + connection_id + " request " + request_id +
                  ": " + outcome + " in " + std::to_string(response.elapsed_ms) + " ms",
              {{"route", route_key},
               {"connection_id", connection_id},
               {"request_id", request_id},
               {"status", response.http_status},
               {"error", response.error},
               {"elapsed_ms", response.elapsed_ms}});
        }
        metrics_.integration_call(route_key, response.http_status, response.error,
                                  response.elapsed_ms);
        with_registry([&](store::ConnectionRegistry& registry) {
          return registry.record_call({.request_id = request_id,
                                       .connection_id = connection_id,
                                       .route_key = route_key,
                                       .status = response.http_status,
                                       .latency_ms = response.elapsed_ms,
                                       .at_ms = epoch_ms(),
                                       .error = response.error});
        });
        done(response);
      });
}

void Gateway::sweep(Loop& loop) {
  const std::int64_t now = epoch_ms();
  const GatewayLimits& limits = config_.limits;
  for (const auto& [id, client] : loop.open) {
    const bool idle = limits.idle_timeout_s != 0 &&
                      now - client->last_active_ms >= std::int64_t{limits.idle_timeout_s} * 1000;
    const bool expired =
        limits.max_duration_s != 0 &&
        now - client->connected_at_ms >= std::int64_t{limits.max_duration_s} * 1000;
    // on_close runs at the end of the loop turn, so closing here leaves the map intact.
    if (idle || expired) {
      metrics_.limit_hit(idle ? "idle_timeout_s" : "max_duration_s");
      client->ws.close(close_code::kGoingAway, "Going away");
    }
  }
  if (loop.handle.index() == 0) {
    with_registry([](store::ConnectionRegistry& registry) {
      if (!registry.flush()) log(LogLevel::error, "gateway registry: " + registry.last_error());
    });
  }
  loop.sweep_timer = loop.handle.set_timer(kSweepIntervalMs, [this, &loop] { sweep(loop); });
}

}  // namespace hibiki::apps::gateway

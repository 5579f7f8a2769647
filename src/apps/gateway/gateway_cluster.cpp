#include "apps/gateway/gateway_cluster.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include "hibiki/log.hpp"
#include "hibiki/stats.hpp"

namespace hibiki::apps::gateway {
namespace {

// Every script takes the key prefix as ARGV[1] and builds its keys from it (see the header).
constexpr std::string_view kHeartbeat = R"lua(
local p = ARGV[1] .. ':gw:'
local node = ARGV[2]
redis.call('SET', p .. 'node:' .. node, '1', 'PX', ARGV[3])
redis.call('SADD', p .. 'nodes', node)
local reaped = 0
for _, n in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
  if n ~= node and redis.call('EXISTS', p .. 'node:' .. n) == 0 then
    for _, id in ipairs(redis.call('SPOP', p .. 'conns:' .. n, 1000)) do
      if redis.call('GET', p .. 'conn:' .. id) == n then redis.call('DEL', p .. 'conn:' .. id) end
      reaped = reaped + 1
    end
    if redis.call('SCARD', p .. 'conns:' .. n) == 0 then
      redis.call('SREM', p .. 'nodes', n)
      redis.call('DEL', p .. 'subs:' .. n)
    end
  end
end
return reaped
)lua";

// A node starting afresh: what a previous process of the same name left is gone.
constexpr std::string_view kReset = R"lua(
local p = ARGV[1] .. ':gw:'
local node = ARGV[2]
local ids = redis.call('SMEMBERS', p .. 'conns:' .. node)
for _, id in ipairs(ids) do
  if redis.call('GET', p .. 'conn:' .. id) == node then redis.call('DEL', p .. 'conn:' .. id) end
end
redis.call('DEL', p .. 'conns:' .. node, p .. 'subs:' .. node)
return #ids
)lua";

constexpr std::string_view kRegister = R"lua(
local p = ARGV[1] .. ':gw:'
redis.call('SET', p .. 'conn:' .. ARGV[3], ARGV[2])
redis.call('SADD', p .. 'conns:' .. ARGV[2], ARGV[3])
return 1
)lua";

constexpr std::string_view kUnregister = R"lua(
local p = ARGV[1] .. ':gw:'
if redis.call('GET', p .. 'conn:' .. ARGV[3]) == ARGV[2] then
  redis.call('DEL', p .. 'conn:' .. ARGV[3])
end
redis.call('SREM', p .. 'conns:' .. ARGV[2], ARGV[3])
return 1
)lua";

// The live node holding a connection, or nil.
constexpr std::string_view kLocate = R"lua(
local p = ARGV[1] .. ':gw:'
local node = redis.call('GET', p .. 'conn:' .. ARGV[2])
if not node then return false end
if redis.call('EXISTS', p .. 'node:' .. node) == 0 then return false end
return node
)lua";

constexpr std::string_view kCountSubscriber = R"lua(
local key = ARGV[1] .. ':gw:subs:' .. ARGV[2]
local count = redis.call('HINCRBY', key, ARGV[3], ARGV[4])
if count <= 0 then redis.call('HDEL', key, ARGV[3]) end
return count
)lua";

// After a reconnect: this node's counts as it knows them (topic, count pairs).
constexpr std::string_view kSetSubscribers = R"lua(
local key = ARGV[1] .. ':gw:subs:' .. ARGV[2]
redis.call('DEL', key)
for i = 3, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
return 1
)lua";

constexpr std::string_view kDelivered = R"lua(
local p = ARGV[1] .. ':gw:'
local total = 0
for _, n in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
  if redis.call('EXISTS', p .. 'node:' .. n) == 1 then
    total = total + tonumber(redis.call('HGET', p .. 'subs:' .. n, ARGV[2]) or '0')
  end
end
return total
)lua";

std::int64_t epoch_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "gateway";
  return name;
}

}  // namespace

struct GatewayCluster::State {
  State(Server& server, GatewayClusterOptions options, LocalAction local_action)
      : server(server),
        options(std::move(options)),
        local_action(std::move(local_action)),
        bus(server, ClusterOptions{.redis_url = this->options.redis_url,
                                   .prefix = this->options.prefix,
                                   .bridge_topics = true}) {}

  struct Waiting {
    ClusterAnswer answer;
    std::uint64_t timer = 0;
  };

  Server& server;
  GatewayClusterOptions options;
  LocalAction local_action;
  ClusterBus bus;
  std::string channel;  // ours: "<prefix>:gw:to:<node>"

  // Loop 0 only.
  bool registered_once = false;
  std::uint64_t heartbeat_timer = 0;
  std::unordered_set<std::string> local_ids;
  std::unordered_set<std::string> closed_while_down;  // to unregister on the next link
  std::unordered_map<std::string, long long> local_subscribers;
  std::unordered_map<std::uint64_t, Waiting> waiting;  // forwarded calls by correlation
  std::uint64_t next_correlation = 0;

  std::atomic<bool> ready{false};
  mutable std::mutex reason_mutex;
  std::string reason = "connecting to Redis";

  std::atomic<std::uint64_t> forwarded{0};
  std::atomic<std::uint64_t> forwarded_gone{0};
  std::atomic<std::uint64_t> forwarded_unavailable{0};
  std::atomic<std::uint64_t> calls_served{0};
  std::atomic<std::uint64_t> calls_expired{0};
  std::atomic<std::uint64_t> nodes_reaped_connections{0};

  std::string prefix() const { return options.prefix; }

  bool eval(std::string_view script, std::vector<std::string> arguments,
            std::function<void(const RedisReply*)> done) {
    std::vector<std::string> command;
    command.reserve(arguments.size() + 3);
    command.emplace_back("EVAL");
    command.emplace_back(script);
    command.emplace_back("0");
    for (std::string& argument : arguments)
      command.push_back(std::move(argument));
    return bus.command(std::move(command), std::move(done));
  }

  void set_not_ready(std::string why) {
    if (ready.exchange(false)) log(LogLevel::warn, "gateway cluster: not ready: " + why);
    const std::lock_guard lock(reason_mutex);
    reason = std::move(why);
  }

  void set_ready() {
    {
      const std::lock_guard lock(reason_mutex);
      reason.clear();
    }
    if (!ready.exchange(true)) {
      log(LogLevel::info, "gateway cluster: node " + options.node_id + " ready (" +
                              std::to_string(local_ids.size()) + " connection(s) registered)");
    }
  }

  void on_link(bool up) {
    if (!up) {
      set_not_ready("Redis link down: " + bus.link_status());
      return;
    }
    if (!registered_once) {
      eval(kReset, {prefix(), options.node_id}, [this](const RedisReply* reply) {
        if (reply != nullptr && reply->type == RedisReply::Type::integer && reply->integer > 0) {
          log(LogLevel::info, "gateway cluster: dropped " + std::to_string(reply->integer) +
                                  " connection(s) a previous run of node " + options.node_id +
                                  " left in Redis");
        }
      });
    }
    // What this node holds, again: Redis may have restarted empty, and closes may have been
    // missed while the link was down.
    for (const std::string& id : closed_while_down)
      eval(kUnregister, {prefix(), options.node_id, id}, {});
    closed_while_down.clear();
    for (const std::string& id : local_ids)
      eval(kRegister, {prefix(), options.node_id, id}, {});
    std::vector<std::string> counts{prefix(), options.node_id};
    for (const auto& [topic, count] : local_subscribers) {
      counts.push_back(topic);
      counts.push_back(std::to_string(count));
    }
    eval(kSetSubscribers, std::move(counts), {});
    heartbeat(/*first_of_link=*/true);
  }

  void heartbeat(bool first_of_link) {
    server.cancel_timer(heartbeat_timer);
    heartbeat_timer = server.set_timer(options.heartbeat_ms, [this] { heartbeat(false); });
    if (!bus.link_up()) return;
    const bool sent =
        eval(kHeartbeat, {prefix(), options.node_id, std::to_string(options.dead_after_ms)},
             [this, first_of_link](const RedisReply* reply) {
               if (reply == nullptr || reply->is_error()) {
                 set_not_ready("heartbeat failed" + (reply ? ": " + reply->text : std::string()));
                 return;
               }
               if (reply->integer > 0) {
                 nodes_reaped_connections += reply->integer;
                 log(LogLevel::info, "gateway cluster: reaped " + std::to_string(reply->integer) +
                                         " connection(s) of dead node(s)");
               }
               registered_once = true;
               if (first_of_link || !ready) set_ready();
             });
    if (!sent) set_not_ready("Redis did not take the heartbeat");
  }

  void on_message(std::string_view payload) {
    if (auto call = decode_call(payload)) {
      if (epoch_now_ms() > call->deadline_ms) {
        // Its origin has answered 503 already: acting now would act behind the caller's back.
        ++calls_expired;
        log(LogLevel::warn, "gateway cluster: dropped a call from " + call->origin +
                                " that arrived after its deadline");
        return;
      }
      ++calls_served;
      const std::string origin = call->origin;
      const std::uint64_t correlation = call->correlation;
      local_action(std::move(*call), [this, origin, correlation](int status, std::string error_type,
                                                                 std::string body) {
        // Any thread: the answer goes back from loop 0, where the bus lives.
        server.dispatch([this, origin, correlation, status, error_type = std::move(error_type),
                         body = std::move(body)] {
          bus.command({"PUBLISH", options.prefix + ":gw:to:" + origin,
                       encode(ForwardedAnswer{.correlation = correlation,
                                              .status = status,
                                              .error_type = error_type,
                                              .body = body})},
                      {});
        });
      });
      return;
    }
    if (auto answer = decode_answer(payload)) {
      finish(answer->correlation, answer->status, std::move(answer->error_type),
             std::move(answer->body));
      return;
    }
    log(LogLevel::warn, "gateway cluster: dropped a malformed message on " + channel);
  }

  // Answers a forwarded call once; later answers for it (a timeout raced it) do nothing.
  void finish(std::uint64_t correlation, int status, std::string error_type, std::string body) {
    auto found = waiting.find(correlation);
    if (found == waiting.end()) return;
    Waiting entry = std::move(found->second);
    waiting.erase(found);
    server.cancel_timer(entry.timer);
    entry.answer(status, std::move(error_type), std::move(body));
  }

  void answer_error(const ClusterAnswer& answer, AwsErrorKind kind) {
    (kind == AwsErrorKind::gone ? forwarded_gone : forwarded_unavailable)++;
    const AwsError error = aws_error(kind);
    answer(error.status, std::string(error.error_type), error.body);
  }

  void forward(ForwardedCall call, ClusterAnswer answer) {
    if (!bus.link_up() || waiting.size() >= options.max_forwarded_in_flight) {
      return answer_error(answer, AwsErrorKind::service_unavailable);
    }
    const std::string id = call.connection_id;
    auto shared_call = std::make_shared<ForwardedCall>(std::move(call));
    auto shared_answer = std::make_shared<ClusterAnswer>(std::move(answer));
    const bool sent =
        eval(kLocate, {prefix(), id}, [this, shared_call, shared_answer](const RedisReply* reply) {
          if (reply == nullptr || reply->is_error()) {
            return answer_error(*shared_answer, AwsErrorKind::service_unavailable);
          }
          if (reply->type != RedisReply::Type::string || reply->text == options.node_id) {
            // No live node holds it (or this one did, and it closed since).
            return answer_error(*shared_answer, AwsErrorKind::gone);
          }
          const std::string node = reply->text;
          const std::uint64_t correlation = ++next_correlation;
          shared_call->origin = options.node_id;
          shared_call->correlation = correlation;
          shared_call->deadline_ms = epoch_now_ms() + options.forward_timeout_ms;
          Waiting& entry = waiting[correlation];
          entry.answer = [this, shared_answer](int status, std::string type, std::string body) {
            ++forwarded;
            (*shared_answer)(status, std::move(type), std::move(body));
          };
          entry.timer = server.set_timer(options.forward_timeout_ms, [this, correlation, node] {
            if (!waiting.contains(correlation)) return;
            log(LogLevel::warn, "gateway cluster: node " + node + " did not answer in " +
                                    std::to_string(options.forward_timeout_ms) + " ms");
            finish_unavailable(correlation);
          });
          const bool published =
              bus.command({"PUBLISH", options.prefix + ":gw:to:" + node, encode(*shared_call)},
                          [this, correlation](const RedisReply* published_reply) {
                            // Nobody listening: the node is down (its key expires soon) or
                            // reconnecting. Either way the caller may retry; 410 comes when the
                            // key is gone.
                            if (published_reply == nullptr || published_reply->is_error() ||
                                published_reply->integer == 0) {
                              finish_unavailable(correlation);
                            }
                          });
          if (!published) finish_unavailable(correlation);
        });
    if (!sent) answer_error(*shared_answer, AwsErrorKind::service_unavailable);
  }

  void finish_unavailable(std::uint64_t correlation) {
    auto found = waiting.find(correlation);
    if (found == waiting.end()) return;
    ClusterAnswer unanswered = std::move(found->second.answer);
    server.cancel_timer(found->second.timer);
    waiting.erase(found);
    answer_error(unanswered, AwsErrorKind::service_unavailable);
  }
};

GatewayCluster::GatewayCluster(Server& server, GatewayClusterOptions options,
                               LocalAction local_action)
    : state_(std::make_unique<State>(server, std::move(options), std::move(local_action))) {}

GatewayCluster::~GatewayCluster() {
  state_->server.cancel_timer(state_->heartbeat_timer);
  for (auto& [correlation, entry] : state_->waiting)
    state_->server.cancel_timer(entry.timer);
}

void GatewayCluster::start(std::uint16_t port) {
  State& s = *state_;
  if (s.options.node_id.empty()) s.options.node_id = host_name() + ":" + std::to_string(port);
  s.channel = s.options.prefix + ":gw:to:" + s.options.node_id;
  s.server.dispatch([&s] {
    s.bus.on_link_change([&s](bool up) { s.on_link(up); });
    s.bus.subscribe_channel(
        s.channel, {.on_message = [&s](std::string_view payload) { s.on_message(payload); },
                    .on_state = [](bool) {}});
    s.bus.start();
  });
  log(LogLevel::info,
      "gateway cluster: node " + s.options.node_id + " joining through " + s.options.redis_url);
}

bool GatewayCluster::ready() const {
  return state_->ready.load();
}

std::string GatewayCluster::not_ready_reason() const {
  if (ready()) return {};
  const std::lock_guard lock(state_->reason_mutex);
  return state_->reason;
}

const std::string& GatewayCluster::node_id() const {
  return state_->options.node_id;
}

void GatewayCluster::connection_opened(const std::string& connection_id) {
  State& s = *state_;
  s.server.dispatch([&s, connection_id] {
    s.local_ids.insert(connection_id);
    s.closed_while_down.erase(connection_id);
    if (s.bus.link_up()) s.eval(kRegister, {s.prefix(), s.options.node_id, connection_id}, {});
  });
}

void GatewayCluster::connection_closed(const std::string& connection_id) {
  State& s = *state_;
  s.server.dispatch([&s, connection_id] {
    s.local_ids.erase(connection_id);
    if (!s.bus.link_up() ||
        !s.eval(kUnregister, {s.prefix(), s.options.node_id, connection_id}, {})) {
      s.closed_while_down.insert(connection_id);
    }
  });
}

void GatewayCluster::subscriber_changed(const std::string& topic, int change) {
  State& s = *state_;
  s.server.dispatch([&s, topic, change] {
    long long& count = s.local_subscribers[topic];
    count += change;
    if (count <= 0) s.local_subscribers.erase(topic);
    if (s.bus.link_up()) {
      s.eval(kCountSubscriber, {s.prefix(), s.options.node_id, topic, std::to_string(change)}, {});
    }
  });
}

void GatewayCluster::forward(ForwardedCall call, ClusterAnswer answer) {
  State& s = *state_;
  s.server.dispatch([&s, call = std::move(call), answer = std::move(answer)]() mutable {
    s.forward(std::move(call), std::move(answer));
  });
}

void GatewayCluster::publish(const std::string& topic, std::string body, MessageKind kind,
                             std::function<void(std::optional<std::size_t>)> delivered) {
  State& s = *state_;
  if (!s.bus.publish(topic, body, kind)) {
    delivered(std::nullopt);
    return;
  }
  s.server.dispatch([&s, topic, delivered = std::move(delivered)] {
    const bool sent = s.eval(kDelivered, {s.prefix(), topic}, [delivered](const RedisReply* reply) {
      if (reply == nullptr || reply->type != RedisReply::Type::integer) {
        delivered(std::nullopt);
      } else {
        delivered(static_cast<std::size_t>(std::max<long long>(0, reply->integer)));
      }
    });
    if (!sent) delivered(std::nullopt);
  });
}

bool GatewayCluster::busy() const {
  return !state_->waiting.empty() || state_->bus.stats().commands_in_flight > 0;
}

std::string GatewayCluster::metrics_text() const {
  const State& s = *state_;
  std::string out = hibiki::metrics_text(s.bus.stats());
  append_metric(out, "hibiki_gateway_cluster_ready", "gauge",
                "1 when this node is registered in Redis and takes connections.", s.ready ? 1 : 0);
  append_metric(out, "hibiki_gateway_cluster_forwarded_total", "counter",
                "Management calls answered by the node holding the connection.",
                s.forwarded.load());
  append_metric(out, "hibiki_gateway_cluster_forwarded_gone_total", "counter",
                "Management calls for a connection no live node holds (410).",
                s.forwarded_gone.load());
  append_metric(out, "hibiki_gateway_cluster_forwarded_unavailable_total", "counter",
                "Management calls whose node did not answer, or Redis was down (503).",
                s.forwarded_unavailable.load());
  append_metric(out, "hibiki_gateway_cluster_calls_served_total", "counter",
                "Management calls other nodes forwarded to this one.", s.calls_served.load());
  append_metric(out, "hibiki_gateway_cluster_calls_expired_total", "counter",
                "Forwarded calls that reached this node after their origin had given up.",
                s.calls_expired.load());
  append_metric(out, "hibiki_gateway_cluster_reaped_connections_total", "counter",
                "Connections of dead nodes this node removed from the registry.",
                s.nodes_reaped_connections.load());
  return out;
}

}  // namespace hibiki::apps::gateway

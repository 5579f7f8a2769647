// The Redis link and what rides on it (see bus.hpp).
#include "cluster/bus.hpp"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <random>
#include <stdexcept>
#include <utility>

#include "hibiki/log.hpp"

namespace hibiki::cluster {
namespace {

std::uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

std::uint64_t random_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

// The host as a numeric address, so that connecting (on loop 0) never waits for DNS.
std::string resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int status = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (status != 0 || found == nullptr) {
    throw std::runtime_error("cannot resolve the Redis host '" + host +
                             "': " + ::gai_strerror(status));
  }
  char text[INET6_ADDRSTRLEN] = {};
  const void* address =
      found->ai_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
  ::inet_ntop(found->ai_family, address, text, sizeof text);
  ::freeaddrinfo(found);
  return text;
}

std::string_view text_of(const redisReply& reply) {
  return {reply.str, reply.len};
}

bool is_error(const redisReply* reply) {
  return reply != nullptr && reply->type == REDIS_REPLY_ERROR;
}

std::string describe(const redisReply* reply) {
  if (reply == nullptr) return "the connection ended";
  if (reply->type == REDIS_REPLY_ERROR) return std::string(text_of(*reply));
  return "unexpected reply";
}

}  // namespace

Bus::Bus(Server& server, ClusterOptions options)
    : server_(server),
      options_(std::move(options)),
      commands_(server, "commands"),
      subscriber_(server, "subscriber"),
      backoff_(options_.reconnect_min_ms, options_.reconnect_max_ms, random_seed()) {
  std::string error;
  auto address = parse_redis_url(options_.redis_url, &error);
  if (!address) throw std::invalid_argument("Redis URL " + options_.redis_url + ": " + error);
  address_ = std::move(*address);
  ip_ = resolve(address_.host);
  std::mt19937_64 random(random_seed());
  probe_channel_ = options_.prefix + ":probe:" + std::to_string(random());
  if (options_.bridge_topics) {
    server_.watch_topics([this](std::string_view topic, bool has_subscribers) {
      on_topic_activity(topic, has_subscribers);
    });
  }
}

Bus::~Bus() {
  destroying_ = true;  // pending callbacks end with the bus, without calling anyone back
  if (attempt_timer_ != 0) server_.cancel_timer(attempt_timer_);
  if (probe_timer_ != 0) server_.cancel_timer(probe_timer_);
  commands_.close();
  subscriber_.close();
}

void Bus::start() {
  server_.dispatch([this] {
    loop_thread_.store(std::this_thread::get_id(), std::memory_order_release);
    if (link_ == Link::idle) connect();
  });
}

std::string Bus::link_status() const {
  if (link_up()) return {};
  const std::lock_guard lock(status_mutex_);
  return status_;
}

void Bus::set_status(std::string status) {
  const std::lock_guard lock(status_mutex_);
  status_ = std::move(status);
}

std::string Bus::endpoint() const {
  const bool v6 = ip_.find(':') != std::string::npos;
  return (v6 ? "[" + ip_ + "]" : ip_) + ":" + std::to_string(address_.port);
}

void Bus::connect() {
  attempt_timer_ = 0;
  link_ = Link::connecting;
  commands_ready_ = false;
  subscriber_ready_ = false;
  const std::uint64_t attempt = ++attempt_;
  if (!ever_up_ && backoff_.failures() == 0) set_status("connecting to " + endpoint());

  RedisConnection::Events command_events{
      .on_connected = {},
      .on_push = {},
      .on_lost = [this](const std::string& reason) { lose_link(reason); },
  };
  RedisConnection::Events subscriber_events{
      .on_connected = {},
      .on_push = [this](const redisReply& push) { on_push(push); },
      .on_lost = [this](const std::string& reason) { lose_link(reason); },
  };
  std::string error;
  if (!commands_.open(ip_, address_.port, std::move(command_events), &error) ||
      !subscriber_.open(ip_, address_.port, std::move(subscriber_events), &error)) {
    lose_link(error);
    return;
  }
  // Both handshakes are queued now and leave as soon as the sockets connect.
  auto step_failed = [this, attempt](const char* step, const redisReply* reply) {
    if (attempt != attempt_ || link_ != Link::connecting) return true;
    // Without a reply the connection is ending, and says why itself (on_lost).
    if (reply == nullptr) return true;
    if (is_error(reply)) {
      lose_link(std::string(step) + ": " + describe(reply));
      return true;
    }
    return false;
  };
  if (!address_.password.empty()) {
    for (RedisConnection* connection : {&commands_, &subscriber_}) {
      connection->send({"AUTH", address_.password},
                       [step_failed](const redisReply* reply) { step_failed("AUTH", reply); });
    }
  }
  if (address_.db != 0) {
    commands_.send({"SELECT", std::to_string(address_.db)},
                   [step_failed](const redisReply* reply) { step_failed("SELECT", reply); });
  }
  commands_.send({"PING"}, [this, step_failed](const redisReply* reply) {
    if (step_failed("PING", reply)) return;
    commands_ready_ = true;
    on_half_ready();
  });
  // The subscriber is ready when Redis confirms the probe channel (on_push).
  subscriber_.send_subscription(true, probe_channel_);
  attempt_timer_ = server_.set_timer(options_.connect_timeout_ms, [this, attempt] {
    attempt_timer_ = 0;
    if (attempt == attempt_ && link_ == Link::connecting) {
      lose_link("no answer within " + std::to_string(options_.connect_timeout_ms) + " ms");
    }
  });
}

void Bus::on_half_ready() {
  if (!commands_ready_ || !subscriber_ready_ || link_ != Link::connecting) return;
  if (attempt_timer_ != 0) server_.cancel_timer(attempt_timer_);
  attempt_timer_ = 0;
  link_ = Link::up;
  link_up_.store(true, std::memory_order_release);
  backoff_.reset();
  set_status({});
  if (ever_up_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  ever_up_ = true;
  log(LogLevel::info, "cluster: Redis link up (" + endpoint() + ")");
  for (auto& [name, channel] : channels_) {
    channel.confirmed = false;
    subscriber_.send_subscription(true, name);
  }
  probe_replied_ = true;
  probe_heard_ = true;
  probe_timer_ = server_.set_timer(options_.probe_interval_ms, [this] { check_probe(); });
  // A watcher may drop the link (and so change the list): call copies.
  const auto watchers = link_watchers_;
  for (const auto& watcher : watchers) {
    if (link_ != Link::up) break;
    watcher(true);
  }
}

void Bus::lose_link(const std::string& reason) {
  if (link_ != Link::up && link_ != Link::connecting) return;
  const bool was_up = link_ == Link::up;
  const bool same_reason = !was_up && reason == link_status();
  link_ = Link::waiting;
  // The reason before the flag: a reader on another thread that sees the link down must also
  // see why.
  set_status(reason);
  link_up_.store(false, std::memory_order_release);
  if (attempt_timer_ != 0) server_.cancel_timer(attempt_timer_);
  if (probe_timer_ != 0) server_.cancel_timer(probe_timer_);
  attempt_timer_ = 0;
  probe_timer_ = 0;
  const std::uint32_t delay = backoff_.next();
  const std::string retry = "; retrying in " + std::to_string(delay) + " ms";
  if (was_up) {
    link_failures_.fetch_add(1, std::memory_order_relaxed);
    log(LogLevel::warn, "cluster: Redis link lost (" + endpoint() + "): " + reason + retry);
  } else if (!same_reason) {
    log(LogLevel::warn, "cluster: Redis unreachable (" + endpoint() + "): " + reason + retry);
  } else {
    log(LogLevel::debug, "cluster: Redis still unreachable: " + reason + retry);
  }
  ++attempt_;  // late answers of this attempt are ignored
  // Pending commands get their callbacks (with nullptr) as the connections close.
  commands_.close();
  subscriber_.close();
  for (auto& [name, channel] : channels_) {
    if (!channel.confirmed) continue;
    channel.confirmed = false;
    subscriptions_.fetch_sub(1, std::memory_order_relaxed);
    if (channel.handlers.on_state && !destroying_) channel.handlers.on_state(false);
  }
  if (was_up && !destroying_) {
    const auto watchers = link_watchers_;
    for (const auto& watcher : watchers)
      watcher(false);
  }
  attempt_timer_ = server_.set_timer(delay, [this] {
    attempt_timer_ = 0;
    if (link_ == Link::waiting) connect();
  });
}

void Bus::check_probe() {
  probe_timer_ = 0;
  if (link_ != Link::up) return;
  const std::uint64_t now = now_ms();
  if (!probe_replied_ || !probe_heard_) {
    if (now - probe_sent_ms_ >= options_.probe_timeout_ms) {
      lose_link("no answer to the probe in " + std::to_string(options_.probe_timeout_ms) + " ms");
      return;
    }
  } else {
    // Round trip on both connections: PUBLISH answered on one, the message heard on the other.
    ++probe_sequence_;
    probe_replied_ = false;
    probe_heard_ = false;
    probe_sent_ms_ = now;
    const std::uint64_t attempt = attempt_;
    const bool sent =
        commands_.send({"PUBLISH", probe_channel_, std::to_string(probe_sequence_)},
                       [this, attempt](const redisReply* reply) {
                         if (attempt == attempt_ && reply != nullptr && !is_error(reply))
                           probe_replied_ = true;
                       });
    if (!sent) {
      lose_link("cannot send the probe");
      return;
    }
  }
  probe_timer_ = server_.set_timer(options_.probe_interval_ms, [this] { check_probe(); });
}

void Bus::on_push(const redisReply& push) {
  if (push.type != REDIS_REPLY_ARRAY || push.elements < 3) return;
  const redisReply& kind_reply = *push.element[0];
  const redisReply& name_reply = *push.element[1];
  if (kind_reply.type != REDIS_REPLY_STRING || name_reply.type != REDIS_REPLY_STRING) return;
  const std::string_view kind = text_of(kind_reply);
  const std::string name(text_of(name_reply));
  if (kind == "message") {
    const redisReply& payload_reply = *push.element[2];
    if (payload_reply.type != REDIS_REPLY_STRING) return;
    const std::string_view payload = text_of(payload_reply);
    if (name == probe_channel_) {
      if (payload == std::to_string(probe_sequence_)) probe_heard_ = true;
      return;
    }
    auto found = channels_.find(name);
    if (found == channels_.end()) return;  // unsubscribed while this was on its way
    received_.fetch_add(1, std::memory_order_relaxed);
    Channel& channel = found->second;
    if (!channel.topic.empty()) {
      // A bridged topic: one byte of kind, then the message.
      if (payload.empty()) return;
      const MessageKind message_kind = payload[0] == 'b' ? MessageKind::binary : MessageKind::text;
      server_.publish(channel.topic, payload.substr(1), message_kind);
    } else if (channel.handlers.on_message) {
      channel.handlers.on_message(payload);
    }
  } else if (kind == "subscribe") {
    if (name == probe_channel_) {
      subscriber_ready_ = true;
      on_half_ready();
      return;
    }
    auto found = channels_.find(name);
    if (found == channels_.end() || found->second.confirmed) return;
    found->second.confirmed = true;
    subscriptions_.fetch_add(1, std::memory_order_relaxed);
    if (found->second.handlers.on_state) found->second.handlers.on_state(true);
  }
}

bool Bus::publish(std::string_view topic, std::string_view message, MessageKind kind) {
  if (!link_up()) {
    publish_refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  std::string payload;
  payload.reserve(message.size() + 1);
  payload += kind == MessageKind::binary ? 'b' : 't';
  payload += message;
  if (std::this_thread::get_id() == loop_thread_.load(std::memory_order_acquire)) {
    return publish_now(topic_channel(topic), std::move(payload));
  }
  return server_.dispatch(
      [this, channel = topic_channel(topic), payload = std::move(payload)]() mutable {
        publish_now(channel, std::move(payload));
      });
}

bool Bus::publish_now(const std::string& channel, std::string payload) {
  const bool sent = command({"PUBLISH", channel, std::move(payload)}, {});
  if (sent) {
    published_.fetch_add(1, std::memory_order_relaxed);
  } else {
    publish_refused_.fetch_add(1, std::memory_order_relaxed);
  }
  return sent;
}

bool Bus::command(std::vector<std::string> arguments,
                  std::function<void(const RedisReply* reply)> on_reply) {
  if (link_ != Link::up || in_flight_.load(std::memory_order_relaxed) >= options_.max_in_flight) {
    return false;
  }
  const bool sent =
      commands_.send(arguments, [this, on_reply = std::move(on_reply)](const redisReply* reply) {
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        if (!on_reply || destroying_) return;
        if (reply == nullptr) {
          on_reply(nullptr);
          return;
        }
        const RedisReply copy = copy_reply(*reply);
        on_reply(&copy);
      });
  if (!sent) return false;
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  commands_sent_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Bus::subscribe_channel(const std::string& channel, ChannelHandlers handlers) {
  auto [found, added] = channels_.try_emplace(channel);
  found->second.handlers = std::move(handlers);
  found->second.topic.clear();
  if (added) {
    if (link_ == Link::up) subscriber_.send_subscription(true, channel);
  } else if (found->second.confirmed && found->second.handlers.on_state) {
    found->second.handlers.on_state(true);
  }
}

void Bus::unsubscribe_channel(const std::string& channel) {
  auto found = channels_.find(channel);
  if (found == channels_.end()) return;
  if (found->second.confirmed) subscriptions_.fetch_sub(1, std::memory_order_relaxed);
  channels_.erase(found);
  if (link_ == Link::up) subscriber_.send_subscription(false, channel);
}

void Bus::on_topic_activity(std::string_view topic, bool has_subscribers) {
  const std::string channel = topic_channel(topic);
  if (has_subscribers) {
    auto [found, added] = channels_.try_emplace(channel);
    found->second.topic = std::string(topic);
    if (added && link_ == Link::up) subscriber_.send_subscription(true, channel);
  } else {
    unsubscribe_channel(channel);
  }
}

std::string Bus::topic_channel(std::string_view topic) const {
  std::string channel = options_.prefix;
  channel += ":topic:";
  channel += topic;
  return channel;
}

void Bus::on_link_change(std::function<void(bool up)> callback) {
  link_watchers_.push_back(std::move(callback));
}

ClusterStats Bus::stats() const {
  return ClusterStats{
      .link_up = link_up(),
      .published = published_.load(std::memory_order_relaxed),
      .publish_refused = publish_refused_.load(std::memory_order_relaxed),
      .received = received_.load(std::memory_order_relaxed),
      .reconnects = reconnects_.load(std::memory_order_relaxed),
      .link_failures = link_failures_.load(std::memory_order_relaxed),
      .commands = commands_sent_.load(std::memory_order_relaxed),
      .commands_in_flight = in_flight_.load(std::memory_order_relaxed),
      .subscriptions = subscriptions_.load(std::memory_order_relaxed),
  };
}

}  // namespace hibiki::cluster

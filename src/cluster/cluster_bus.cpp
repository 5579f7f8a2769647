// The public hibiki::ClusterBus, forwarding to cluster::Bus, and its metrics.
#include "hibiki/cluster.hpp"

#include "cluster/bus.hpp"
#include "hibiki/stats.hpp"

namespace hibiki {

ClusterBus::ClusterBus(Server& server, ClusterOptions options)
    : bus_(std::make_unique<cluster::Bus>(server, std::move(options))) {}

ClusterBus::~ClusterBus() = default;

void ClusterBus::start() {
  bus_->start();
}

bool ClusterBus::publish(std::string_view topic, std::string_view message, MessageKind kind) {
  return bus_->publish(topic, message, kind);
}

bool ClusterBus::command(std::vector<std::string> arguments,
                         std::function<void(const RedisReply* reply)> on_reply) {
  return bus_->command(std::move(arguments), std::move(on_reply));
}

void ClusterBus::subscribe_channel(const std::string& channel, ChannelHandlers handlers) {
  bus_->subscribe_channel(channel, std::move(handlers));
}

void ClusterBus::unsubscribe_channel(const std::string& channel) {
  bus_->unsubscribe_channel(channel);
}

void ClusterBus::on_link_change(std::function<void(bool up)> callback) {
  bus_->on_link_change(std::move(callback));
}

bool ClusterBus::link_up() const {
  return bus_->link_up();
}

std::string ClusterBus::link_status() const {
  return bus_->link_status();
}

ClusterStats ClusterBus::stats() const {
  return bus_->stats();
}

const ClusterOptions& ClusterBus::options() const {
  return bus_->options();
}

std::string metrics_text(const ClusterStats& stats) {
  struct Line {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t value;
  };
  const Line lines[] = {
      {"hibiki_cluster_link_up", "gauge", "1 while the Redis link is up, else 0.",
       stats.link_up ? 1u : 0u},
      {"hibiki_cluster_published_total", "counter", "Topic messages sent to Redis.",
       stats.published},
      {"hibiki_cluster_publish_refused_total", "counter",
       "Topic messages refused while the link was down or full.", stats.publish_refused},
      {"hibiki_cluster_received_total", "counter", "Messages received from Redis subscriptions.",
       stats.received},
      {"hibiki_cluster_reconnects_total", "counter", "Redis links established after the first.",
       stats.reconnects},
      {"hibiki_cluster_link_failures_total", "counter", "Redis links lost.", stats.link_failures},
      {"hibiki_cluster_commands_total", "counter", "Commands sent to Redis.", stats.commands},
      {"hibiki_cluster_commands_in_flight", "gauge", "Commands waiting for their reply.",
       stats.commands_in_flight},
      {"hibiki_cluster_subscriptions", "gauge", "Redis channels subscribed now.",
       stats.subscriptions},
  };
  std::string text;
  for (const Line& line : lines)
    append_metric(text, line.name, line.type, line.help, line.value);
  return text;
}

}  // namespace hibiki

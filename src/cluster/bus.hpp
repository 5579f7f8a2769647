// The cluster bus behind hibiki::ClusterBus: the Redis link (two connections, their handshake,
// the probe, reconnecting), channel subscriptions, and topics bridged through Redis.
// Everything runs on the server's loop 0, except the few calls documented as thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cluster/backoff.hpp"
#include "cluster/redis_connection.hpp"
#include "hibiki/cluster.hpp"
#include "hibiki/server.hpp"

namespace hibiki::cluster {

class Bus {
 public:
  Bus(Server& server, ClusterOptions options);
  ~Bus();

  void start();
  bool publish(std::string_view topic, std::string_view message, MessageKind kind);
  bool command(std::vector<std::string> arguments,
               std::function<void(const RedisReply* reply)> on_reply);
  void subscribe_channel(const std::string& channel, ChannelHandlers handlers);
  void unsubscribe_channel(const std::string& channel);
  void on_link_change(std::function<void(bool up)> callback);
  [[nodiscard]] bool link_up() const { return link_up_.load(std::memory_order_acquire); }
  [[nodiscard]] std::string link_status() const;
  [[nodiscard]] ClusterStats stats() const;
  [[nodiscard]] const ClusterOptions& options() const { return options_; }

 private:
  enum class Link : std::uint8_t { idle, connecting, up, waiting };
  struct Channel {
    ChannelHandlers handlers;  // an application's channel
    std::string topic;         // or a bridged topic (handlers unset)
    bool confirmed = false;    // SUBSCRIBE answered on the current connection
  };

  void connect();
  [[nodiscard]] std::string endpoint() const;
  void on_half_ready();
  void lose_link(const std::string& reason);
  void set_status(std::string status);
  void send_probe();
  void check_probe();
  void on_push(const redisReply& push);
  void on_topic_activity(std::string_view topic, bool has_subscribers);
  bool publish_now(const std::string& channel, std::string payload);
  std::string topic_channel(std::string_view topic) const;

  Server& server_;
  ClusterOptions options_;
  RedisAddress address_;
  std::string ip_;  // address_.host resolved once, at construction
  RedisConnection commands_;
  RedisConnection subscriber_;
  Backoff backoff_;
  Link link_ = Link::idle;
  bool commands_ready_ = false;
  bool subscriber_ready_ = false;
  bool ever_up_ = false;
  bool destroying_ = false;
  std::uint64_t attempt_ = 0;  // connection attempts; callbacks of older ones are ignored
  std::atomic<std::thread::id> loop_thread_{};  // loop 0's, once start() ran there
  std::uint64_t attempt_timer_ = 0;  // connect timeout, or the wait before the next attempt
  std::uint64_t probe_timer_ = 0;
  std::string probe_channel_;
  std::uint64_t probe_sequence_ = 0;
  std::uint64_t probe_sent_ms_ = 0;
  bool probe_replied_ = true;
  bool probe_heard_ = true;
  std::map<std::string, Channel> channels_;  // by full channel name
  std::vector<std::function<void(bool)>> link_watchers_;

  std::atomic<bool> link_up_{false};
  mutable std::mutex status_mutex_;
  std::string status_ = "not started";
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> publish_refused_{0};
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> link_failures_{0};
  std::atomic<std::uint64_t> commands_sent_{0};
  std::atomic<std::uint64_t> in_flight_{0};
  std::atomic<std::uint64_t> subscriptions_{0};
};

}  // namespace hibiki::cluster

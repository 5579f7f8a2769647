// One Server's loops and what they share. Each loop (a ServerCore on its own thread, with its
// own SO_REUSEPORT listener) owns its connections outright; only the route tables (read-only
// once run() starts), connection admission and cross-loop publish are shared here.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hibiki/server.hpp"
#include "net/io_backend.hpp"

namespace hibiki::detail {

class ServerCore;

// One HTTP route: answered in the call, or later (exactly one of the two is set).
struct HttpRoute {
  HttpHandler now;
  DeferredHttpHandler later;
};

// Routes are added before listen() and only read afterwards, by every loop at once.
struct Routes {
  std::vector<WebSocketHandlers> ws_handlers;
  std::unordered_map<std::string, std::uint16_t> ws;
  std::unordered_map<std::string, HttpRoute> http;
};

// Server-wide connection limits and ids, taken at accept and given back at reclaim: off the
// per-message path, so a mutex is cheap enough here.
class Admission {
 public:
  using Ip = std::array<std::uint8_t, 16>;
  enum class Verdict : std::uint8_t { admitted, over_total, over_per_ip };

  explicit Admission(const ServerOptions& options)
      : max_total_(options.max_connections), max_per_ip_(options.max_connections_per_ip) {}

  Verdict admit(const Ip& ip);
  void release(const Ip& ip);
  std::uint64_t next_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  [[nodiscard]] std::size_t open() const { return open_.load(std::memory_order_relaxed); }

 private:
  struct IpHash {
    std::size_t operator()(const Ip& ip) const {
      std::uint64_t a = 0;
      std::uint64_t b = 0;
      std::memcpy(&a, ip.data(), 8);
      std::memcpy(&b, ip.data() + 8, 8);
      return std::hash<std::uint64_t>{}(a * 0x9E3779B97F4A7C15ULL ^ b);
    }
  };

  const std::size_t max_total_;
  const std::size_t max_per_ip_;
  std::mutex mutex_;
  std::unordered_map<Ip, std::uint32_t, IpHash> per_ip_;  // entries go when they reach 0
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> next_id_{1};
};

// A message published on one loop, on its way to the subscribers of the others. Immutable and
// shared by every loop it is posted to; each loop frames it once for its own subscribers.
struct PublishedMessage {
  std::string topic;
  std::string message;
  MessageKind kind;
};

// What one loop hands another: a published message, or a task to run there (Server::dispatch).
// One queue for both keeps them in the order a thread posted them.
struct InboxItem {
  std::shared_ptr<const PublishedMessage> message;
  std::function<void()> task;
};

// Which topics have subscribers anywhere on the server, for Server::watch_topics: loops report
// a topic's first subscriber and its last one going; the watcher hears the server-wide edges,
// on loop 0, in the order they happened.
class TopicActivity {
 public:
  using Watcher = std::function<void(std::string_view topic, bool has_subscribers)>;
  void set_watcher(Watcher watcher) { watcher_ = std::move(watcher); }
  [[nodiscard]] bool watched() const { return static_cast<bool>(watcher_); }
  // From any loop: `topic` got its first subscriber on that loop, or lost its last one.
  void loop_changed(ServerGroup& group, std::string_view topic, bool active);

 private:
  Watcher watcher_;  // set before run(), read-only afterwards
  std::mutex mutex_;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::uint32_t, Hash, std::equal_to<>> loops_with_subscribers_;
};

// The backend every loop of a Server runs on, as ServerOptions::io asks (io_choice.cpp); logs
// the choice, throws std::runtime_error when io_uring is required and unavailable.
net::IoKind choose_io_backend(IoBackend wanted);

class ServerGroup {
 public:
  explicit ServerGroup(ServerOptions options);
  ~ServerGroup();

  void add_ws_route(std::string path, WebSocketHandlers handlers);
  void add_http_route(std::string method, std::string path, HttpRoute route);
  std::uint16_t listen();
  // `own_tls` null: the main listener's TLS.
  std::uint16_t listen(const std::string& host, std::uint16_t port,
                       const ListenerTls* own_tls = nullptr);
  // Loop 0, where the application's descriptors and timers live.
  ServerCore& first_loop() { return *cores_.front(); }
  ServerCore& core(std::size_t index) { return *cores_.at(index); }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  // Runs loop 0 on this thread and the others on threads of their own; returns when all stop.
  int run();
  void request_stop(std::uint16_t code);
  void request_tls_reload();
  // From a loop: delivers on it at once and posts to the others. From any other thread: posts
  // to every loop. Returns the subscribers queued on the calling loop.
  std::size_t publish(std::string_view topic, std::string_view message, MessageKind kind);
  // Runs `task` on loop `index`: at once when called on that loop, else on its next turn.
  // False when it was not queued (the loop stopped, or its inbox is full).
  bool dispatch(std::uint32_t index, std::function<void()> task);
  // Runs `task` with `ws` on the loop that owns it, if the connection still exists then.
  bool dispatch(WebSocket ws, std::function<void(WebSocket)> task);
  TopicActivity& topic_activity() { return topic_activity_; }
  [[nodiscard]] std::size_t connection_count() const { return admission_.open(); }
  [[nodiscard]] ServerStats stats() const;

  [[nodiscard]] const ServerOptions& options() const { return options_; }
  [[nodiscard]] const Routes& routes() const { return routes_; }
  Admission& admission() { return admission_; }
  [[nodiscard]] std::size_t loop_count() const { return cores_.size(); }
  [[nodiscard]] net::IoKind io_kind() const { return io_kind_; }

 private:
  ServerOptions options_;
  Routes routes_;
  Admission admission_;
  TopicActivity topic_activity_;
  std::vector<std::unique_ptr<ServerCore>> cores_;
  std::uint16_t port_ = 0;
  net::IoKind io_kind_ = net::IoKind::epoll;
};

}  // namespace hibiki::detail

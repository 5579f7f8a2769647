// The chat on the public API: WebSocket handlers that drive a ChatService (one node, SQLite)
// or a ClusterChatService (one node of several, Redis), the page, health, readiness, metrics.
#include "apps/chat/chat_app.hpp"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "apps/chat/chat_service.hpp"
#include "apps/chat/cluster_chat.hpp"
#include "apps/chat/store_lock.hpp"
#include "apps/common/json_text.hpp"
#include "hibiki/cluster.hpp"
#include "hibiki/log.hpp"
#include "hibiki/static_files.hpp"
#include "hibiki/stats.hpp"
#include "store/history_store.hpp"

// Generated from web/ at build time (cmake/embed_assets.cmake).
std::span<const hibiki::StaticAsset> hibiki_chat_web_assets();

namespace hibiki::apps::chat {
namespace {

// One process serving from a SQLite file. It serves while it holds the file's StoreLock; one
// started while another holds it waits in standby: it listens (SO_REUSEPORT: the kernel
// already hands it new connections), holds their upgrades, tells the holder to go (SIGUSR2),
// and takes over the moment the lock is free: it opens the store, which then holds every
// message the old process stored, and accepts the upgrades it held.
class SingleNode final : public MountedChat {
 public:
  SingleNode(Server& server, const ChatOptions& options)
      : server_(server), db_path_(options.db_path), limits_(options.limits) {
    if (db_path_ != ":memory:" && !db_path_.empty()) {
      // The lock file sits beside the database, whose directory may not exist yet.
      const std::filesystem::path parent = std::filesystem::path(db_path_).parent_path();
      std::error_code ignored;
      if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
      lock_ = std::make_unique<StoreLock>(db_path_ + ".lock");
      if (!lock_->try_acquire()) {
        held_.resize(server.loop_count());
        log(LogLevel::info, "chat: " + lock_->path() + " is held by pid " +
                                std::to_string(lock_->holder_pid()) +
                                ": standby until it hands over");
        return;
      }
    }
    open_store();  // alone: errors surface before listening
  }
  ~SingleNode() override {
    // The server has stopped: no handler runs any more. The store closes before the lock is
    // given back, so a successor never opens a file this process still writes.
    service_.reset();
    lock_.reset();
  }

  void start(std::uint16_t) override {
    if (active_.load(std::memory_order_acquire)) return;
    standby_since_ms_ = now_ms();
    poll();
  }

  void on_upgrade(PendingUpgrade upgrade) {
    if (active_.load(std::memory_order_acquire)) {
      upgrade.accept();
      return;
    }
    {
      const std::lock_guard lock(held_mutex_);
      if (!active_.load(std::memory_order_relaxed)) {
        const std::optional<LoopHandle> loop = server_.current_loop();
        held_[loop ? loop->index() : 0].push_back(upgrade);
        return;
      }
    }
    upgrade.accept();
  }
  ChatService* service() const { return active_.load(std::memory_order_acquire); }
  std::size_t room_count() const {
    ChatService* service = active_.load(std::memory_order_acquire);
    return service != nullptr ? service->room_count() : 0;
  }
  // Empty when ready, else why not.
  std::string standby_reason() const {
    if (active_.load(std::memory_order_acquire) != nullptr) return {};
    return "waiting for " + lock_->path() + ", held by pid " + std::to_string(lock_->holder_pid());
  }

 private:
  static constexpr std::uint32_t kPollMs = 10;

  static std::uint64_t now_ms() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000 +
           static_cast<std::uint64_t>(now.tv_nsec) / 1'000'000;
  }

  void open_store() {
    auto history = std::make_unique<store::HistoryStore>(db_path_);
    log(LogLevel::info,
        "chat history in " + db_path_ + " (journal " + history->journal_mode() + ")");
    service_ = std::make_shared<ChatService>(server_, std::move(history), limits_);
    active_.store(service_.get(), std::memory_order_release);
  }

  // Loop 0's timer while in standby: the lock, else tell its holder (once per holder) to go.
  void poll() {
    if (lock_->try_acquire()) {
      take_over();
      return;
    }
    // The same PID on two polls in a row: a new holder writes its PID just after its flock,
    // so a single read may still show the previous holder's.
    const pid_t holder = lock_->holder_pid();
    const bool stable = holder == last_seen_;
    last_seen_ = holder;
    if (holder > 0 && stable && holder != signalled_) {
      if (::kill(holder, SIGUSR2) == 0) {
        log(LogLevel::info, "chat: standby, listening; told pid " + std::to_string(holder) +
                                " to hand over (SIGUSR2)");
      } else {
        log(LogLevel::warn, "chat: cannot signal pid " + std::to_string(holder) + ": " +
                                std::strerror(errno) + "; waiting for " + lock_->path());
      }
      signalled_ = holder;
    }
    server_.set_timer(kPollMs, [this] { poll(); });
  }

  void take_over() {
    try {
      open_store();
    } catch (const std::exception& error) {
      log(LogLevel::error, std::string("chat: cannot open the history: ") + error.what());
      server_.stop();
      return;
    }
    std::vector<std::vector<PendingUpgrade>> held;
    {
      const std::lock_guard lock(held_mutex_);
      held.swap(held_);  // active_ is set: nothing is added from now on
    }
    std::size_t count = 0;
    for (std::size_t i = 0; i < held.size(); ++i) {
      count += held[i].size();
      if (held[i].empty()) continue;
      server_.loop(i).dispatch([upgrades = std::move(held[i])] {
        for (const PendingUpgrade& upgrade : upgrades)
          upgrade.accept();
      });
    }
    log(LogLevel::info, "chat: took over " + lock_->path() + " after " +
                            std::to_string(now_ms() - standby_since_ms_) + " ms in standby; " +
                            "ready, accepting " + std::to_string(count) + " held upgrade(s)");
  }

  Server& server_;
  std::string db_path_;
  ChatLimits limits_;
  std::unique_ptr<StoreLock> lock_;  // null for :memory:
  std::shared_ptr<ChatService> service_;
  std::atomic<ChatService*> active_{nullptr};
  std::mutex held_mutex_;
  std::vector<std::vector<PendingUpgrade>> held_;  // per loop, while in standby
  pid_t last_seen_ = 0;
  pid_t signalled_ = 0;
  std::uint64_t standby_since_ms_ = 0;
};

class ClusterNode final : public MountedChat {
 public:
  ClusterNode(Server& server, const ChatOptions& options) {
    const ClusterSettings& settings = *options.cluster;
    bus_ = std::make_unique<ClusterBus>(
        server, ClusterOptions{.redis_url = settings.redis_url,
                               .prefix = settings.prefix,
                               .bridge_topics = false});  // rooms have channels of their own
    service_ = std::make_unique<ClusterChatService>(
        server, *bus_,
        ClusterChatOptions{.node_id = settings.node_id,
                           .prefix = settings.prefix,
                           .keep_history = settings.keep_history,
                           .limits = options.limits});
    node_id_ = settings.node_id;
  }
  ~ClusterNode() override {
    // The link first: it unhooks from the server's loop and calls nobody back.
    bus_.reset();
    service_.reset();
  }
  void start(std::uint16_t port) override {
    if (node_id_.empty()) {
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      node_id_ = std::string(host) + ":" + std::to_string(port);
    }
    service_->set_node_id(node_id_);
    log(LogLevel::info, "chat: cluster node " + node_id_ + ", Redis at " +
                            bus_->options().redis_url + " (history and rooms in Redis)");
    bus_->start();
  }
  ClusterChatService& service() { return *service_; }

 private:
  std::unique_ptr<ClusterChatService> service_;
  std::unique_ptr<ClusterBus> bus_;  // declared last: destroyed first (see the destructor)
  std::string node_id_;
};

// GET /healthz: alive, with what this process holds.
void mount_health(Server& server, std::function<std::size_t()> room_count) {
  server.get("/healthz", [&server, room_count = std::move(room_count)](const HttpRequestView&,
                                                                       HttpResponse& response) {
    response.content_type = "application/json";
    response.body = R"({"status":"ok","connections":)" + std::to_string(server.connection_count()) +
                    R"(,"rooms":)" + std::to_string(room_count()) + "}";
  });
}

void mount_page(Server& server, const ChatOptions& options) {
  if (options.web_root.empty()) {
    server.get("*", serve_assets(hibiki_chat_web_assets()));
  } else {
    server.get("*", serve_directory(options.web_root));
  }
}

std::unique_ptr<MountedChat> mount_single_node(Server& server, const ChatOptions& options) {
  auto node = std::make_unique<SingleNode>(server, options);
  SingleNode* chat = node.get();
  // Upgrades go through on_upgrade so that a standby can hold them until it takes over.
  WebSocketHandlers handlers{
      .on_upgrade = [chat](PendingUpgrade upgrade,
                           const HttpRequestView&) { chat->on_upgrade(upgrade); },
      .on_open = [chat](WebSocket ws) { chat->service()->on_open(ws); },
      .on_message = [chat](WebSocket ws, std::string_view message,
                           MessageKind kind) { chat->service()->on_message(ws, message, kind); },
      .on_close = [chat](WebSocket ws, std::uint16_t,
                         std::string_view) { chat->service()->on_close(ws); },
  };
  server.ws("/", handlers);
  server.ws("/ws", handlers);
  mount_health(server, [chat] { return chat->room_count(); });
  // Listening with the history open: ready for a load balancer. A standby (another process
  // still serves from the file) is alive but not ready.
  server.get("/readyz", [chat](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "application/json";
    const std::string reason = chat->standby_reason();
    if (reason.empty()) {
      response.body = R"({"status":"ready"})";
      return;
    }
    response.status = 503;
    std::string escaped;
    append_json_escaped(escaped, reason);
    response.body = R"({"status":"standby","reason":")" + escaped + "\"}";
  });
  server.get("/metrics", [&server](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "text/plain; version=0.0.4";
    response.body = metrics_text(server.stats());
  });
  return node;
}

std::unique_ptr<MountedChat> mount_cluster_node(Server& server, const ChatOptions& options) {
  auto node = std::make_unique<ClusterNode>(server, options);
  ClusterChatService* service = &node->service();
  WebSocketHandlers handlers{
      .on_upgrade = [service](PendingUpgrade upgrade,
                              const HttpRequestView&) { service->on_upgrade(upgrade); },
      .on_open = [service](WebSocket ws) { service->on_open(ws); },
      .on_message = [service](WebSocket ws, std::string_view message,
                              MessageKind kind) { service->on_message(ws, message, kind); },
      .on_close = [service](WebSocket ws, std::uint16_t,
                            std::string_view) { service->on_close(ws); },
  };
  server.ws("/", handlers);
  server.ws("/ws", handlers);
  mount_health(server, [service] { return service->room_count(); });
  // Ready while registered with Redis: a load balancer sends nobody to a node that cannot
  // reach it.
  server.get("/readyz", [service](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "application/json";
    if (service->ready()) {
      response.body = R"({"status":"ready"})";
      return;
    }
    response.status = 503;
    std::string reason;
    append_json_escaped(reason, service->not_ready_reason());
    response.body = R"({"status":"unavailable","reason":")" + reason + "\"}";
  });
  server.get("/metrics", [&server, service](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "text/plain; version=0.0.4";
    response.body = metrics_text(server.stats()) + service->metrics_text();
  });
  // A graceful stop lets the members' goodbyes reach Redis: the other nodes see them leave
  // at once instead of after the dead-node timeout.
  server.finish_before_stopping([service] { return service->busy(); });
  return node;
}

}  // namespace

ServerOptions chat_server_defaults() {
  return ServerOptions{
      .threads = 0,  // one loop per core; ChatService serialises the chat's own state
      .port = 8080,
      // A successor can listen on the port while this process still serves: a restart
      // without a gap (docs/OPERATIONS.md).
      .reuse_port = true,
      .max_message_bytes = 64 * 1024,
  };
}

std::unique_ptr<MountedChat> mount_chat(Server& server, const ChatOptions& options) {
  std::unique_ptr<MountedChat> mounted =
      options.cluster ? mount_cluster_node(server, options) : mount_single_node(server, options);
  mount_page(server, options);
  return mounted;
}

}  // namespace hibiki::apps::chat

// The chat on the public API: WebSocket handlers that drive a ChatService (one node, SQLite)
// or a ClusterChatService (one node of several, Redis), the page, health, readiness, metrics.
#include "apps/chat/chat_app.hpp"

#include <unistd.h>

#include <functional>
#include <memory>
#include <span>

#include "apps/chat/chat_service.hpp"
#include "apps/chat/cluster_chat.hpp"
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

class SingleNode final : public MountedChat {
 public:
  explicit SingleNode(std::shared_ptr<ChatService> service) : service_(std::move(service)) {}
  void start(std::uint16_t) override {}

 private:
  std::shared_ptr<ChatService> service_;
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
  auto history = std::make_unique<store::HistoryStore>(options.db_path);
  log(LogLevel::info,
      "chat history in " + options.db_path + " (journal " + history->journal_mode() + ")");
  auto service = std::make_shared<ChatService>(server, std::move(history), options.limits);
  WebSocketHandlers handlers{
      .on_open = [service](WebSocket ws) { service->on_open(ws); },
      .on_message = [service](WebSocket ws, std::string_view message,
                              MessageKind kind) { service->on_message(ws, message, kind); },
      .on_close = [service](WebSocket ws, std::uint16_t,
                            std::string_view) { service->on_close(ws); },
  };
  server.ws("/", handlers);
  server.ws("/ws", handlers);
  mount_health(server, [service] { return service->room_count(); });
  // Listening with the history open: ready for a load balancer.
  server.get("/readyz", [](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "application/json";
    response.body = R"({"status":"ready"})";
  });
  server.get("/metrics", [&server](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "text/plain; version=0.0.4";
    response.body = metrics_text(server.stats());
  });
  return std::make_unique<SingleNode>(std::move(service));
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

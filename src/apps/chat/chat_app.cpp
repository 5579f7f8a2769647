// The chat on the public API: WebSocket handlers that drive a ChatService, the page, /healthz.
#include "apps/chat/chat_app.hpp"

#include <memory>
#include <span>

#include "apps/chat/chat_service.hpp"
#include "hibiki/log.hpp"
#include "hibiki/static_files.hpp"
#include "hibiki/stats.hpp"
#include "store/history_store.hpp"

// Generated from web/ at build time (cmake/embed_assets.cmake).
std::span<const hibiki::StaticAsset> hibiki_chat_web_assets();

namespace hibiki::apps::chat {

ServerOptions chat_server_defaults() {
  return ServerOptions{
      .threads = 0,  // one loop per core; ChatService serialises the chat's own state
      .port = 8080,
      .max_message_bytes = 64 * 1024,
  };
}

void mount_chat(Server& server, const ChatOptions& options) {
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
  if (options.web_root.empty()) {
    server.get("*", serve_assets(hibiki_chat_web_assets()));
  } else {
    server.get("*", serve_directory(options.web_root));
  }
  server.get("/healthz", [&server, service](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "application/json";
    response.body = R"({"status":"ok","connections":)" + std::to_string(server.connection_count()) +
                    R"(,"rooms":)" + std::to_string(service->room_count()) + "}";
  });
  server.get("/metrics", [&server](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "text/plain; version=0.0.4";
    response.body = metrics_text(server.stats());
  });
}

}  // namespace hibiki::apps::chat

// The chat room on the public API: one topic for the room, JSON in, JSON out.
#include "apps/chat/chat_app.hpp"

#include <memory>
#include <span>

#include "apps/chat/chat_messages.hpp"
#include "hibiki/log.hpp"
#include "hibiki/static_files.hpp"

// Generated from web/ at build time (cmake/embed_assets.cmake).
std::span<const hibiki::StaticAsset> hibiki_chat_web_assets();

namespace hibiki::apps::chat {
namespace {

constexpr std::string_view kRoomTopic = "chat";

}  // namespace

ServerOptions chat_server_defaults() {
  return ServerOptions{
      .port = 8080,
      .max_message_bytes = 64 * 1024,
  };
}

void mount_chat(Server& server, const ChatOptions& options) {
  auto parser = std::make_shared<ChatMessageParser>();
  WebSocketHandlers handlers{
      .on_open = [](WebSocket ws) { ws.subscribe(kRoomTopic); },
      .on_message =
          [&server, parser](WebSocket ws, std::string_view message, MessageKind kind) {
            if (kind == MessageKind::binary) {
              ws.send(encode_error(ChatError::binary_not_supported));
              return;
            }
            const ClientMessage parsed = parser->parse(message);
            if (parsed.error != ChatError::none) {
              ws.send(encode_error(parsed.error));
              return;
            }
            if (parsed.action == ChatAction::hello) {
              // Only clients that ask get hibiki's additions: the talk's page never sees a
              // message type it does not know.
              ws.send(encode_welcome(ws.id()));
              return;
            }
            server.publish(kRoomTopic, encode_chat_message(ws.id(), parsed.text));
          },
  };
  server.ws("/", handlers);
  server.ws("/ws", handlers);
  if (options.web_root.empty()) {
    server.get("*", serve_assets(hibiki_chat_web_assets()));
  } else {
    server.get("*", serve_directory(options.web_root));
  }
  server.get("/healthz", [&server](const HttpRequestView&, HttpResponse& response) {
    response.content_type = "application/json";
    response.body =
        R"({"status":"ok","connections":)" + std::to_string(server.connection_count()) + "}";
  });
}

}  // namespace hibiki::apps::chat

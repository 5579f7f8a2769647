// `hibiki chat`: the talk's chat room grown into rooms, names, presence and durable history.
// The talk's JSON keeps working unchanged for clients that never say hello. The page is served
// from the same port.
#pragma once

#include <string>

#include "apps/chat/chat_limits.hpp"
#include "hibiki/server.hpp"

namespace hibiki::apps::chat {

struct ChatOptions {
  // Serve the page from this directory instead of the copy built into the binary.
  std::string web_root;
  // SQLite history; its directory is created. ":memory:" keeps history until exit only.
  std::string db_path = "data/chat.db";
  ChatLimits limits;
};

ServerOptions chat_server_defaults();

// Opens the history and adds the WebSocket endpoints ("/" and "/ws"), the page and /healthz
// to `server`. Throws store::StoreError (a std::runtime_error) when the history cannot be
// opened. The chat's state lives in the handlers, so it lasts as long as the server.
void mount_chat(Server& server, const ChatOptions& options);

}  // namespace hibiki::apps::chat

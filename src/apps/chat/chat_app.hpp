// `hibiki chat`: the talk's chat room. Every {"action":"message"} is broadcast to everyone,
// sender included; the page is served from the same port.
#pragma once

#include <string>

#include "hibiki/server.hpp"

namespace hibiki::apps::chat {

struct ChatOptions {
  // Serve the page from this directory instead of the copy built into the binary.
  std::string web_root;
};

ServerOptions chat_server_defaults();

// Adds the WebSocket endpoints ("/" and "/ws") and the page routes to `server`.
// The server must outlive nothing but itself: state lives in the handlers.
void mount_chat(Server& server, const ChatOptions& options);

}  // namespace hibiki::apps::chat

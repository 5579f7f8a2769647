// `hibiki chat`: the talk's chat room grown into rooms, names, presence and durable history.
// The talk's JSON keeps working unchanged for clients that never say hello. The page is served
// from the same port. Alone, history lives in SQLite; as one node of a cluster (`cluster`
// set), rooms, names, presence and history live in Redis and span every node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "apps/chat/chat_limits.hpp"
#include "hibiki/server.hpp"

namespace hibiki::apps::chat {

struct ClusterSettings {
  std::string redis_url;             // redis://HOST:PORT[/DB]
  std::string node_id;               // empty: "<host name>:<port>"
  std::string prefix = "hibiki";     // of every Redis key and channel
  std::size_t keep_history = 10000;  // messages kept per room in Redis
};

struct ChatOptions {
  // Serve the page from this directory instead of the copy built into the binary.
  std::string web_root;
  // SQLite history; its directory is created. ":memory:" keeps history until exit only.
  std::string db_path = "data/chat.db";
  ChatLimits limits;
  std::optional<ClusterSettings> cluster;
};

ServerOptions chat_server_defaults();

// What the chat keeps beside the server (its state, the Redis link). Keep it while the server
// runs and destroy it before the server.
class MountedChat {
 public:
  virtual ~MountedChat() = default;
  // After Server::listen(): the port names this node in a cluster; starts the Redis link.
  virtual void start(std::uint16_t port) = 0;
};

// Opens the history (or prepares the Redis link) and adds the WebSocket endpoints ("/" and
// "/ws"), the page, /healthz, /readyz and /metrics to `server`. Throws store::StoreError (a
// std::runtime_error) when the history cannot be opened, std::invalid_argument or
// std::runtime_error when the Redis URL is unusable.
std::unique_ptr<MountedChat> mount_chat(Server& server, const ChatOptions& options);

}  // namespace hibiki::apps::chat

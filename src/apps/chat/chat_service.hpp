// The chat's state on one event loop: connections, their names, rooms and who is in them, and
// the history store. Rooms are the server's topics, two per room: "room/<name>" carries the
// structured frames to clients that said hello, "talk/<name>" the talk's exact JSON to the
// others, so every broadcast is encoded once per variant and one room never hears another.
// Thread: any loop's. One mutex serialises the handlers: the chat's state and its history are
// shared by every loop, while the fan-out of each message runs on the loops in parallel.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apps/chat/chat_encode.hpp"
#include "apps/chat/chat_limits.hpp"
#include "apps/chat/chat_messages.hpp"
#include "apps/chat/rate_limiter.hpp"
#include "hibiki/server.hpp"
#include "store/history_store.hpp"

namespace hibiki::apps::chat {

class ChatService {
 public:
  ChatService(Server& server, std::unique_ptr<store::HistoryStore> history, ChatLimits limits);
  ~ChatService();
  ChatService(const ChatService&) = delete;
  ChatService& operator=(const ChatService&) = delete;

  void on_open(WebSocket ws);
  void on_message(WebSocket ws, std::string_view message, MessageKind kind);
  void on_close(WebSocket ws);

  [[nodiscard]] std::size_t room_count() const {
    const std::lock_guard lock(mutex_);
    return rooms_.size();
  }

 private:
  struct Room;
  struct Member {
    WebSocket ws;
    std::string id;            // the connection id, in decimal
    std::string name;          // empty until the client picks one
    bool hello = false;        // speaks hibiki's additions (else: the talk's JSON only)
    std::vector<Room*> rooms;  // join order; back() is the current room
    TokenBucket bucket;
    [[nodiscard]] MemberView view() const { return {id, name}; }
  };
  struct Room {
    std::string name;
    std::string topic;             // "room/<name>": members that said hello
    std::string talk_topic;        // "talk/<name>": the talk's clients
    std::vector<Member*> members;  // join order
    std::size_t talk_members = 0;
  };

  void on_hello(Member& member, const ClientMessage& request);
  void on_join(Member& member, const ClientMessage& request);
  void on_leave(Member& member, const ClientMessage& request);
  void on_nick(Member& member, const ClientMessage& request);
  void on_chat(Member& member, const ClientMessage& request);
  void on_history(Member& member, const ClientMessage& request);

  Room& enter_room(Member& member, std::string_view name);
  void exit_room(Member& member, Room& room);
  void send_room_state(Member& member, const Room& room, std::optional<std::uint64_t> since);
  void send_history(Member& member, const Room& room, std::uint64_t latest, std::uint64_t before);
  void assign_name(Member& member, std::string_view requested);
  void publish_presence(const Room& room, PresenceEvent event, const Member& member,
                        std::string_view previous_name = {});
  Room* joined_room(Member& member, std::string_view name);
  void reply_error(const Member& member, ChatError error, ErrorDetail detail = {},
                   bool detailed = false);

  mutable std::mutex mutex_;
  Server& server_;
  std::unique_ptr<store::HistoryStore> history_;
  ChatLimits limits_;
  ChatMessageParser parser_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Member>> members_;  // by connection id
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;        // rooms with members
  std::unordered_map<std::string, Member*> names_;                      // by fold_name()
  std::vector<store::HistoryMessage> rows_;                             // reused for reads
  std::string scratch_;                                                 // reused for encoding
};

}  // namespace hibiki::apps::chat

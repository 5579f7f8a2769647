// What chat clients send (docs/CHAT-PROTOCOL.md): parsing and validating one JSON frame into a
// request. Room and name rules are checked here; limits that depend on configuration (text
// length, rooms per connection) and on state (membership) are the service's. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hibiki::apps::chat {

// Every reason the server refuses a request; the wire name is to_string(error).
enum class ChatError : std::uint8_t {
  none,
  invalid_json,          // not JSON, or not a JSON object
  unknown_action,        // "action" missing, not a string, or not one we know
  invalid_message,       // "message" missing or not a string
  binary_not_supported,  // a binary frame
  hello_required,        // hibiki's actions (join, leave, nick, history) need a hello first
  invalid_room,          // "room" missing where required, not a string, or not a valid name
  invalid_name,          // "name" missing where required, not a string, or not a valid name
  invalid_since,         // "since" not a non-negative integer
  invalid_before,        // "before" not a positive integer
  empty_message,         // the text is empty or only whitespace
  message_too_long,      // the text has more characters than the server allows
  rate_limited,          // too many requests; retry after retry_ms
  too_many_rooms,        // the connection is already in as many rooms as allowed
  not_in_room,           // the request names a room the connection has not joined
  no_room,               // a message without "room" from a connection that is in no room
  history_gap,           // more was missed than the server sends; the room's view must reset
  store_failed,          // the message could not be stored, so it was not sent
  unavailable,           // clustered: Redis cannot be reached, so nothing was done
};

[[nodiscard]] const char* to_string(ChatError error);

enum class ChatAction : std::uint8_t {
  message,  // {"action":"message","message":"<text>"[,"room":"<room>"]}: the talk's action
  hello,    // {"action":"hello"[,"name":"<name>"][,"since":<id>]}: speaks hibiki's additions
  join,     // {"action":"join","room":"<room>"[,"since":<id>]}
  leave,    // {"action":"leave","room":"<room>"}
  nick,     // {"action":"nick","name":"<name>"}
  history,  // {"action":"history","room":"<room>"[,"before":<id>]}: older messages
};

[[nodiscard]] const char* to_string(ChatAction action);

struct ClientMessage {
  ChatError error = ChatError::none;
  ChatAction action = ChatAction::message;
  bool action_known = false;           // the action parsed (errors can then name it)
  std::string text;                    // "message", unescaped
  std::string room;                    // "room"; empty when absent (optional for message)
  std::string name;                    // "name"; empty when absent (optional for hello)
  std::optional<std::uint64_t> since;  // "since": resume after this id
  std::uint64_t before = 0;            // "before": older than this id; 0 when absent
};

// Parses and reuses its buffers: steady state allocates only the strings it returns.
class ChatMessageParser {
 public:
  ChatMessageParser();
  ~ChatMessageParser();
  ChatMessageParser(const ChatMessageParser&) = delete;
  ChatMessageParser& operator=(const ChatMessageParser&) = delete;

  // Optional fields given as JSON null count as absent. Keys we do not know are ignored.
  [[nodiscard]] ClientMessage parse(std::string_view json);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace hibiki::apps::chat

// The chat's JSON wire format (the talk's protocol, docs/CHAT-PROTOCOL.md): parsing what
// clients send and encoding what the server sends. No I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hibiki::apps::chat {

enum class ChatError : std::uint8_t {
  none,
  invalid_json,          // not JSON, or not a JSON object
  unknown_action,        // "action" missing, not a string, or not one we know
  invalid_message,       // "message" missing or not a string
  binary_not_supported,  // a binary frame
};

const char* to_string(ChatError error);

enum class ChatAction : std::uint8_t {
  message,  // {"action":"message","message":"<text>"}: the talk's one action
  hello,    // {"action":"hello"}: a client that understands hibiki's additions
};

struct ClientMessage {
  ChatError error = ChatError::none;
  ChatAction action = ChatAction::message;
  std::string text;  // the "message" field, unescaped (message action)
};

// Parses and reuses its buffers: steady state allocates only the text it returns.
class ChatMessageParser {
 public:
  ChatMessageParser();
  ~ChatMessageParser();
  ChatMessageParser(const ChatMessageParser&) = delete;
  ChatMessageParser& operator=(const ChatMessageParser&) = delete;

  [[nodiscard]] ClientMessage parse(std::string_view json);

 private:
  struct Impl;
  Impl* impl_;
};

// Appends `text` as a JSON string literal body (no quotes), escaping per RFC 8259 §7.
void append_json_escaped(std::string& out, std::string_view text);

// {"type":"message","body":"Client <id>: <text>"}
std::string encode_chat_message(std::uint64_t sender_id, std::string_view text);
// {"type":"welcome","id":"<id>"}
std::string encode_welcome(std::uint64_t id);
// {"type":"error","error":"<reason>"}
std::string encode_error(ChatError error);

}  // namespace hibiki::apps::chat

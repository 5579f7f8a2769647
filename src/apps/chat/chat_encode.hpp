// What the chat server sends (docs/CHAT-PROTOCOL.md), encoded by hand: the shapes are fixed,
// key order is part of the contract (the talk's message is byte-exact), and text is escaped
// per RFC 8259 §7. No I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "apps/chat/chat_limits.hpp"
#include "apps/chat/chat_messages.hpp"
#include "store/history_store.hpp"

namespace hibiki::apps::chat {

// A connection as others see it. An empty name is sent as null.
struct MemberView {
  std::string_view id;
  std::string_view name;
};

// One stored chat message.
struct MessageView {
  std::string_view room;
  std::uint64_t id = 0;
  MemberView from;
  std::string_view text;
  std::int64_t ts_ms = 0;
};
// A stored message of `room`, as the encoders take it (views into `message`).
MessageView view_of(std::string_view room, const store::HistoryMessage& message);

enum class PresenceEvent : std::uint8_t { join, leave, nick };

// Context an error reply may carry; empty/zero fields are left out.
struct ErrorDetail {
  const char* action = nullptr;  // the request's action, when it parsed that far
  std::string_view room;
  std::uint64_t max = 0;      // the limit that was hit
  std::int64_t retry_ms = 0;  // rate_limited: when to try again
  bool has_since = false;     // history_gap: what the client asked for and what there is
  std::uint64_t since = 0;
  std::uint64_t latest = 0;
};

// The talk's broadcast, byte-exact: {"type":"message","body":"Client <label>: <text>"}.
std::string encode_talk_message(std::string_view sender_label, std::string_view text);
// The same body plus structured fields, for clients that said hello:
// {"type":"message","body":…,"id":…,"room":…,"from":{"id":…,"name":…},"text":…,"ts":…}
std::string encode_message(const MessageView& message);
void append_message(std::string& out, const MessageView& message);

// {"type":"welcome","id":…,"name":…,"room":…,"limits":{…}}
std::string encode_welcome(const MemberView& self, std::string_view room, const ChatLimits& limits);
// {"type":"joined","room":…,"members":[{"id":…,"name":…},…]}
std::string encode_joined(std::string_view room, std::span<const MemberView> members);
// {"type":"history","room":…,"messages":[<message>,…],"latest":…[,"before":…]}
// `messages` is the array's inside, built with append_message and commas.
std::string encode_history(std::string_view room, std::string_view messages, std::uint64_t latest,
                           std::uint64_t before);
// {"type":"left","room":…}
std::string encode_left(std::string_view room);
// {"type":"presence","room":…,"event":"join|leave|nick","member":{…},"count":…[,"previous":…]}
std::string encode_presence(std::string_view room, PresenceEvent event, const MemberView& member,
                            std::size_t count, std::string_view previous_name = {});
// {"type":"nick","id":…,"name":…}
std::string encode_nick(const MemberView& self);

// The talk-compatible error: {"type":"error","error":"<reason>"}.
std::string encode_error(ChatError error);
// With a human-readable "message" and the detail fields, for clients that said hello.
std::string encode_error(ChatError error, const ErrorDetail& detail);

}  // namespace hibiki::apps::chat

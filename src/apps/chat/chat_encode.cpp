// Chat server frames encoded by hand (see chat_encode.hpp).
#include "apps/chat/chat_encode.hpp"

#include <array>
#include <charconv>

#include "apps/chat/chat_text.hpp"
#include "apps/common/json_text.hpp"

namespace hibiki::apps::chat {
namespace {

void append_string(std::string& out, std::string_view text) {
  out += '"';
  append_json_escaped(out, text);
  out += '"';
}

// A name (or room), or null when there is none.
void append_name(std::string& out, std::string_view name) {
  if (name.empty()) {
    out += "null";
  } else {
    append_string(out, name);
  }
}

template <typename Number>
void append_number(std::string& out, Number value) {
  std::array<char, 32> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), ec == std::errc{} ? end : digits.data());
}

void append_member(std::string& out, const MemberView& member) {
  out += R"({"id":)";
  append_string(out, member.id);
  out += R"(,"name":)";
  append_name(out, member.name);
  out += '}';
}

// What the talk's page shows before the colon: the name if there is one, else the id.
std::string_view label_of(const MemberView& member) {
  return member.name.empty() ? member.id : member.name;
}

void append_body(std::string& out, std::string_view label, std::string_view text) {
  out += R"("body":"Client )";
  append_json_escaped(out, label);
  out += ": ";
  append_json_escaped(out, text);
  out += '"';
}

const char* describe(ChatError error) {
  switch (error) {
    case ChatError::none:
      return "";
    case ChatError::invalid_json:
      return "The frame is not a JSON object.";
    case ChatError::unknown_action:
      return "\"action\" is missing or not one of message, hello, join, leave, nick, history.";
    case ChatError::invalid_message:
      return "\"message\" must be a string.";
    case ChatError::binary_not_supported:
      return "Only text frames carry chat messages.";
    case ChatError::hello_required:
      return "Send {\"action\":\"hello\"} before using rooms, names or history.";
    case ChatError::invalid_room:
      return "A room name is 1-32 characters: a-z, 0-9, '-' and '_', starting with a letter or "
             "digit.";
    case ChatError::invalid_name:
      return "A name is 1-24 characters without spaces: letters, digits, '-', '_' or '.', and "
             "not only digits.";
    case ChatError::invalid_since:
      return "\"since\" must be a message id: an integer of 0 or more.";
    case ChatError::invalid_before:
      return "\"before\" must be a message id: an integer of 1 or more.";
    case ChatError::empty_message:
      return "The message is empty.";
    case ChatError::message_too_long:
      return "The message has more characters than the server accepts (see max).";
    case ChatError::rate_limited:
      return "Too many requests; this one was dropped. Try again after retry_ms.";
    case ChatError::too_many_rooms:
      return "You are in as many rooms as allowed (see max); leave one first.";
    case ChatError::not_in_room:
      return "Join the room first.";
    case ChatError::no_room:
      return "You are in no room; join one or name it in \"room\".";
    case ChatError::history_gap:
      return "More messages were missed than the server sends on join; drop what you show for "
             "this room and use the history that follows.";
    case ChatError::store_failed:
      return "The message could not be stored, so it was not sent. Try again.";
    case ChatError::unavailable:
      return "The server cannot reach the cluster's store right now, so this was not done. "
             "Try again.";
  }
  return "";
}

}  // namespace

MessageView view_of(std::string_view room, const store::HistoryMessage& message) {
  return MessageView{.room = room,
                     .id = message.id,
                     .from = {message.from_id, message.from_name},
                     .text = message.text,
                     .ts_ms = message.ts_ms};
}

std::string encode_talk_message(std::string_view sender_label, std::string_view text) {
  std::string out;
  out.reserve(40 + sender_label.size() + text.size());
  out += R"({"type":"message",)";
  append_body(out, sender_label, text);
  out += '}';
  return out;
}

void append_message(std::string& out, const MessageView& message) {
  out += R"({"type":"message",)";
  append_body(out, label_of(message.from), message.text);
  out += R"(,"id":)";
  append_number(out, message.id);
  out += R"(,"room":)";
  append_string(out, message.room);
  out += R"(,"from":)";
  append_member(out, message.from);
  out += R"(,"text":)";
  append_string(out, message.text);
  out += R"(,"ts":)";
  append_number(out, message.ts_ms);
  out += '}';
}

std::string encode_message(const MessageView& message) {
  std::string out;
  out.reserve(160 + 2 * message.text.size());
  append_message(out, message);
  return out;
}

std::string encode_welcome(const MemberView& self, std::string_view room,
                           const ChatLimits& limits) {
  std::string out = R"({"type":"welcome","id":)";
  append_string(out, self.id);
  out += R"(,"name":)";
  append_name(out, self.name);
  out += R"(,"room":)";
  append_name(out, room);  // null when in no room
  out += R"(,"limits":{"text":)";
  append_number(out, limits.max_text_chars);
  out += R"(,"rooms":)";
  append_number(out, limits.max_rooms);
  out += R"(,"history":)";
  append_number(out, limits.history);
  out += R"(,"rate":)";
  append_number(out, limits.rate.rate_per_s);
  out += R"(,"burst":)";
  append_number(out, limits.rate.burst);
  out += R"(,"name":)";
  append_number(out, kMaxNameChars);
  out += R"(,"room":)";
  append_number(out, kMaxRoomChars);
  out += "}}";
  return out;
}

std::string encode_joined(std::string_view room, std::span<const MemberView> members) {
  std::string out = R"({"type":"joined","room":)";
  append_string(out, room);
  out += R"(,"members":[)";
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out += ',';
    append_member(out, members[i]);
  }
  out += "]}";
  return out;
}

std::string encode_history(std::string_view room, std::string_view messages, std::uint64_t latest,
                           std::uint64_t before) {
  std::string out;
  out.reserve(80 + messages.size());
  out += R"({"type":"history","room":)";
  append_string(out, room);
  out += R"(,"messages":[)";
  out += messages;
  out += R"(],"latest":)";
  append_number(out, latest);
  if (before != 0) {
    out += R"(,"before":)";
    append_number(out, before);
  }
  out += '}';
  return out;
}

std::string encode_left(std::string_view room) {
  std::string out = R"({"type":"left","room":)";
  append_string(out, room);
  out += '}';
  return out;
}

std::string encode_presence(std::string_view room, PresenceEvent event, const MemberView& member,
                            std::size_t count, std::string_view previous_name) {
  std::string out = R"({"type":"presence","room":)";
  append_string(out, room);
  out += R"(,"event":)";
  out += event == PresenceEvent::join    ? R"("join")"
         : event == PresenceEvent::leave ? R"("leave")"
                                         : R"("nick")";
  out += R"(,"member":)";
  append_member(out, member);
  out += R"(,"count":)";
  append_number(out, count);
  if (event == PresenceEvent::nick) {
    out += R"(,"previous":)";
    append_name(out, previous_name);
  }
  out += '}';
  return out;
}

std::string encode_nick(const MemberView& self) {
  std::string out = R"({"type":"nick","id":)";
  append_string(out, self.id);
  out += R"(,"name":)";
  append_name(out, self.name);
  out += '}';
  return out;
}

std::string encode_error(ChatError error) {
  return std::string(R"({"type":"error","error":")") + to_string(error) + "\"}";
}

std::string encode_error(ChatError error, const ErrorDetail& detail) {
  std::string out = R"({"type":"error","error":")";
  out += to_string(error);
  out += R"(","detail":)";
  append_string(out, describe(error));
  if (detail.action != nullptr) {
    out += R"(,"action":)";
    append_string(out, detail.action);
  }
  if (!detail.room.empty()) {
    out += R"(,"room":)";
    append_string(out, detail.room);
  }
  if (detail.max != 0) {
    out += R"(,"max":)";
    append_number(out, detail.max);
  }
  if (detail.retry_ms != 0) {
    out += R"(,"retry_ms":)";
    append_number(out, detail.retry_ms);
  }
  if (detail.has_since) {
    out += R"(,"since":)";
    append_number(out, detail.since);
    out += R"(,"latest":)";
    append_number(out, detail.latest);
  }
  out += '}';
  return out;
}

}  // namespace hibiki::apps::chat

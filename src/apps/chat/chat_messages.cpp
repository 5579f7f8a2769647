// Chat requests parsed with simdjson's DOM parser, which validates the whole document.
#include "apps/chat/chat_messages.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <utility>

#include "apps/chat/chat_text.hpp"

namespace hibiki::apps::chat {
namespace {

constexpr std::array<std::pair<std::string_view, ChatAction>, 6> kActions{{
    {"message", ChatAction::message},
    {"hello", ChatAction::hello},
    {"join", ChatAction::join},
    {"leave", ChatAction::leave},
    {"nick", ChatAction::nick},
    {"history", ChatAction::history},
}};

enum class Field : std::uint8_t { absent, ok, wrong };

// A string field; JSON null and a missing key are both "absent".
Field string_field(simdjson::dom::object& object, std::string_view key, std::string& out) {
  simdjson::dom::element value;
  if (object[key].get(value) != simdjson::SUCCESS || value.is_null()) return Field::absent;
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return Field::wrong;
  out.assign(text);
  return Field::ok;
}

// A non-negative integer field (no fraction, no exponent form that is not an integer).
Field id_field(simdjson::dom::object& object, std::string_view key, std::uint64_t& out) {
  simdjson::dom::element value;
  if (object[key].get(value) != simdjson::SUCCESS || value.is_null()) return Field::absent;
  return value.get_uint64().get(out) == simdjson::SUCCESS ? Field::ok : Field::wrong;
}

}  // namespace

struct ChatMessageParser::Impl {
  simdjson::dom::parser parser;
  std::string padded;  // the input copied with SIMDJSON_PADDING bytes of slack
};

ChatMessageParser::ChatMessageParser() : impl_(new Impl) {}
ChatMessageParser::~ChatMessageParser() {
  delete impl_;
}

const char* to_string(ChatError error) {
  switch (error) {
    case ChatError::none:
      return "none";
    case ChatError::invalid_json:
      return "invalid_json";
    case ChatError::unknown_action:
      return "unknown_action";
    case ChatError::invalid_message:
      return "invalid_message";
    case ChatError::binary_not_supported:
      return "binary_not_supported";
    case ChatError::hello_required:
      return "hello_required";
    case ChatError::invalid_room:
      return "invalid_room";
    case ChatError::invalid_name:
      return "invalid_name";
    case ChatError::invalid_since:
      return "invalid_since";
    case ChatError::invalid_before:
      return "invalid_before";
    case ChatError::empty_message:
      return "empty_message";
    case ChatError::message_too_long:
      return "message_too_long";
    case ChatError::rate_limited:
      return "rate_limited";
    case ChatError::too_many_rooms:
      return "too_many_rooms";
    case ChatError::not_in_room:
      return "not_in_room";
    case ChatError::no_room:
      return "no_room";
    case ChatError::history_gap:
      return "history_gap";
    case ChatError::store_failed:
      return "store_failed";
    case ChatError::unavailable:
      return "unavailable";
  }
  return "unknown";
}

const char* to_string(ChatAction action) {
  for (const auto& [name, value] : kActions) {
    if (value == action) return name.data();
  }
  return "unknown";
}

ClientMessage ChatMessageParser::parse(std::string_view json) {
  ClientMessage result;
  const auto fail = [&result](ChatError error) {
    result.error = error;
    return result;
  };
  std::string& padded = impl_->padded;
  padded.assign(json);
  padded.resize(json.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  if (impl_->parser.parse(padded.data(), json.size(), false).get(root) != simdjson::SUCCESS) {
    return fail(ChatError::invalid_json);
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return fail(ChatError::invalid_json);

  std::string_view action;
  if (object["action"].get_string().get(action) != simdjson::SUCCESS) {
    return fail(ChatError::unknown_action);
  }
  const auto* known = std::find_if(kActions.begin(), kActions.end(),
                                   [action](const auto& entry) { return entry.first == action; });
  if (known == kActions.end()) return fail(ChatError::unknown_action);
  result.action = known->second;
  result.action_known = true;

  const bool room_required = result.action != ChatAction::message &&
                             result.action != ChatAction::hello &&
                             result.action != ChatAction::nick;
  if (result.action != ChatAction::hello && result.action != ChatAction::nick) {
    const Field room = string_field(object, "room", result.room);
    if (room == Field::wrong || (room == Field::absent && room_required) ||
        (room == Field::ok && !is_valid_room_name(result.room))) {
      result.room.clear();  // never echo what was refused
      return fail(ChatError::invalid_room);
    }
  }
  if (result.action == ChatAction::hello || result.action == ChatAction::nick) {
    const Field name = string_field(object, "name", result.name);
    if (name == Field::wrong || (name == Field::absent && result.action == ChatAction::nick) ||
        (name == Field::ok && !is_valid_name(result.name))) {
      result.name.clear();
      return fail(ChatError::invalid_name);
    }
  }
  if (result.action == ChatAction::hello || result.action == ChatAction::join) {
    std::uint64_t since = 0;
    const Field field = id_field(object, "since", since);
    if (field == Field::wrong) return fail(ChatError::invalid_since);
    if (field == Field::ok) result.since = since;
  }
  if (result.action == ChatAction::history) {
    const Field field = id_field(object, "before", result.before);
    if (field == Field::wrong || (field == Field::ok && result.before == 0)) {
      return fail(ChatError::invalid_before);
    }
  }
  if (result.action == ChatAction::message &&
      string_field(object, "message", result.text) != Field::ok) {
    return fail(ChatError::invalid_message);
  }
  return result;
}

}  // namespace hibiki::apps::chat

// Parsing a room channel's payloads (see room_events.hpp).
#include "apps/chat/room_events.hpp"

#include <charconv>

namespace hibiki::apps::chat {
namespace {

// Takes the next field up to '\n' from `rest`; false when there is no '\n' left.
bool take_field(std::string_view& rest, std::string_view& field) {
  const auto end = rest.find('\n');
  if (end == std::string_view::npos) return false;
  field = rest.substr(0, end);
  rest.remove_prefix(end + 1);
  return true;
}

template <typename Number>
bool take_number(std::string_view& rest, Number& out) {
  std::string_view field;
  if (!take_field(rest, field) || field.empty()) return false;
  const auto [end, status] = std::from_chars(field.data(), field.data() + field.size(), out);
  return status == std::errc() && end == field.data() + field.size();
}

}  // namespace

std::optional<RoomEvent> parse_room_event(std::string_view payload) {
  RoomEvent event;
  std::string_view rest = payload;
  std::string_view kind;
  if (!take_field(rest, kind) || kind.size() != 1) return std::nullopt;
  if (!take_number(rest, event.ev) || event.ev == 0) return std::nullopt;
  std::string_view member;
  switch (kind[0]) {
    case 'm': {
      std::string_view name;
      if (!take_number(rest, event.id) || event.id == 0 || !take_number(rest, event.ts_ms) ||
          !take_field(rest, member) || !take_field(rest, name)) {
        return std::nullopt;
      }
      event.kind = RoomEvent::Kind::message;
      event.name = name;
      event.text = rest;  // the rest, newlines included
      break;
    }
    case 'j':
    case 'l':
      if (!take_field(rest, member) || rest.find('\n') != std::string_view::npos) {
        return std::nullopt;
      }
      event.kind = kind[0] == 'j' ? RoomEvent::Kind::join : RoomEvent::Kind::leave;
      event.name = rest;
      break;
    case 'n': {
      std::string_view name;
      if (!take_field(rest, member) || !take_field(rest, name) ||
          rest.find('\n') != std::string_view::npos) {
        return std::nullopt;
      }
      event.kind = RoomEvent::Kind::nick;
      event.name = name;
      event.previous = rest;
      break;
    }
    default:
      return std::nullopt;
  }
  if (member.empty()) return std::nullopt;
  event.member = member;
  return event;
}

}  // namespace hibiki::apps::chat

// What a room's Redis channel carries when the chat runs as a cluster (docs/CLUSTER.md): one
// event per change, numbered by the room's event sequence `ev` (1, 2, 3 … in the order Redis
// applied them), so a node can tell a duplicate from a gap. Written by the Lua scripts of
// cluster_scripts.cpp; parsed here. No I/O.
//
//   m\n<ev>\n<id>\n<ts>\n<member>\n<name>\n<text>   a message (text last: it may hold anything)
//   j\n<ev>\n<member>\n<name>                       a member joined
//   l\n<ev>\n<member>\n<name>                       a member left (or its node died)
//   n\n<ev>\n<member>\n<name>\n<previous>           a member changed name
// Names are empty when the member has none; member ids are decimal and names hold no
// whitespace, so only the text may contain a newline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hibiki::apps::chat {

struct RoomEvent {
  enum class Kind : std::uint8_t { message, join, leave, nick };
  Kind kind = Kind::message;
  std::uint64_t ev = 0;
  std::uint64_t id = 0;    // message: its id in the room
  std::int64_t ts_ms = 0;  // message: Redis time when stored
  std::string member;      // the sender, or the member who joined, left or renamed
  std::string name;        // that member's name (after a rename: the new one)
  std::string previous;    // nick: the name before
  std::string text;        // message: the text
};

// nullopt when the payload is not one of the shapes above.
std::optional<RoomEvent> parse_room_event(std::string_view payload);

}  // namespace hibiki::apps::chat

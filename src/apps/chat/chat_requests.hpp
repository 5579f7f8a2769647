// What both chat services (single node and cluster) check before a request touches their
// state: the rate limit, binary frames, the JSON, hello first, the text of a message, and the
// names tried when one is taken. No I/O, no state of their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "apps/chat/chat_encode.hpp"
#include "apps/chat/chat_limits.hpp"
#include "apps/chat/chat_messages.hpp"
#include "apps/chat/rate_limiter.hpp"
#include "hibiki/websocket.hpp"

namespace hibiki::apps::chat {

// A request refused before it reached the state, and how to say so.
struct Refusal {
  ChatError error = ChatError::none;
  ErrorDetail detail;
  bool detailed = false;  // details even for a client that has not said hello (a bad hello)
};

// Takes a token, then parses: the request, or why it is refused. `detail` views of a refusal
// stay valid while `message` does.
std::variant<ClientMessage, Refusal> screen_request(TokenBucket& bucket, const ChatLimits& limits,
                                                    ChatMessageParser& parser,
                                                    std::string_view message, MessageKind kind,
                                                    bool hello, std::int64_t now_ms);

// A message's text for `room`: empty or too long is refused.
std::optional<Refusal> check_text(std::string_view text, std::string_view room,
                                  const ChatLimits& limits);

// The room a `message` goes to: the one it names, which the sender must be in, else the
// sender's current room (the last one joined).
template <typename Room>
std::variant<Room*, Refusal> room_for_message(const std::vector<Room*>& joined,
                                              std::string_view requested) {
  if (requested.empty()) {
    if (joined.empty())
      return Refusal{.error = ChatError::no_room, .detail = {.action = "message"}};
    return joined.back();
  }
  for (Room* room : joined) {
    if (room->name == requested) return room;
  }
  return Refusal{.error = ChatError::not_in_room,
                 .detail = {.action = "message", .room = requested}};
}

// The name tried in place of a taken one: `requested` for n < 2, else "<requested>-<n>" cut so
// that the whole stays within the name limit.
std::string name_candidate(std::string_view requested, std::size_t n);

// 64 random bits in decimal: tokens and epochs that must differ between processes.
std::string random_decimal();

// Milliseconds of a monotonic clock, for rate limits.
std::int64_t steady_ms();
// Milliseconds since the Unix epoch.
std::int64_t wall_ms();

}  // namespace hibiki::apps::chat

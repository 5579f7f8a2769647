// Rules for what people type: room names, nicknames, message text. Pure functions over UTF-8
// that the server has already validated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hibiki::apps::chat {

inline constexpr std::string_view kLobby = "lobby";
inline constexpr std::size_t kMaxRoomChars = 32;
inline constexpr std::size_t kMaxNameChars = 24;

// 1–32 characters of a–z, 0–9, '-' and '_', starting with a letter or digit.
[[nodiscard]] bool is_valid_room_name(std::string_view room);

// 1–24 characters: ASCII letters, digits, '-', '_', '.', and non-ASCII letters and symbols,
// but no whitespace, control, invisible or bidi-control characters (so a name is one `\S+` in
// the talk's "Client <name>: " body), and not all digits (those are connection ids).
[[nodiscard]] bool is_valid_name(std::string_view name);

// Key under which names are unique: ASCII letters lowered ("Alice" and "alice" clash).
[[nodiscard]] std::string fold_name(std::string_view name);

// Unicode code points in valid UTF-8 (bytes that do not continue a sequence).
[[nodiscard]] std::size_t count_code_points(std::string_view utf8);

// The longest prefix holding at most `max_chars` code points.
[[nodiscard]] std::string_view truncate_code_points(std::string_view utf8, std::size_t max_chars);

// True when the text holds nothing but ASCII whitespace.
[[nodiscard]] bool is_blank(std::string_view text);

}  // namespace hibiki::apps::chat

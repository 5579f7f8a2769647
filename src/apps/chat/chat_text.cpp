// Rules for room names, nicknames and message text (see chat_text.hpp).
#include "apps/chat/chat_text.hpp"

#include <algorithm>

namespace hibiki::apps::chat {
namespace {

constexpr bool is_continuation(unsigned char byte) {
  return (byte & 0xC0) == 0x80;
}

// Decodes the code point starting at `i` (valid UTF-8) and advances `i` past it.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  int extra = 0;
  char32_t cp = lead;
  if (lead >= 0xF0) {
    extra = 3;
    cp = lead & 0x07;
  } else if (lead >= 0xE0) {
    extra = 2;
    cp = lead & 0x0F;
  } else if (lead >= 0xC0) {
    extra = 1;
    cp = lead & 0x1F;
  }
  ++i;
  for (int k = 0; k < extra && i < s.size(); ++k, ++i) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3F);
  }
  return cp;
}

// Non-ASCII code points a name may not hold: C1 controls and no-break space, soft hyphen,
// the Unicode spaces JavaScript's \s matches, zero-width and bidi controls, specials.
bool is_forbidden_in_name(char32_t cp) {
  return cp <= 0xA0 || cp == 0xAD || cp == 0x1680 || cp == 0x180E ||
         (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
         (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF ||
         (cp >= 0xFFF0 && cp <= 0xFFFF) || (cp >= 0xE0000 && cp <= 0xE007F);
}

bool is_ascii_name_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '-' || ch == '_' || ch == '.';
}

}  // namespace

bool is_valid_room_name(std::string_view room) {
  if (room.empty() || room.size() > kMaxRoomChars) return false;
  const auto is_alnum = [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
  };
  if (!is_alnum(room.front())) return false;
  return std::all_of(room.begin(), room.end(),
                     [&](char ch) { return is_alnum(ch) || ch == '-' || ch == '_'; });
}

bool is_valid_name(std::string_view name) {
  if (name.empty()) return false;
  std::size_t chars = 0;
  bool all_digits = true;
  for (std::size_t i = 0; i < name.size();) {
    if (++chars > kMaxNameChars) return false;
    const auto byte = static_cast<unsigned char>(name[i]);
    if (byte < 0x80) {
      if (!is_ascii_name_char(name[i])) return false;
      if (byte < '0' || byte > '9') all_digits = false;
      ++i;
      continue;
    }
    all_digits = false;
    if (is_forbidden_in_name(next_code_point(name, i))) return false;
  }
  return !all_digits;
}

std::string fold_name(std::string_view name) {
  std::string folded(name);
  for (char& ch : folded) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return folded;
}

std::size_t count_code_points(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char ch) {
    return !is_continuation(static_cast<unsigned char>(ch));
  }));
}

std::string_view truncate_code_points(std::string_view utf8, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    if (is_continuation(static_cast<unsigned char>(utf8[i]))) continue;
    if (chars == max_chars) return utf8.substr(0, i);
    ++chars;
  }
  return utf8;
}

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
  });
}

}  // namespace hibiki::apps::chat

// Leveled logging to stderr, one write(2) per line so lines from a crash or a signal never mix.
#include "hibiki/log.hpp"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

namespace hibiki {
namespace {

std::atomic<LogLevel> current_level{LogLevel::info};
std::atomic<LogFormat> current_format{LogFormat::text};

const char* text_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "DEBUG";
    case LogLevel::info:
      return "INFO ";
    case LogLevel::warn:
      return "WARN ";
    case LogLevel::error:
      return "ERROR";
    case LogLevel::off:
      break;
  }
  return "";
}

const char* json_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
    case LogLevel::off:
      break;
  }
  return "off";
}

// Length of the valid UTF-8 sequence at the start of `text` (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0 with `invalid` set to the length of the maximal
// invalid subpart to replace with one U+FFFD (Unicode's recommended practice).
std::size_t utf8_sequence(std::string_view text, std::size_t& invalid) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    invalid = 1;
    return 0;
  }
  for (std::size_t i = 1; i < length; ++i) {
    const bool in_range =
        i < text.size() && byte(i) >= (i == 1 ? low : 0x80) && byte(i) <= (i == 1 ? high : 0xBF);
    if (!in_range) {
      invalid = i;
      return 0;
    }
  }
  return length;
}

void append_field_value(std::string& out, const LogField& field) {
  std::array<char, 32> number{};
  std::to_chars_result written{};
  switch (field.kind()) {
    case LogField::Kind::text:
      append_json_string(out, field.text());
      return;
    case LogField::Kind::boolean:
      out += field.boolean() ? "true" : "false";
      return;
    case LogField::Kind::signed_number:
      written = std::to_chars(number.data(), number.data() + number.size(), field.signed_number());
      break;
    case LogField::Kind::unsigned_number:
      written =
          std::to_chars(number.data(), number.data() + number.size(), field.unsigned_number());
      break;
    case LogField::Kind::real:
      if (!std::isfinite(field.real())) {
        out += "null";  // JSON has no NaN or infinity
        return;
      }
      written = std::to_chars(number.data(), number.data() + number.size(), field.real());
      break;
  }
  out.append(number.data(), written.ptr);
}

std::string timestamp() {
  timeval now{};
  ::gettimeofday(&now, nullptr);
  tm utc{};
  ::gmtime_r(&now.tv_sec, &utc);
  std::array<char, 40> stamp{};
  const int size = std::snprintf(stamp.data(), stamp.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                                 utc.tm_min, utc.tm_sec, static_cast<int>(now.tv_usec / 1000));
  return std::string(stamp.data(), static_cast<std::size_t>(size));
}

void write_line(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  std::string line = format_log_line(log_format(), timestamp(), level, message, fields);
  line.push_back('\n');
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x80) {
      std::size_t invalid = 0;
      const std::size_t length = utf8_sequence(text.substr(i), invalid);
      if (length > 0) {
        out.append(text.substr(i, length));
        i += length;
      } else {
        out += "\xEF\xBF\xBD";  // U+FFFD
        i += invalid;
      }
      continue;
    }
    ++i;
    switch (byte) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (byte < 0x20 || byte == 0x7F) {
          out += "\\u00";
          out.push_back(kHex[byte >> 4]);
          out.push_back(kHex[byte & 0x0F]);
        } else {
          out.push_back(static_cast<char>(byte));
        }
    }
  }
  out.push_back('"');
}

std::string format_log_line(LogFormat format, std::string_view time, LogLevel level,
                            std::string_view message, std::initializer_list<LogField> fields) {
  std::string line;
  if (format == LogFormat::text) {
    line.reserve(time.size() + 8 + message.size());
    line.append(time);
    line.push_back(' ');
    line.append(text_level_name(level));
    line.push_back(' ');
    line.append(message);
    return line;
  }
  line.reserve(64 + message.size() * 2);
  line += "{\"time\":";
  append_json_string(line, time);
  line += ",\"level\":\"";
  line += json_level_name(level);
  line += "\",\"message\":";
  append_json_string(line, message);
  for (const LogField& field : fields) {
    line.push_back(',');
    append_json_string(line, field.key());
    line.push_back(':');
    append_field_value(line, field);
  }
  line.push_back('}');
  return line;
}

void set_log_level(LogLevel level) {
  current_level.store(level, std::memory_order_relaxed);
}

LogLevel log_level() {
  return current_level.load(std::memory_order_relaxed);
}

void set_log_format(LogFormat format) {
  current_format.store(format, std::memory_order_relaxed);
}

LogFormat log_format() {
  return current_format.load(std::memory_order_relaxed);
}

void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (level < log_level() || level == LogLevel::off) return;
  write_line(level, message, fields);
}

void log_notice(std::string_view message, std::initializer_list<LogField> fields) {
  if (log_level() == LogLevel::off) return;
  write_line(LogLevel::info, message, fields);
}

}  // namespace hibiki

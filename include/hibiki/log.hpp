// Line-oriented logging to stderr with a level, used by the server and applications: text for
// people, or one JSON object per line for machines (LogFormat).
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "hibiki/options.hpp"

namespace hibiki {

// A named value attached to a log line, e.g. {"conn", 12}, {"peer", "10.0.0.1:5000"},
// {"code", 1009}. In the json format each becomes a member of the line's object; the text
// format leaves them out (the message says the same for people). Holds a view: build it in the
// call's argument list, as log(level, message, {{"conn", id}}) does.
class LogField {
 public:
  enum class Kind : std::uint8_t { text, signed_number, unsigned_number, real, boolean };

  LogField(std::string_view key, std::string_view value) : key_(key), text_(value) {}
  LogField(std::string_view key, const std::string& value) : key_(key), text_(value) {}
  LogField(std::string_view key, const char* value) : key_(key), text_(value) {}
  LogField(std::string_view key, bool value) : key_(key), kind_(Kind::boolean), boolean_(value) {}
  template <std::signed_integral T>
  LogField(std::string_view key, T value) : key_(key), kind_(Kind::signed_number), signed_(value) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) LogField(std::string_view key, T value)
      : key_(key), kind_(Kind::unsigned_number), unsigned_(value) {}
  LogField(std::string_view key, double value) : key_(key), kind_(Kind::real), real_(value) {}

  [[nodiscard]] std::string_view key() const { return key_; }
  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] std::string_view text() const { return text_; }
  [[nodiscard]] std::int64_t signed_number() const { return signed_; }
  [[nodiscard]] std::uint64_t unsigned_number() const { return unsigned_; }
  [[nodiscard]] double real() const { return real_; }
  [[nodiscard]] bool boolean() const { return boolean_; }

 private:
  std::string_view key_;
  Kind kind_ = Kind::text;
  std::string_view text_;
  std::int64_t signed_ = 0;
  std::uint64_t unsigned_ = 0;
  double real_ = 0;
  bool boolean_ = false;
};

void set_log_level(LogLevel level);
[[nodiscard]] LogLevel log_level();
void set_log_format(LogFormat format);
[[nodiscard]] LogFormat log_format();

// Writes one line to stderr in one write(2): "2026-11-25T12:00:00.123Z LEVEL message\n" in
// text, {"time":"…","level":"info","message":"…",<fields>}\n in json. Whatever the bytes of the
// message and fields (quotes, control characters, invalid UTF-8), a json line is one valid
// object: RFC 8259 escapes, and U+FFFD for each maximal invalid UTF-8 sequence.
void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});
// A line operators and scripts rely on (where the server listens, that it stopped): written at
// every level but off, tagged INFO.
void log_notice(std::string_view message, std::initializer_list<LogField> fields = {});

// The line log() writes, without the newline (for tests): `time` is the timestamp text.
[[nodiscard]] std::string format_log_line(LogFormat format, std::string_view time, LogLevel level,
                                          std::string_view message,
                                          std::initializer_list<LogField> fields = {});
// Appends `text` to `out` as a JSON string (quotes included), as log lines do.
void append_json_string(std::string& out, std::string_view text);

}  // namespace hibiki

// A small streaming JSON writer for the shapes the gateway sends (Lambda-proxy events, AWS error
// bodies). Keys come out in the order written; commas and colons are placed for the caller.
// Strings are escaped per RFC 8259 §7: '"', '\\' and control characters (short forms where JSON
// has them, else \u00XX); valid UTF-8 passes through and each byte of an invalid sequence becomes
// U+FFFD, so the output is always valid JSON. No I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hibiki::apps::gateway {

// Appends `text` as a quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view text);

class JsonWriter {
 public:
  // Structure. Calls must nest properly; the writer does not check it.
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // An object member's name; the next call writes its value.
  JsonWriter& key(std::string_view name);

  // Values.
  JsonWriter& string(std::string_view text);
  JsonWriter& number(std::int64_t value);
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  // A value that is already JSON, copied as is.
  JsonWriter& raw(std::string_view json);

  // The text so far; take() leaves the writer empty for reuse.
  [[nodiscard]] const std::string& str() const { return out_; }
  [[nodiscard]] std::string take();

 private:
  void separate();  // a comma before a sibling value or key

  std::string out_;
  bool need_comma_ = false;
};

}  // namespace hibiki::apps::gateway

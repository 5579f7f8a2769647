// JSON string escaping for the applications' hand-built messages (RFC 8259 §7): '"', '\\' and
// control characters (short forms where JSON has them, else \u00XX); valid UTF-8 passes through
// and each byte of an invalid sequence becomes U+FFFD, so the output is always valid JSON.
#pragma once

#include <string>
#include <string_view>

namespace hibiki::apps {

// Appends `text` as the inside of a JSON string literal (no quotes).
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace hibiki::apps

// HTTP header lists as the gateway passes them around: name/value pairs in the order received,
// names keeping their case. Lookups are case-insensitive (RFC 9110 §5.1). No I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hibiki::apps::gateway {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// ASCII case-insensitive equality (header names, hex digits).
[[nodiscard]] bool iequals(std::string_view a, std::string_view b);

// The value of the first header called `name` (any case), or nothing.
[[nodiscard]] std::optional<std::string_view> find_header(const HeaderList& headers,
                                                          std::string_view name);

// `text` without leading and trailing spaces and tabs (optional whitespace, RFC 9110 §5.6.3).
[[nodiscard]] std::string_view trim_ows(std::string_view text);

}  // namespace hibiki::apps::gateway

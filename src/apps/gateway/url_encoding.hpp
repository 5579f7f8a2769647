// Percent-encoding both ways (RFC 3986 §2.1) and query-string splitting, for management paths,
// event query parameters and SigV4 canonical requests. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hibiki::apps::gateway {

// What '+' decodes to: itself in a path (AWS SDKs send a connection id's '+' as is or as %2B),
// a space in a query string (HTML form encoding, which API Gateway follows).
enum class PlusMeans : std::uint8_t { plus, space };

// Decodes %XY escapes (either case). Nothing when a '%' is not followed by two hex digits.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view text, PlusMeans plus);

// Encodes every byte except the unreserved A-Z a-z 0-9 '-' '_' '.' '~' as %XY with uppercase hex,
// as SigV4 asks; '/' too is kept when `keep_slash`.
[[nodiscard]] std::string uri_encode(std::string_view text, bool keep_slash);

// "a=1&b=x%20y&a=2&c" → {a,1} {b,x y} {a,2} {c,""}: decoded ('+' is a space), in order, empty
// pieces skipped. A malformed escape is kept as written rather than dropping the parameter.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

}  // namespace hibiki::apps::gateway

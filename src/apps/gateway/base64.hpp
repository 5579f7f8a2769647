// Base64 (RFC 4648 §4 and the URL-safe alphabet of §5) for binary message bodies, Lambda-proxy
// results and AWS-like ids. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hibiki::apps::gateway {

enum class Base64Alphabet : std::uint8_t {
  standard,  // A-Z a-z 0-9 + /
  url,       // A-Z a-z 0-9 - _  (what API Gateway's connection and request ids use)
};

// Always padded with '=' to a multiple of 4 characters.
[[nodiscard]] std::string base64_encode(std::string_view bytes,
                                        Base64Alphabet alphabet = Base64Alphabet::standard);

// Standard alphabet; the '=' padding may be left out. Nothing when a character is outside the
// alphabet, padding sits anywhere but the end, or the length cannot be base64.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

}  // namespace hibiki::apps::gateway

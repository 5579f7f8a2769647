// An integration's URL split for an HTTP client: only http:// and https://, a host, an optional
// port, and the request target. No I/O, no name resolution.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hibiki::apps::gateway {

struct IntegrationUrl {
  bool tls = false;         // https
  std::string host;         // name or address; an IPv6 literal without its brackets
  std::uint16_t port = 80;  // from the URL, else 80 (http) or 443 (https)
  std::string target;       // path and query as written, "/" when the URL has none
  std::string host_header;  // the Host header to send: host, bracketed if IPv6, ":port" if given
};

// Nothing, with `error` saying why, for other schemes, a missing host, user info ("user@"),
// a fragment, whitespace or control characters, or a port outside 1-65535.
[[nodiscard]] std::optional<IntegrationUrl> parse_integration_url(std::string_view url,
                                                                  std::string& error);

}  // namespace hibiki::apps::gateway

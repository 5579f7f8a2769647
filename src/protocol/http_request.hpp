// Bounded HTTP/1.1 request-head parser (RFC 9112 §2-§5). No I/O, no allocation: the request
// line and headers are views into the caller's buffer and the header array is caller-owned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace hibiki::protocol {

struct HttpHeader {
  std::string_view name;
  std::string_view value;  // leading and trailing spaces/tabs removed
};

struct HttpLimits {
  std::size_t max_head_bytes = 8192;  // request line + headers + the blank line
  std::size_t max_headers = 64;
};

enum class HttpError : std::uint8_t {
  none,
  bad_request_line,  // 400
  bad_version,       // 505: not HTTP/1.x
  bad_header,        // 400: no colon, empty or invalid name, control chars, obs-fold
  head_too_large,    // 431
  too_many_headers,  // 431
};

// The HTTP status a parse error is answered with (400, 431 or 505).
int http_status_for(HttpError error);
const char* to_string(HttpError error);

struct HttpRequest {
  std::string_view method;
  std::string_view target;  // as sent: path plus optional "?query"
  std::string_view path;    // target up to '?'
  std::string_view query;   // after '?', without it; empty if none
  int version_minor = 1;    // HTTP/1.<minor>
  std::span<const HttpHeader> headers;

  // First header with this name, compared case-insensitively.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
  // How many headers carry this name (duplicates matter for some checks).
  [[nodiscard]] std::size_t header_count(std::string_view name) const;
};

enum class HttpParseStatus : std::uint8_t { need_more, complete, error };

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::need_more;
  HttpError error = HttpError::none;
  std::size_t head_bytes = 0;  // when complete: bytes of the head, including the blank line
};

// Parses the request head at the start of `buffer` (everything received so far on the
// connection). Views in `out` point into `buffer`; `header_storage` bounds the header count
// (its size should be limits.max_headers). `scanned` is how many bytes of `buffer` an earlier
// call already saw without finding the end of the head, so resuming does not rescan them.
[[nodiscard]] HttpParseResult parse_http_request(std::string_view buffer, HttpRequest& out,
                                                 std::span<HttpHeader> header_storage,
                                                 const HttpLimits& limits = {},
                                                 std::size_t scanned = 0);

// ASCII case-insensitive equality.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b);

// True when the comma-separated list `value` contains `token`, case-insensitively, ignoring
// surrounding whitespace and any ";params" after an element ("Upgrade: websocket, foo").
[[nodiscard]] bool has_token(std::string_view value, std::string_view token);

// Calls fn(std::string_view element) for each non-empty, trimmed element of a comma list.
template <typename Fn>
void for_each_list_element(std::string_view value, Fn&& fn) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view element = value.substr(0, comma);
    while (!element.empty() && (element.front() == ' ' || element.front() == '\t'))
      element.remove_prefix(1);
    while (!element.empty() && (element.back() == ' ' || element.back() == '\t'))
      element.remove_suffix(1);
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace hibiki::protocol

// RFC 6455 §4.2 opening handshake, server side: request checks, the accept key (SHA-1 via
// OpenSSL), and the response heads. No I/O.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/http_request.hpp"

namespace hibiki::protocol {

enum class HandshakeError : std::uint8_t {
  none,
  not_get,              // 405 with Allow: GET (§4.2.1 item 1)
  bad_http_version,     // 400: older than HTTP/1.1
  missing_host,         // 400 (§4.2.1 item 2)
  missing_upgrade,      // 400: Upgrade lacks "websocket" (item 3)
  missing_connection,   // 400: Connection lacks the "upgrade" token (item 4)
  bad_key,              // 400: Sec-WebSocket-Key absent, repeated or not 16 bytes in base64
  unsupported_version,  // 426 with Sec-WebSocket-Version: 13 (item 6, §4.4)
  origin_not_allowed,   // 403 (§4.2.2 item 4)
};

int http_status_for(HandshakeError error);
const char* to_string(HandshakeError error);

struct HandshakeOptions {
  // Exact Origin values accepted (scheme://host[:port], compared case-insensitively).
  // Empty: every origin, and requests without Origin, are accepted.
  std::span<const std::string> allowed_origins;
};

struct UpgradeRequest {
  std::string_view key;        // Sec-WebSocket-Key, trimmed
  std::string_view origin;     // empty if absent
  std::string_view protocols;  // raw Sec-WebSocket-Protocol list (all headers' first), may be empty
  std::string_view extensions;  // raw Sec-WebSocket-Extensions, may be empty
};

struct HandshakeCheck {
  HandshakeError error = HandshakeError::none;
  UpgradeRequest upgrade;  // filled when error == none; views into the request's buffer
};

// True when the request asks for a WebSocket upgrade at all (Upgrade header mentions
// websocket); such requests go through check_upgrade, others are plain HTTP.
[[nodiscard]] bool wants_websocket(const HttpRequest& request);

// Applies RFC 6455 §4.2.1 to a parsed request.
[[nodiscard]] HandshakeCheck check_upgrade(const HttpRequest& request,
                                           const HandshakeOptions& options = {});

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")): always 28 characters.
using AcceptKey = std::array<char, 28>;
[[nodiscard]] AcceptKey compute_accept_key(std::string_view key);

// Each element of the client's Sec-WebSocket-Protocol list, in order (for a selection hook).
[[nodiscard]] std::vector<std::string_view> split_protocols(std::string_view header_value);

// "HTTP/1.1 101 Switching Protocols" head with Upgrade, Connection, Sec-WebSocket-Accept,
// the chosen subprotocol (if not empty) and any extra raw header lines ("Name: value\r\n").
[[nodiscard]] std::string build_upgrade_response(std::string_view key,
                                                 std::string_view protocol = {},
                                                 std::string_view extra_headers = {});

// A complete HTTP/1.1 error response with a short text/plain body and "Connection: close";
// for 426 it carries "Sec-WebSocket-Version: 13", for 405 "Allow: GET".
[[nodiscard]] std::string build_error_response(int status, std::string_view body = {});

// Reason phrase for the statuses hibiki sends ("Bad Request").
[[nodiscard]] std::string_view reason_phrase(int status);

}  // namespace hibiki::protocol

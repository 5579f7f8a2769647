// RFC 6455 §7.4 close status codes and close-frame payload parsing/building. No I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace hibiki::protocol {

enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  no_status = 1005,  // never on the wire: "the close frame had no payload"
  abnormal = 1006,   // never on the wire: "the TCP connection dropped without a close frame"
  invalid_payload = 1007,
  policy_violation = 1008,
  message_too_big = 1009,
  mandatory_extension = 1010,
  internal_error = 1011,
  service_restart = 1012,
  try_again_later = 1013,
  bad_gateway = 1014,
};

// A code a peer may put in a close frame: 1000-1003, 1007-1014 and 3000-4999 (RFC 6455 §7.4.1,
// IANA registry). 1004, 1005, 1006, 1015, 0-999, 1016-2999 and >= 5000 are not.
bool is_valid_wire_close_code(std::uint16_t code);

// RFC 6455 §5.5: control frame payloads are at most 125 bytes; 2 go to the code.
inline constexpr std::size_t kMaxControlPayload = 125;
inline constexpr std::size_t kMaxCloseReason = kMaxControlPayload - 2;

enum class ClosePayloadError : std::uint8_t {
  none,
  one_byte_payload,     // 1002: a code needs two bytes
  invalid_code,         // 1002
  invalid_utf8_reason,  // 1007
  too_long,             // 1002: over 125 bytes (the parser rejects this earlier)
};

struct ParsedClose {
  ClosePayloadError error = ClosePayloadError::none;
  // CloseCode::no_status when the payload was empty.
  std::uint16_t code = static_cast<std::uint16_t>(CloseCode::no_status);
  // View into the payload passed to parse_close_payload; valid as long as that payload.
  std::string_view reason;
};

// Parses and validates the payload of a received close frame.
[[nodiscard]] ParsedClose parse_close_payload(std::span<const std::byte> payload);

// The close code a failed ParsedClose must be answered with (1002 or 1007).
CloseCode close_code_for(ClosePayloadError error);

// A close-frame payload: 2-byte big-endian code then the reason, truncated to
// kMaxCloseReason bytes on a UTF-8 boundary. An empty payload when code is no_status.
struct ClosePayload {
  std::array<std::byte, kMaxControlPayload> bytes{};
  std::size_t size = 0;
  std::span<const std::byte> view() const { return {bytes.data(), size}; }
};
ClosePayload make_close_payload(std::uint16_t code, std::string_view reason = {});

}  // namespace hibiki::protocol

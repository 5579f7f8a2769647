// Close status code validation and close-frame payload parsing/building (RFC 6455 §5.5.1, §7.4).
#include "protocol/close_code.hpp"

#include <cstring>

#include "protocol/utf8_validator.hpp"

namespace hibiki::protocol {

bool is_valid_wire_close_code(std::uint16_t code) {
  // §7.4.1 defines 1000-1011 minus 1004 (reserved), 1005 and 1006 (never sent); the IANA
  // registry (§11.7) adds 1012-1014. 1015 (TLS failure) is also never sent. 3000-3999 are
  // registered for libraries and 4000-4999 are private use (§7.4.2). Everything else is
  // unassigned or reserved and must be treated as a protocol error.
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

ParsedClose parse_close_payload(std::span<const std::byte> payload) {
  ParsedClose parsed;
  // §5.5.1: the body is optional; without one the status is "no status received" (1005).
  if (payload.empty()) return parsed;
  if (payload.size() > kMaxControlPayload) {
    parsed.error = ClosePayloadError::too_long;
    return parsed;
  }
  // §5.5.1: if there is a body, its first two bytes are the code.
  if (payload.size() == 1) {
    parsed.error = ClosePayloadError::one_byte_payload;
    return parsed;
  }
  parsed.code = static_cast<std::uint16_t>((std::to_integer<unsigned>(payload[0]) << 8) |
                                           std::to_integer<unsigned>(payload[1]));
  if (!is_valid_wire_close_code(parsed.code)) {
    parsed.error = ClosePayloadError::invalid_code;
    return parsed;
  }
  // §5.5.1: the reason is UTF-8; §8.1 makes invalid UTF-8 a 1007 failure.
  auto reason = payload.subspan(2);
  if (!is_valid_utf8(reason)) {
    parsed.error = ClosePayloadError::invalid_utf8_reason;
    return parsed;
  }
  parsed.reason = std::string_view(reinterpret_cast<const char*>(reason.data()), reason.size());
  return parsed;
}

CloseCode close_code_for(ClosePayloadError error) {
  return error == ClosePayloadError::invalid_utf8_reason ? CloseCode::invalid_payload
                                                         : CloseCode::protocol_error;
}

ClosePayload make_close_payload(std::uint16_t code, std::string_view reason) {
  ClosePayload out;
  // 1005 means "no code": it is expressed by an empty close body, never sent (§7.4.1).
  if (code == static_cast<std::uint16_t>(CloseCode::no_status)) return out;
  out.bytes[0] = static_cast<std::byte>(code >> 8);
  out.bytes[1] = static_cast<std::byte>(code & 0xFF);
  std::size_t n = reason.size();
  if (n > kMaxCloseReason) {
    // Cut before the code point that straddles the limit: step back while the first byte
    // left out is a continuation byte, so the reason stays valid UTF-8.
    n = kMaxCloseReason;
    while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80)
      --n;
  }
  if (n != 0) std::memcpy(out.bytes.data() + 2, reason.data(), n);
  out.size = 2 + n;
  return out;
}

}  // namespace hibiki::protocol

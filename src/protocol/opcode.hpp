// RFC 6455 §5.2 opcodes and the classification the parser and writer share.
#pragma once

#include <cstdint>

namespace hibiki::protocol {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Control frames have the high bit of the 4-bit opcode set (RFC 6455 §5.5).
constexpr bool is_control(Opcode op) {
  return (static_cast<std::uint8_t>(op) & 0x8) != 0;
}

// True for the six opcodes RFC 6455 defines; 0x3-0x7 and 0xB-0xF are reserved.
constexpr bool is_known_opcode(std::uint8_t raw) {
  return raw <= 0x2 || (raw >= 0x8 && raw <= 0xA);
}

}  // namespace hibiki::protocol

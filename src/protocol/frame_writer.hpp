// RFC 6455 §5.2 frame encoding: unmasked server frames, masked client frames for tests and tools.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "protocol/masking.hpp"
#include "protocol/opcode.hpp"

namespace hibiki::protocol {

inline constexpr std::size_t kMaxFrameHeaderBytes = 14;  // 2 + 8-byte length + 4-byte mask

struct FrameHeader {
  std::array<std::byte, kMaxFrameHeaderBytes> bytes{};
  std::uint8_t size = 0;
  std::span<const std::byte> view() const { return {bytes.data(), size}; }
};

struct FrameFlags {
  bool fin = true;
  bool rsv1 = false;  // permessage-deflate: first frame of a compressed message
};

// Header bytes of a frame with the given payload size, using the shortest length encoding.
// With a mask the 4 key bytes follow the length (the payload must then be masked separately).
FrameHeader encode_frame_header(Opcode opcode, std::uint64_t payload_size, FrameFlags flags = {},
                                const MaskKey* mask = nullptr);

// Total size of an encoded frame (header + payload).
std::size_t frame_size(std::uint64_t payload_size, bool masked = false);

// Appends one complete unmasked frame (what a server sends).
void append_frame(std::string& out, Opcode opcode, std::span<const std::byte> payload,
                  FrameFlags flags = {});
void append_frame(std::string& out, Opcode opcode, std::string_view payload, FrameFlags flags = {});

// Appends one complete frame masked with `key` (what a client sends).
void append_masked_frame(std::string& out, Opcode opcode, std::span<const std::byte> payload,
                         const MaskKey& key, FrameFlags flags = {});
void append_masked_frame(std::string& out, Opcode opcode, std::string_view payload,
                         const MaskKey& key, FrameFlags flags = {});

}  // namespace hibiki::protocol

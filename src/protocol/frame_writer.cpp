// RFC 6455 §5.2 frame encoding with the shortest payload length form, masked or not.
#include "protocol/frame_writer.hpp"

namespace hibiki::protocol {
namespace {

constexpr std::uint8_t kFinBit = 0x80;
constexpr std::uint8_t kRsv1Bit = 0x40;
constexpr std::uint8_t kMaskBit = 0x80;
constexpr std::uint8_t kLength16 = 126;
constexpr std::uint8_t kLength64 = 127;
constexpr std::uint64_t kMax7BitLength = 125;
constexpr std::uint64_t kMax16BitLength = 0xFFFF;

std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

void append_bytes(std::string& out, std::span<const std::byte> bytes) {
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

FrameHeader encode_frame_header(Opcode opcode, std::uint64_t payload_size, FrameFlags flags,
                                const MaskKey* mask) {
  FrameHeader header;
  std::uint8_t b0 = static_cast<std::uint8_t>(opcode) & 0x0F;
  if (flags.fin) b0 |= kFinBit;
  if (flags.rsv1) b0 |= kRsv1Bit;
  const std::uint8_t mask_bit = mask != nullptr ? kMaskBit : 0;
  header.bytes[0] = static_cast<std::byte>(b0);

  // §5.2: 0-125 in the 7-bit field, up to 65535 as 126 + 16 bits, else 127 + 64 bits, all
  // in network byte order.
  std::uint8_t size = 2;
  if (payload_size <= kMax7BitLength) {
    header.bytes[1] = static_cast<std::byte>(mask_bit | payload_size);
  } else if (payload_size <= kMax16BitLength) {
    header.bytes[1] = static_cast<std::byte>(mask_bit | kLength16);
    header.bytes[2] = static_cast<std::byte>(payload_size >> 8);
    header.bytes[3] = static_cast<std::byte>(payload_size & 0xFF);
    size = 4;
  } else {
    header.bytes[1] = static_cast<std::byte>(mask_bit | kLength64);
    for (int i = 0; i < 8; ++i) {
      header.bytes[2 + i] = static_cast<std::byte>((payload_size >> (56 - 8 * i)) & 0xFF);
    }
    size = 10;
  }
  if (mask != nullptr) {
    for (std::size_t i = 0; i < 4; ++i)
      header.bytes[size + i] = (*mask)[i];
    size += 4;
  }
  header.size = size;
  return header;
}

std::size_t frame_size(std::uint64_t payload_size, bool masked) {
  std::size_t header = 2;
  if (payload_size > kMax16BitLength) {
    header += 8;
  } else if (payload_size > kMax7BitLength) {
    header += 2;
  }
  if (masked) header += 4;
  return header + static_cast<std::size_t>(payload_size);
}

void append_frame(std::string& out, Opcode opcode, std::span<const std::byte> payload,
                  FrameFlags flags) {
  FrameHeader header = encode_frame_header(opcode, payload.size(), flags);
  out.reserve(out.size() + header.size + payload.size());
  append_bytes(out, header.view());
  append_bytes(out, payload);
}

void append_frame(std::string& out, Opcode opcode, std::string_view payload, FrameFlags flags) {
  append_frame(out, opcode, as_bytes(payload), flags);
}

void append_masked_frame(std::string& out, Opcode opcode, std::span<const std::byte> payload,
                         const MaskKey& key, FrameFlags flags) {
  FrameHeader header = encode_frame_header(opcode, payload.size(), flags, &key);
  out.reserve(out.size() + header.size + payload.size());
  append_bytes(out, header.view());
  const std::size_t start = out.size();
  append_bytes(out, payload);
  apply_mask(std::span<std::byte>(reinterpret_cast<std::byte*>(out.data()) + start, payload.size()),
             key);
}

void append_masked_frame(std::string& out, Opcode opcode, std::string_view payload,
                         const MaskKey& key, FrameFlags flags) {
  append_masked_frame(out, opcode, as_bytes(payload), key, flags);
}

}  // namespace hibiki::protocol

// RFC 6455 §5.3 masking: XOR with a 4-byte key, a machine word at a time. No allocation.
#pragma once

#include <array>
#include <cstddef>
#include <span>

namespace hibiki::protocol {

using MaskKey = std::array<std::byte, 4>;

// XORs `data` in place with `key`, starting at key byte `key_offset % 4` (so a payload
// unmasked in several chunks continues where the previous chunk stopped).
void apply_mask(std::span<std::byte> data, const MaskKey& key, std::size_t key_offset = 0);

}  // namespace hibiki::protocol

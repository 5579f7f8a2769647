// RFC 6455 §5.3 payload masking: XOR with the rotating 4-byte key, eight bytes at a time.
#include "protocol/masking.hpp"

#include <cstdint>
#include <cstring>

namespace hibiki::protocol {

void apply_mask(std::span<std::byte> data, const MaskKey& key, std::size_t key_offset) {
  std::byte* p = data.data();
  std::size_t n = data.size();
  if (n == 0) return;
  // §5.3: octet i of the payload is XORed with key[i % 4]; `key_offset` says where in the key
  // this chunk starts, so rotate the key once and index it from zero below.
  std::array<std::byte, 4> k{};
  for (std::size_t i = 0; i < 4; ++i)
    k[i] = key[(key_offset + i) & 3];

  // Unaligned head: byte by byte until `p` is 8-aligned, rotating the key as we go.
  std::size_t head = (8 - (reinterpret_cast<std::uintptr_t>(p) & 7)) & 7;
  if (head > n) head = n;
  for (std::size_t i = 0; i < head; ++i)
    p[i] ^= k[i & 3];
  p += head;
  n -= head;
  if (head != 0) {
    std::array<std::byte, 4> rotated{};
    for (std::size_t i = 0; i < 4; ++i)
      rotated[i] = k[(head + i) & 3];
    k = rotated;
  }

  // Body: the key repeated twice forms an 8-byte word in memory order, so the XOR is
  // endian-independent. memcpy keeps the loads and stores free of aliasing problems.
  std::byte pattern[8];
  std::memcpy(pattern, k.data(), 4);
  std::memcpy(pattern + 4, k.data(), 4);
  std::uint64_t key_word;
  std::memcpy(&key_word, pattern, sizeof(key_word));
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    word ^= key_word;
    std::memcpy(p, &word, sizeof(word));
    p += 8;
    n -= 8;
  }

  // Tail: a multiple of 8 bytes was consumed, so the key phase is unchanged.
  for (std::size_t i = 0; i < n; ++i)
    p[i] ^= k[i & 3];
}

}  // namespace hibiki::protocol

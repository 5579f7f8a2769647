// Tests for word-at-a-time masking against a byte-by-byte reference (RFC 6455 §5.3).
#include "protocol/masking.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace hibiki::protocol {
namespace {

using Bytes = std::vector<std::byte>;

constexpr MaskKey kTalkKey = {std::byte{0x37}, std::byte{0xFA}, std::byte{0x21}, std::byte{0x3D}};

void reference_mask(std::span<std::byte> data, const MaskKey& key, std::size_t offset) {
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] ^= key[(offset + i) % 4];
}

Bytes random_bytes(std::size_t n, std::mt19937& rng) {
  Bytes out(n);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : out)
    b = static_cast<std::byte>(byte(rng));
  return out;
}

TEST(Masking, unmasks_the_talk_vector_to_hello) {
  Bytes data = {std::byte{0x7F}, std::byte{0x9F}, std::byte{0x4D}, std::byte{0x51},
                std::byte{0x58}};
  apply_mask(data, kTalkKey);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(data.data()), data.size()), "Hello");
}

TEST(Masking, empty_span_is_a_no_op) {
  apply_mask({}, kTalkKey, 3);
  Bytes empty;
  apply_mask(empty, kTalkKey);
  EXPECT_TRUE(empty.empty());
}

TEST(Masking, matches_reference_for_every_length_offset_and_alignment) {
  std::mt19937 rng(42);
  const MaskKey key = {std::byte{0xA1}, std::byte{0x02}, std::byte{0xF3}, std::byte{0x5C}};
  const Bytes storage = random_bytes(140, rng);
  for (std::size_t length = 0; length <= 100; ++length) {
    for (std::size_t offset = 0; offset < 8; ++offset) {  // 4..7 check the "% 4"
      for (std::size_t start = 0; start < 8; ++start) {   // misaligned starting addresses
        Bytes expected = storage;
        Bytes actual = storage;
        reference_mask(std::span(expected).subspan(start, length), key, offset);
        apply_mask(std::span(actual).subspan(start, length), key, offset);
        ASSERT_EQ(actual, expected)
            << "length " << length << " offset " << offset << " start " << start;
      }
    }
  }
}

TEST(Masking, matches_reference_for_large_sizes) {
  std::mt19937 rng(7);
  const MaskKey key = {std::byte{0x01}, std::byte{0x80}, std::byte{0xFF}, std::byte{0x3C}};
  for (std::size_t length : {4096u, 65535u, 65536u, 1000003u}) {
    const Bytes original = random_bytes(length + 1, rng);
    for (std::size_t offset = 0; offset < 4; ++offset) {
      Bytes expected = original;
      Bytes actual = original;
      reference_mask(std::span(expected).subspan(1), key, offset);
      apply_mask(std::span(actual).subspan(1), key, offset);
      ASSERT_EQ(actual, expected) << length << " " << offset;
    }
  }
}

TEST(Masking, chunked_masking_with_rotating_offset_equals_one_pass) {
  std::mt19937 rng(99);
  const Bytes original = random_bytes(1000, rng);
  Bytes one_pass = original;
  apply_mask(one_pass, kTalkKey);
  for (std::size_t chunk : {1u, 2u, 3u, 5u, 7u, 13u, 64u, 333u}) {
    Bytes chunked = original;
    for (std::size_t off = 0; off < chunked.size(); off += chunk) {
      const std::size_t n = std::min(chunk, chunked.size() - off);
      apply_mask(std::span(chunked).subspan(off, n), kTalkKey, off);
    }
    EXPECT_EQ(chunked, one_pass) << chunk;
  }
}

TEST(Masking, masking_twice_restores_the_data) {
  std::mt19937 rng(5);
  const Bytes original = random_bytes(257, rng);
  Bytes data = original;
  apply_mask(data, kTalkKey, 2);
  EXPECT_NE(data, original);
  apply_mask(data, kTalkKey, 2);
  EXPECT_EQ(data, original);
}

}  // namespace
}  // namespace hibiki::protocol

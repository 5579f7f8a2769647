// Tests for RFC 7692 permessage-deflate: §7.2.3 byte vectors at every split, round trips over
// every window size, the inflate cap against a zip bomb, memory, and every negotiation rule.
#include "protocol/permessage_deflate.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace hibiki::protocol {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Status = Inflater::Status;

constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();

std::span<const std::byte> as_span(const Bytes& b) {
  return {reinterpret_cast<const std::byte*>(b.data()), b.size()};
}
std::span<const std::byte> as_span(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// "f2 48 cd" -> {0xf2, 0x48, 0xcd}
Bytes hex(std::string_view text) {
  Bytes out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(
        static_cast<std::uint8_t>(std::stoul(std::string(text.substr(i, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

Bytes to_bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

Bytes slice(const Bytes& b, std::size_t from, std::size_t to) {
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(from),
               b.begin() + static_cast<std::ptrdiff_t>(to));
}

struct Inflated {
  Status status = Status::ok;
  std::string text;
};

// Feeds each fragment of one message, then finishes it.
Inflated inflate_message(Inflater& inflater, const std::vector<Bytes>& fragments,
                         std::size_t max_bytes = kNoLimit) {
  Inflated result;
  for (const Bytes& fragment : fragments) {
    result.status = inflater.feed(as_span(fragment), result.text, max_bytes);
    if (result.status != Status::ok) return result;
  }
  result.status = inflater.finish(result.text, max_bytes);
  return result;
}

// Feeds a whole compressed message in chunks of `chunk` bytes.
Inflated inflate_chunked(Inflater& inflater, std::string_view compressed, std::size_t chunk,
                         std::size_t max_bytes = kNoLimit) {
  std::vector<Bytes> fragments;
  for (std::size_t i = 0; i < compressed.size(); i += chunk) {
    fragments.push_back(to_bytes(compressed.substr(i, chunk)));
  }
  return inflate_message(inflater, fragments, max_bytes);
}

std::string compress(Deflater& deflater, std::string_view message) {
  std::string out;
  EXPECT_TRUE(deflater.compress(message, out));
  return out;
}

std::string random_bytes(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (char& c : s)
    c = static_cast<char>(rng() & 0xFF);
  return s;
}

// Text-like data: words from a small vocabulary, so matches at every distance.
std::string repetitive_text(std::size_t size, std::uint32_t seed) {
  static constexpr std::array<std::string_view, 8> kWords = {
      "hibiki ",           "websocket ", "deflate ",   "window ", "{\"type\":\"chat\",",
      "\"text\":\"hi\"} ", "echo ",      "0123456789 "};
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(size + 16);
  while (s.size() < size)
    s.append(kWords[rng() % kWords.size()]);
  s.resize(size);
  return s;
}

// Restores the allocation failure seam when a test ends.
struct FailAllocationsAfter {
  explicit FailAllocationsAfter(int successes) {
    detail::zlib_allocations_before_failure = successes;
  }
  ~FailAllocationsAfter() { detail::zlib_allocations_before_failure = -1; }
  FailAllocationsAfter(const FailAllocationsAfter&) = delete;
  FailAllocationsAfter& operator=(const FailAllocationsAfter&) = delete;
};

// RFC 7692 §7.2.3 payloads.
const Bytes kHello = hex("f2 48 cd c9 c9 07 00");                             // §7.2.3.1
const Bytes kHelloAgain = hex("f2 00 11 00 00");                              // §7.2.3.2
const Bytes kHelloStored = hex("00 05 00 fa ff 48 65 6c 6c 6f 00");           // §7.2.3.3
const Bytes kHelloFinal = hex("f3 48 cd c9 c9 07 00 00");                     // §7.2.3.4
const Bytes kHelloTwoBlocks = hex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00");  // §7.2.3.5

// ---------------------------------------------------------------------------------------------
// Inflater: RFC 7692 §7.2.3 vectors

TEST(Inflater, inflates_rfc_hello) {
  Inflater inflater;
  const Inflated r = inflate_message(inflater, {kHello});
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.text, "Hello");
}

TEST(Inflater, inflates_the_second_hello_from_the_shared_window) {
  Inflater inflater;
  EXPECT_EQ(inflate_message(inflater, {kHello}).text, "Hello");
  const Inflated second = inflate_message(inflater, {kHelloAgain});
  EXPECT_EQ(second.status, Status::ok);
  EXPECT_EQ(second.text, "Hello");
}

TEST(Inflater, forgets_the_window_without_context_takeover) {
  Inflater inflater(15, /*no_context_takeover=*/true);
  EXPECT_EQ(inflate_message(inflater, {kHello}).text, "Hello");
  // f2 00 11 00 00 copies 5 bytes from 5 back: nothing is there after the reset.
  EXPECT_EQ(inflate_message(inflater, {kHelloAgain}).status, Status::corrupt);
}

TEST(Inflater, inflates_the_uncompressed_block_form) {
  Inflater inflater;
  const Inflated r = inflate_message(inflater, {kHelloStored});
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.text, "Hello");
}

TEST(Inflater, inflates_hello_sent_as_two_fragments) {
  Inflater inflater;
  const Inflated r = inflate_message(inflater, {hex("f2 48 cd"), hex("c9 c9 07 00")});
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.text, "Hello");
}

TEST(Inflater, inflates_a_bfinal_block_with_and_without_the_trailing_empty_block) {
  Inflater with_block;
  EXPECT_EQ(inflate_message(with_block, {kHelloFinal}).text, "Hello");
  // Z_FINISH output sent as is: the stream ends before the tail, which is then not appended.
  Inflater bare;
  const Inflated r = inflate_message(bare, {hex("f3 48 cd c9 c9 07 00")});
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.text, "Hello");
}

TEST(Inflater, keeps_the_window_across_a_bfinal_block) {
  Inflater inflater;
  EXPECT_EQ(inflate_message(inflater, {kHelloFinal}).text, "Hello");
  EXPECT_EQ(inflate_message(inflater, {kHelloAgain}).text, "Hello");
  EXPECT_EQ(inflate_message(inflater, {kHello}).text, "Hello");
}

TEST(Inflater, inflates_two_deflate_blocks_in_one_message) {
  Inflater inflater;
  const Inflated r = inflate_message(inflater, {kHelloTwoBlocks});
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.text, "Hello");
}

TEST(Inflater, inflates_a_flushed_fragment_followed_by_an_empty_00_fragment) {
  // §7.2.3.6: the sender flushed the first fragment in full, then ends the message with 00.
  Inflater inflater;
  const Inflated r =
      inflate_message(inflater, {hex("f2 48 cd c9 c9 07 00 00 00 ff ff"), hex("00")});
  EXPECT_EQ(r.status, Status::ok);
  EXPECT_EQ(r.text, "Hello");
}

TEST(Inflater, single_00_and_empty_payload_are_empty_messages_that_keep_the_window) {
  Inflater inflater;
  EXPECT_EQ(inflate_message(inflater, {kHello}).text, "Hello");
  const Inflated zero = inflate_message(inflater, {hex("00")});
  EXPECT_EQ(zero.status, Status::ok);
  EXPECT_EQ(zero.text, "");
  const Inflated empty = inflate_message(inflater, {});
  EXPECT_EQ(empty.status, Status::ok);
  EXPECT_EQ(empty.text, "");
  EXPECT_EQ(inflate_message(inflater, {kHelloAgain}).text, "Hello");
}

TEST(Inflater, every_split_point_of_each_rfc_vector_gives_hello) {
  for (const Bytes& vector : {kHello, kHelloStored, kHelloFinal, kHelloTwoBlocks}) {
    for (std::size_t i = 0; i <= vector.size(); ++i) {
      for (std::size_t j = i; j <= vector.size(); ++j) {
        Inflater inflater;
        const Inflated r = inflate_message(
            inflater, {slice(vector, 0, i), slice(vector, i, j), slice(vector, j, vector.size())});
        EXPECT_EQ(r.status, Status::ok) << "split at " << i << "," << j;
        EXPECT_EQ(r.text, "Hello") << "split at " << i << "," << j;
      }
    }
  }
}

TEST(Inflater, every_split_point_of_the_shared_window_message_gives_hello) {
  for (std::size_t i = 0; i <= kHelloAgain.size(); ++i) {
    Inflater inflater;
    ASSERT_EQ(inflate_message(inflater, {kHello}).text, "Hello");
    const Inflated r = inflate_message(
        inflater, {slice(kHelloAgain, 0, i), slice(kHelloAgain, i, kHelloAgain.size())});
    EXPECT_EQ(r.status, Status::ok) << "split at " << i;
    EXPECT_EQ(r.text, "Hello") << "split at " << i;
  }
}

TEST(Inflater, every_split_point_of_a_longer_message_gives_the_same_output) {
  const std::string message = repetitive_text(3000, 1) + random_bytes(500, 2);
  Deflater deflater;
  const Bytes compressed = to_bytes(compress(deflater, message));
  for (std::size_t i = 0; i <= compressed.size(); ++i) {
    Inflater inflater;
    const Inflated r = inflate_message(
        inflater, {slice(compressed, 0, i), slice(compressed, i, compressed.size())});
    ASSERT_EQ(r.status, Status::ok) << "split at " << i;
    ASSERT_EQ(r.text, message) << "split at " << i;
  }
}

TEST(Inflater, byte_at_a_time_gives_the_same_output) {
  const std::string message = repetitive_text(20000, 3);
  Deflater deflater;
  Inflater inflater;
  for (int round = 0; round < 2; ++round) {
    const Inflated r = inflate_chunked(inflater, compress(deflater, message), 1);
    ASSERT_EQ(r.status, Status::ok);
    ASSERT_EQ(r.text, message);
  }
}

TEST(Inflater, appends_to_what_the_output_already_holds) {
  Inflater inflater;
  std::string out = "prefix:";
  ASSERT_EQ(inflater.feed(as_span(kHello), out, kNoLimit), Status::ok);
  ASSERT_EQ(inflater.finish(out, kNoLimit), Status::ok);
  EXPECT_EQ(out, "prefix:Hello");
}

// ---------------------------------------------------------------------------------------------
// Inflater: errors

TEST(Inflater, reserved_block_type_is_corrupt) {
  Inflater inflater;
  std::string out;
  // 06: BFINAL 0, BTYPE 11 (reserved, RFC 1951 §3.2.3).
  EXPECT_EQ(inflater.feed(as_span(hex("06 00")), out, kNoLimit), Status::corrupt);
}

TEST(Inflater, stored_block_with_wrong_nlen_is_corrupt) {
  Inflater inflater;
  std::string out;
  EXPECT_EQ(inflater.feed(as_span(hex("00 05 00 00 00 48 65 6c 6c 6f")), out, kNoLimit),
            Status::corrupt);
}

TEST(Inflater, distance_before_the_start_of_the_stream_is_corrupt) {
  Inflater inflater;
  EXPECT_EQ(inflate_message(inflater, {kHelloAgain}).status, Status::corrupt);
}

TEST(Inflater, message_cut_inside_a_block_is_corrupt_at_finish) {
  for (std::size_t cut = 1; cut < kHello.size(); ++cut) {
    Inflater inflater;
    const Inflated r = inflate_message(inflater, {slice(kHello, 0, cut)});
    EXPECT_EQ(r.status, Status::corrupt) << "cut at " << cut;
  }
  Inflater stored;
  EXPECT_EQ(inflate_message(stored, {slice(kHelloStored, 0, 7)}).status, Status::corrupt);
}

TEST(Inflater, random_garbage_never_crashes_and_is_mostly_corrupt) {
  int corrupt = 0;
  for (std::uint32_t seed = 0; seed < 200; ++seed) {
    Inflater inflater;
    const Bytes garbage = to_bytes(random_bytes(64, seed));
    const Inflated r = inflate_message(inflater, {garbage}, 1 << 16);
    if (r.status == Status::corrupt) ++corrupt;
    EXPECT_NE(r.status, Status::no_memory);
  }
  EXPECT_GT(corrupt, 150);
}

TEST(Inflater, errors_are_sticky_until_reset) {
  Inflater inflater;
  std::string out;
  ASSERT_EQ(inflater.feed(as_span(hex("06")), out, kNoLimit), Status::corrupt);
  EXPECT_EQ(inflater.feed(as_span(kHello), out, kNoLimit), Status::corrupt);
  EXPECT_EQ(inflater.finish(out, kNoLimit), Status::corrupt);
  inflater.reset();
  EXPECT_EQ(inflate_message(inflater, {kHello}).text, "Hello");
}

TEST(Inflater, statuses_map_to_close_codes) {
  EXPECT_EQ(close_code_for(Status::too_big), CloseCode::message_too_big);
  EXPECT_EQ(close_code_for(Status::corrupt), CloseCode::invalid_payload);
  EXPECT_EQ(close_code_for(Status::no_memory), CloseCode::internal_error);
  EXPECT_STREQ(to_string(Status::too_big), "too_big");
  EXPECT_STREQ(to_string(Status::corrupt), "corrupt");
}

// ---------------------------------------------------------------------------------------------
// Inflater: the size cap

TEST(Inflater, zip_bomb_stops_at_the_cap_without_growing_past_it) {
  constexpr std::size_t kBomb = 10u << 20;
  constexpr std::size_t kCap = 1u << 20;
  constexpr std::size_t kChunk = 4096;
  Deflater deflater;
  const std::string compressed = compress(deflater, std::string(kBomb, '\0'));
  ASSERT_LT(compressed.size(), 16u * 1024);

  Inflater inflater;
  std::string out;
  Status status = Status::ok;
  std::size_t fed = 0;
  std::size_t max_capacity = 0;
  while (status == Status::ok && fed < compressed.size()) {
    const std::size_t n = std::min(kChunk, compressed.size() - fed);
    status = inflater.feed(as_span(std::string_view(compressed).substr(fed, n)), out, kCap);
    fed += n;
    max_capacity = std::max(max_capacity, out.capacity());
  }
  EXPECT_EQ(status, Status::too_big);
  EXPECT_LT(fed, compressed.size());  // stopped early, not after inflating everything
  EXPECT_LE(out.size(), kCap);
  // The cap plus the one byte that proves the overflow, and nothing else.
  EXPECT_LE(max_capacity, kCap + 1 + 32);
  EXPECT_EQ(inflater.finish(out, kCap), Status::too_big);
  EXPECT_LE(out.capacity(), kCap + 1 + 32);
}

TEST(Inflater, message_exactly_at_the_cap_passes_and_one_byte_over_fails) {
  const std::string message = repetitive_text(1000, 4);
  Deflater deflater(15, /*no_context_takeover=*/true);
  const std::string compressed = compress(deflater, message);
  Inflater exact;
  const Inflated ok = inflate_chunked(exact, compressed, 7, message.size());
  EXPECT_EQ(ok.status, Status::ok);
  EXPECT_EQ(ok.text, message);
  Inflater under;
  const Inflated too_big = inflate_chunked(under, compressed, 7, message.size() - 1);
  EXPECT_EQ(too_big.status, Status::too_big);
  EXPECT_EQ(too_big.text, message.substr(0, message.size() - 1));
}

TEST(Inflater, cap_counts_the_whole_message_not_each_fragment) {
  const std::string message = repetitive_text(10000, 5);
  Deflater deflater;
  const std::string compressed = compress(deflater, message);
  Inflater inflater;
  // Each 100-byte fragment inflates to far less than 5000, the message to 10000.
  EXPECT_EQ(inflate_chunked(inflater, compressed, 100, 5000).status, Status::too_big);
  Inflater fresh;
  EXPECT_EQ(inflate_chunked(fresh, compressed, 100, 10000).status, Status::ok);
}

TEST(Inflater, cap_restarts_with_each_message) {
  const std::string message = repetitive_text(800, 6);
  Deflater deflater;
  Inflater inflater;
  for (int i = 0; i < 5; ++i) {
    const Inflated r = inflate_chunked(inflater, compress(deflater, message), 64, 1000);
    ASSERT_EQ(r.status, Status::ok) << "message " << i;
    ASSERT_EQ(r.text, message);
  }
}

// ---------------------------------------------------------------------------------------------
// Deflater

TEST(Deflater, compresses_hello_to_the_rfc_bytes_and_the_second_one_from_the_window) {
  Deflater deflater;
  EXPECT_EQ(to_bytes(compress(deflater, "Hello")), kHello);
  EXPECT_EQ(to_bytes(compress(deflater, "Hello")), kHelloAgain);
}

TEST(Deflater, without_context_takeover_each_message_compresses_alone) {
  Deflater deflater(15, /*no_context_takeover=*/true);
  EXPECT_EQ(to_bytes(compress(deflater, "Hello")), kHello);
  EXPECT_EQ(to_bytes(compress(deflater, "Hello")), kHello);
}

TEST(Deflater, empty_message_is_a_single_00_before_and_after_other_messages) {
  Deflater deflater;
  EXPECT_EQ(to_bytes(compress(deflater, "")), hex("00"));
  EXPECT_FALSE(deflater.holds_context());  // no zlib state needed for it
  const std::string hello = compress(deflater, "Hello");
  EXPECT_EQ(to_bytes(compress(deflater, "")), hex("00"));
  EXPECT_EQ(to_bytes(compress(deflater, "")), hex("00"));

  Inflater inflater;
  EXPECT_EQ(inflate_message(inflater, {hex("00")}).text, "");
  EXPECT_EQ(inflate_message(inflater, {to_bytes(hello)}).text, "Hello");
  EXPECT_EQ(inflate_message(inflater, {hex("00")}).text, "");
  EXPECT_EQ(inflate_message(inflater, {to_bytes(compress(deflater, "Hello"))}).text, "Hello");
}

TEST(Deflater, appends_to_what_the_output_already_holds) {
  Deflater deflater;
  std::string out = "xy";
  ASSERT_TRUE(deflater.compress(std::string_view("Hello"), out));
  EXPECT_EQ(out.substr(0, 2), "xy");
  EXPECT_EQ(to_bytes(out.substr(2)), kHello);
}

TEST(Deflater, second_identical_message_is_smaller_only_with_context_takeover) {
  const std::string message = repetitive_text(2000, 7) + random_bytes(1000, 8);
  Deflater takeover;
  const std::string first = compress(takeover, message);
  const std::string second = compress(takeover, message);
  EXPECT_LT(second.size(), first.size() / 4);

  Deflater no_takeover(15, /*no_context_takeover=*/true);
  EXPECT_EQ(compress(no_takeover, message), compress(no_takeover, message));
}

TEST(Deflater, output_never_ends_with_the_sync_flush_tail) {
  Deflater deflater;
  for (std::size_t size : {1u, 2u, 100u, 5000u, 70000u}) {
    const std::string out =
        compress(deflater, random_bytes(size, static_cast<std::uint32_t>(size)));
    ASSERT_GE(out.size(), 1u);
    EXPECT_FALSE(out.size() >= 4 && out.substr(out.size() - 4) == std::string("\0\0\xff\xff", 4));
  }
}

TEST(Deflater, every_level_and_mem_level_round_trips) {
  const std::string message = repetitive_text(50000, 9) + random_bytes(5000, 10);
  for (int level = -1; level <= 9; ++level) {
    for (int mem_level : {1, 4, 8, 9}) {
      Deflater deflater(15, false, mem_level, level);
      Inflater inflater;
      for (int round = 0; round < 2; ++round) {
        const Inflated r = inflate_chunked(inflater, compress(deflater, message), 1000);
        ASSERT_EQ(r.status, Status::ok) << "level " << level << " mem_level " << mem_level;
        ASSERT_EQ(r.text, message) << "level " << level << " mem_level " << mem_level;
      }
    }
  }
}

// Inflates raw DEFLATE one output byte per inflate() call, so zlib can only copy from its
// 2^window_bits window and rejects any farther distance.
bool inflates_within_window(const std::string& compressed, int window_bits, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, -window_bits) != Z_OK) return false;
  std::string input = compressed + std::string("\0\0\xff\xff", 4);
  z.next_in = reinterpret_cast<Bytef*>(input.data());
  z.avail_in = static_cast<uInt>(input.size());
  bool ok = true;
  while (z.avail_in > 0) {
    unsigned char byte = 0;
    z.next_out = &byte;
    z.avail_out = 1;
    const int ret = inflate(&z, Z_SYNC_FLUSH);
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
      ok = false;
      break;
    }
    if (z.avail_out == 0) out.push_back(static_cast<char>(byte));
    if (ret == Z_BUF_ERROR) break;
  }
  inflateEnd(&z);
  return ok;
}

TEST(Deflater, eight_window_bits_never_refer_past_256_bytes) {
  // Repeats at distances 200..400 tempt a 512-byte window; zlib's deflate stops at 250.
  std::string message;
  for (int i = 0; i < 200; ++i) {
    const std::string block =
        random_bytes(static_cast<std::size_t>(200 + i), static_cast<std::uint32_t>(i));
    message += block + block.substr(0, 100);
  }
  Deflater eight(8);
  EXPECT_EQ(eight.window_bits(), 8);
  for (int round = 0; round < 2; ++round) {
    std::string out;
    EXPECT_TRUE(inflates_within_window(compress(eight, message), 8, out));
    EXPECT_EQ(out, message);
  }
  // The check itself: a 1024-byte window's output does refer past 256 bytes.
  Deflater ten(10);
  std::string out;
  EXPECT_FALSE(inflates_within_window(compress(ten, message), 8, out));
}

TEST(Deflater, out_of_range_arguments_are_clamped) {
  EXPECT_EQ(Deflater(3).window_bits(), 8);
  EXPECT_EQ(Deflater(20).window_bits(), 15);
  EXPECT_EQ(Inflater(0).window_bits(), 8);
  EXPECT_EQ(Inflater(16).window_bits(), 15);
  Deflater odd(15, false, 42, 99);
  Inflater inflater;
  EXPECT_EQ(inflate_message(inflater, {to_bytes(compress(odd, "Hello Hello"))}).text,
            "Hello Hello");
}

// ---------------------------------------------------------------------------------------------
// Round trips over sizes, data kinds, window bits 8..15 and both context-takeover modes

class RoundTrip : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(RoundTrip, messages_of_every_size_survive_deflate_then_inflate) {
  const auto bits = static_cast<std::uint8_t>(std::get<0>(GetParam()));
  const bool no_context_takeover = std::get<1>(GetParam());
  Deflater deflater(bits, no_context_takeover);
  Inflater inflater(bits, no_context_takeover);
  std::uint32_t seed = 100;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{125}, std::size_t{64} << 10,
                           std::size_t{1} << 20}) {
    for (bool random : {true, false}) {
      const std::string message =
          random ? random_bytes(size, ++seed) : repetitive_text(size, ++seed);
      // Twice: the second message may refer to the first under context takeover.
      for (int round = 0; round < 2; ++round) {
        const std::string compressed = compress(deflater, message);
        const Inflated r = inflate_chunked(inflater, compressed, 4093, size);
        ASSERT_EQ(r.status, Status::ok)
            << size << (random ? " random" : " text") << " round " << round;
        ASSERT_TRUE(r.text == message)
            << size << (random ? " random" : " text") << " round " << round;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WindowBitsAndTakeover, RoundTrip,
                         ::testing::Combine(::testing::Range(8, 16), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<int, bool>>& info) {
                           return "bits_" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_no_context_takeover"
                                                           : "_context_takeover");
                         });

TEST(RoundTrip, second_identical_message_compresses_smaller_at_every_window_size) {
  const std::string message = repetitive_text(200, 11) + random_bytes(200, 12);
  for (std::uint8_t bits = 9; bits <= 15; ++bits) {
    Deflater deflater(bits);
    const std::size_t first = compress(deflater, message).size();
    const std::size_t second = compress(deflater, message).size();
    EXPECT_LT(second, first) << int{bits};
  }
}

// ---------------------------------------------------------------------------------------------
// Memory: lazy state, measured sizes, release

TEST(Memory, idle_inflater_and_deflater_hold_no_zlib_state) {
  EXPECT_LE(sizeof(Inflater), 24u);
  Inflater inflater;
  Deflater deflater;
  EXPECT_FALSE(inflater.holds_context());
  EXPECT_FALSE(deflater.holds_context());
  EXPECT_EQ(inflater.memory_bytes(), 0u);
  EXPECT_EQ(deflater.memory_bytes(), 0u);
  std::string out;
  EXPECT_EQ(inflater.feed({}, out, kNoLimit), Status::ok);
  EXPECT_EQ(inflater.finish(out, kNoLimit), Status::ok);
  EXPECT_FALSE(inflater.holds_context());
}

TEST(Memory, inflater_holds_its_state_plus_a_window_of_2_to_the_window_bits) {
  for (std::uint8_t bits = 8; bits <= 15; ++bits) {
    Inflater inflater(bits);
    std::string out;
    ASSERT_EQ(inflater.feed(as_span(kHello), out, kNoLimit), Status::ok);
    const std::size_t window = std::size_t{1} << bits;
    // zlib 1.2.13: ~7.1 KiB of inflate_state, then the window.
    EXPECT_GE(inflater.memory_bytes(), window + 6 * 1024) << int{bits};
    EXPECT_LE(inflater.memory_bytes(), window + 8 * 1024) << int{bits};
  }
}

TEST(Memory, deflater_holds_window_and_hash_sized_by_window_bits_and_mem_level) {
  for (std::uint8_t bits = 8; bits <= 15; ++bits) {
    for (int mem_level = 1; mem_level <= 9; ++mem_level) {
      Deflater deflater(bits, false, mem_level);
      ASSERT_EQ(compress(deflater, "Hello").size(), kHello.size());
      // zconf.h: (1 << (windowBits + 2)) + (1 << (memLevel + 9)), plus deflate_state;
      // 8 window bits compress with 9.
      const int effective_bits = std::max<int>(bits, 9);
      const std::size_t expected =
          (std::size_t{1} << (effective_bits + 2)) + (std::size_t{1} << (mem_level + 9));
      EXPECT_GE(deflater.memory_bytes(), expected) << int{bits} << "/" << mem_level;
      EXPECT_LE(deflater.memory_bytes(), expected + 8 * 1024) << int{bits} << "/" << mem_level;
    }
  }
}

TEST(Memory, release_frees_state_only_without_context_takeover) {
  Inflater keeps;
  ASSERT_EQ(inflate_message(keeps, {kHello}).text, "Hello");
  EXPECT_FALSE(keeps.release());
  EXPECT_TRUE(keeps.holds_context());
  EXPECT_EQ(inflate_message(keeps, {kHelloAgain}).text, "Hello");

  Inflater drops(15, /*no_context_takeover=*/true);
  std::string out;
  ASSERT_EQ(drops.feed(as_span(kHello), out, kNoLimit), Status::ok);
  EXPECT_FALSE(drops.release());  // mid-message
  ASSERT_EQ(drops.finish(out, kNoLimit), Status::ok);
  EXPECT_TRUE(drops.release());
  EXPECT_FALSE(drops.holds_context());
  EXPECT_EQ(drops.memory_bytes(), 0u);
  EXPECT_EQ(inflate_message(drops, {kHello}).text, "Hello");

  Deflater deflater_keeps;
  (void)compress(deflater_keeps, "Hello");
  EXPECT_FALSE(deflater_keeps.release());
  EXPECT_EQ(to_bytes(compress(deflater_keeps, "Hello")), kHelloAgain);

  Deflater deflater_drops(15, /*no_context_takeover=*/true);
  (void)compress(deflater_drops, "Hello");
  EXPECT_TRUE(deflater_drops.release());
  EXPECT_EQ(deflater_drops.memory_bytes(), 0u);
  EXPECT_EQ(to_bytes(compress(deflater_drops, "Hello")), kHello);
}

TEST(Memory, moved_streams_keep_working) {
  Inflater a;
  ASSERT_EQ(inflate_message(a, {kHello}).text, "Hello");
  Inflater b = std::move(a);
  EXPECT_EQ(inflate_message(b, {kHelloAgain}).text, "Hello");
  Deflater d;
  (void)compress(d, "Hello");
  Deflater e(9);
  e = std::move(d);
  EXPECT_EQ(to_bytes(compress(e, "Hello")), kHelloAgain);
}

// ---------------------------------------------------------------------------------------------
// Allocation failures

TEST(AllocationFailure, inflater_without_state_reports_no_memory) {
  Inflater inflater;
  std::string out;
  {
    FailAllocationsAfter guard(0);
    EXPECT_EQ(inflater.feed(as_span(kHello), out, kNoLimit), Status::no_memory);
  }
  EXPECT_FALSE(inflater.holds_context());
  inflater.reset();
  EXPECT_EQ(inflate_message(inflater, {kHello}).text, "Hello");
}

TEST(AllocationFailure, inflater_without_a_window_reports_no_memory) {
  Inflater inflater;
  std::string out;
  FailAllocationsAfter guard(1);  // inflate_state succeeds, the window fails
  EXPECT_EQ(inflater.feed(as_span(kHello), out, kNoLimit), Status::no_memory);
  EXPECT_EQ(close_code_for(Status::no_memory), CloseCode::internal_error);
}

TEST(AllocationFailure, deflater_fails_at_every_allocation_of_its_state_and_leaves_out_alone) {
  for (int successes = 0; successes < 5; ++successes) {
    Deflater deflater;
    std::string out = "kept";
    {
      FailAllocationsAfter guard(successes);
      EXPECT_FALSE(deflater.compress(std::string_view("Hello"), out)) << successes;
    }
    EXPECT_EQ(out, "kept");
    EXPECT_EQ(deflater.memory_bytes(), 0u);
    EXPECT_TRUE(deflater.compress(std::string_view("Hello"), out));
    EXPECT_EQ(to_bytes(out.substr(4)), kHello);
  }
}

// ---------------------------------------------------------------------------------------------
// Negotiation (RFC 7692 §5, §7.1)

// The response value, or "declined".
std::string answer(std::string_view offer, const DeflatePolicy& policy = {}) {
  const DeflateNegotiation n = negotiate_permessage_deflate(offer, policy);
  if (!n.accepted) {
    EXPECT_EQ(n.response, "");
    return "declined";
  }
  return n.response;
}

TEST(Negotiation, nothing_offered_is_declined) {
  EXPECT_EQ(answer(""), "declined");
  EXPECT_EQ(answer("  ,  , "), "declined");
  EXPECT_EQ(answer("x-webkit-deflate-frame"), "declined");
}

TEST(Negotiation, bare_offer_is_accepted_with_default_parameters) {
  const DeflateNegotiation n = negotiate_permessage_deflate("permessage-deflate", {});
  ASSERT_TRUE(n.accepted);
  EXPECT_EQ(n.response, "permessage-deflate");
  EXPECT_FALSE(n.params.server_no_context_takeover);
  EXPECT_FALSE(n.params.client_no_context_takeover);
  EXPECT_EQ(n.params.server_max_window_bits, 15);
  EXPECT_EQ(n.params.client_max_window_bits, 15);
}

TEST(Negotiation, chromium_offer_with_valueless_client_max_window_bits_is_accepted) {
  const DeflateNegotiation n =
      negotiate_permessage_deflate("permessage-deflate; client_max_window_bits", {});
  ASSERT_TRUE(n.accepted);
  EXPECT_EQ(n.response, "permessage-deflate");
  EXPECT_EQ(n.params.client_max_window_bits, 15);
}

TEST(Negotiation, offered_server_no_context_takeover_is_echoed) {
  const DeflateNegotiation n =
      negotiate_permessage_deflate("permessage-deflate; server_no_context_takeover", {});
  ASSERT_TRUE(n.accepted);
  EXPECT_EQ(n.response, "permessage-deflate; server_no_context_takeover");
  EXPECT_TRUE(n.params.server_no_context_takeover);
}

TEST(Negotiation, offered_client_no_context_takeover_is_echoed) {
  const DeflateNegotiation n =
      negotiate_permessage_deflate("permessage-deflate; client_no_context_takeover", {});
  ASSERT_TRUE(n.accepted);
  EXPECT_EQ(n.response, "permessage-deflate; client_no_context_takeover");
  EXPECT_TRUE(n.params.client_no_context_takeover);
}

TEST(Negotiation, offered_server_max_window_bits_is_answered_with_the_same_value) {
  for (int bits = 8; bits <= 15; ++bits) {
    const std::string offer = "permessage-deflate; server_max_window_bits=" + std::to_string(bits);
    const DeflateNegotiation n = negotiate_permessage_deflate(offer, {});
    ASSERT_TRUE(n.accepted) << offer;
    // Even 15 must be echoed: §7.1.2.1 accepts the parameter only by answering it.
    EXPECT_EQ(n.response, offer);
    EXPECT_EQ(n.params.server_max_window_bits, bits);
  }
}

TEST(Negotiation, offered_client_max_window_bits_value_is_answered_below_15) {
  for (int bits = 8; bits <= 14; ++bits) {
    const std::string offer = "permessage-deflate; client_max_window_bits=" + std::to_string(bits);
    const DeflateNegotiation n = negotiate_permessage_deflate(offer, {});
    ASSERT_TRUE(n.accepted) << offer;
    EXPECT_EQ(n.response, offer);
    EXPECT_EQ(n.params.client_max_window_bits, bits);
  }
  const DeflateNegotiation n =
      negotiate_permessage_deflate("permessage-deflate; client_max_window_bits=15", {});
  ASSERT_TRUE(n.accepted);
  EXPECT_EQ(n.response, "permessage-deflate");
  EXPECT_EQ(n.params.client_max_window_bits, 15);
}

TEST(Negotiation, all_four_parameters_are_answered_in_a_fixed_order) {
  const DeflateNegotiation n = negotiate_permessage_deflate(
      "permessage-deflate; client_max_window_bits=9; server_max_window_bits=10; "
      "client_no_context_takeover; server_no_context_takeover",
      {});
  ASSERT_TRUE(n.accepted);
  EXPECT_EQ(n.response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=9");
  EXPECT_TRUE(n.params.server_no_context_takeover);
  EXPECT_TRUE(n.params.client_no_context_takeover);
  EXPECT_EQ(n.params.server_max_window_bits, 10);
  EXPECT_EQ(n.params.client_max_window_bits, 9);
}

TEST(Negotiation, server_max_window_bits_without_a_value_is_declined) {
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits"), "declined");
}

TEST(Negotiation, window_bits_outside_8_to_15_or_not_canonical_are_declined) {
  for (std::string_view value : {"7", "16", "0", "08", "010", "-9", "+9", "9.0", "a", "1e1",
                                 "99999999999999999999", "\"\"", "\"7\"", "\"08\"", "\" 9\""}) {
    for (std::string_view param : {"server_max_window_bits", "client_max_window_bits"}) {
      const std::string offer =
          "permessage-deflate; " + std::string(param) + "=" + std::string(value);
      EXPECT_EQ(answer(offer), "declined") << offer;
    }
  }
}

TEST(Negotiation, value_on_a_no_context_takeover_parameter_is_declined) {
  EXPECT_EQ(answer("permessage-deflate; server_no_context_takeover=1"), "declined");
  EXPECT_EQ(answer("permessage-deflate; client_no_context_takeover=true"), "declined");
  EXPECT_EQ(answer("permessage-deflate; client_no_context_takeover=\"\""), "declined");
}

TEST(Negotiation, duplicate_parameters_are_declined) {
  EXPECT_EQ(answer("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            "declined");
  EXPECT_EQ(answer("permessage-deflate; client_no_context_takeover; client_no_context_takeover"),
            "declined");
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=10; server_max_window_bits=10"),
            "declined");
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits; client_max_window_bits=10"),
            "declined");
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits; Client_Max_Window_Bits"),
            "declined");
}

TEST(Negotiation, unknown_parameters_are_declined) {
  EXPECT_EQ(answer("permessage-deflate; mux"), "declined");
  EXPECT_EQ(answer("permessage-deflate; max_window_bits=10"), "declined");
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits; x=1"), "declined");
}

TEST(Negotiation, malformed_offers_are_declined) {
  for (std::string_view offer : {
           "permessage-deflate;",
           "permessage-deflate; ;",
           "permessage-deflate; =10",
           "permessage-deflate client_max_window_bits",
           "permessage-deflate; client_max_window_bits=",
           "permessage-deflate; client_max_window_bits=\"10",
           "permessage-deflate; client_max_window_bits=\"1\x01\"",
           "permessage-deflate; client_max_window_bits=10 11",
           "permessage-deflate; server_max_window_bits=1 0",
           "\"permessage-deflate\"",
           "permessage-deflate/1",
       }) {
    EXPECT_EQ(answer(offer), "declined") << offer;
  }
}

TEST(Negotiation, first_acceptable_offer_wins) {
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=10, permessage-deflate"),
            "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(answer("permessage-deflate; client_no_context_takeover, "
                   "permessage-deflate; server_no_context_takeover"),
            "permessage-deflate; client_no_context_takeover");
}

TEST(Negotiation, unacceptable_offers_fall_through_to_the_next) {
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=7, "
                   "permessage-deflate; mux, "
                   "permessage-deflate; server_no_context_takeover=1, "
                   "permessage-deflate; client_max_window_bits"),
            "permessage-deflate");
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits=\"10, "
                   "permessage-deflate; server_no_context_takeover"),
            "declined");  // the unterminated quote swallows the rest of the header
  EXPECT_EQ(answer("permessage-deflate;; x, permessage-deflate; server_max_window_bits=9"),
            "permessage-deflate; server_max_window_bits=9");
}

TEST(Negotiation, quoted_values_are_unquoted) {
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits=\"10\""),
            "permessage-deflate; client_max_window_bits=10");
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=\"9\""),
            "permessage-deflate; server_max_window_bits=9");
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=\"1\\2\""),
            "permessage-deflate; server_max_window_bits=12");
}

TEST(Negotiation, names_compare_case_insensitively) {
  EXPECT_EQ(answer("PerMessage-Deflate"), "permessage-deflate");
  EXPECT_EQ(answer("PERMESSAGE-DEFLATE; Server_No_Context_Takeover; CLIENT_MAX_WINDOW_BITS=11"),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=11");
}

TEST(Negotiation, whitespace_around_separators_is_allowed) {
  EXPECT_EQ(
      answer("  permessage-deflate ;  client_max_window_bits = 10 ;\tserver_no_context_takeover  "),
      "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
  EXPECT_EQ(answer(", ,permessage-deflate,"), "permessage-deflate");
}

TEST(Negotiation, other_extensions_are_skipped) {
  EXPECT_EQ(answer("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits"),
            "permessage-deflate");
  // A comma inside another extension's quoted value does not start an offer.
  EXPECT_EQ(answer("foo; bar=\"a, permessage-deflate; mux\", permessage-deflate"),
            "permessage-deflate");
  EXPECT_EQ(answer("foo; bar=\"a\\\"b, c\"; baz, permessage-deflate; server_no_context_takeover"),
            "permessage-deflate; server_no_context_takeover");
  // Other extensions may carry any parameters; they are not validated.
  EXPECT_EQ(answer("foo; server_max_window_bits=99; x; x, permessage-deflate"),
            "permessage-deflate");
  EXPECT_EQ(answer("permessage-deflate-x, deflate-frame, x-permessage-deflate"), "declined");
  // A malformed foreign extension does not hide the offer after it.
  EXPECT_EQ(answer("foo bar, permessage-deflate"), "permessage-deflate");
}

TEST(Negotiation, disabled_policy_declines_everything) {
  DeflatePolicy policy;
  policy.enabled = false;
  EXPECT_EQ(answer("permessage-deflate", policy), "declined");
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits", policy), "declined");
}

TEST(Negotiation, policy_without_server_context_takeover_always_answers_it) {
  DeflatePolicy policy;
  policy.server_context_takeover = false;
  const DeflateNegotiation n = negotiate_permessage_deflate("permessage-deflate", policy);
  ASSERT_TRUE(n.accepted);
  EXPECT_EQ(n.response, "permessage-deflate; server_no_context_takeover");
  EXPECT_TRUE(n.params.server_no_context_takeover);
  EXPECT_EQ(answer("permessage-deflate; server_no_context_takeover", policy),
            "permessage-deflate; server_no_context_takeover");
}

TEST(Negotiation, policy_server_window_limit_is_answered_and_lowers_offered_values) {
  DeflatePolicy policy;
  policy.max_server_window_bits = 10;
  EXPECT_EQ(answer("permessage-deflate", policy), "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=12", policy),
            "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(answer("permessage-deflate; server_max_window_bits=9", policy),
            "permessage-deflate; server_max_window_bits=9");
  const DeflateNegotiation n =
      negotiate_permessage_deflate("permessage-deflate; server_max_window_bits=12", policy);
  EXPECT_EQ(n.params.server_max_window_bits, 10);
}

TEST(Negotiation, policy_can_ask_for_client_no_context_takeover) {
  DeflatePolicy policy;
  policy.request_client_no_context_takeover = true;
  const DeflateNegotiation n = negotiate_permessage_deflate("permessage-deflate", policy);
  ASSERT_TRUE(n.accepted);
  EXPECT_EQ(n.response, "permessage-deflate; client_no_context_takeover");
  EXPECT_TRUE(n.params.client_no_context_takeover);
}

TEST(Negotiation, policy_client_window_limit_applies_only_when_the_client_offered_the_param) {
  DeflatePolicy policy;
  policy.max_client_window_bits = 10;
  const DeflateNegotiation chromium =
      negotiate_permessage_deflate("permessage-deflate; client_max_window_bits", policy);
  EXPECT_EQ(chromium.response, "permessage-deflate; client_max_window_bits=10");
  EXPECT_EQ(chromium.params.client_max_window_bits, 10);
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits=9", policy),
            "permessage-deflate; client_max_window_bits=9");
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits=12", policy),
            "permessage-deflate; client_max_window_bits=10");
  // §7.1.2.2: not offered, so it must not be answered; the inflater keeps 15 bits.
  const DeflateNegotiation bare = negotiate_permessage_deflate("permessage-deflate", policy);
  EXPECT_EQ(bare.response, "permessage-deflate");
  EXPECT_EQ(bare.params.client_max_window_bits, 15);
}

TEST(Negotiation, policy_window_bits_out_of_range_are_clamped) {
  DeflatePolicy policy;
  policy.max_server_window_bits = 4;
  policy.max_client_window_bits = 200;
  EXPECT_EQ(answer("permessage-deflate; client_max_window_bits", policy),
            "permessage-deflate; server_max_window_bits=8");
}

TEST(Negotiation, every_request_header_is_searched_in_order) {
  const std::string head =
      "GET / HTTP/1.1\r\n"
      "Host: h\r\n"
      "Sec-WebSocket-Extensions: foo, permessage-deflate; mux\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
      "sec-websocket-extensions: permessage-deflate\r\n"
      "\r\n";
  std::array<HttpHeader, 8> storage{};
  HttpRequest request;
  ASSERT_EQ(parse_http_request(head, request, storage).status, HttpParseStatus::complete);
  const DeflateNegotiation n = negotiate_permessage_deflate(request, {});
  ASSERT_TRUE(n.accepted);
  EXPECT_EQ(n.response, "permessage-deflate; server_no_context_takeover");

  DeflatePolicy off;
  off.enabled = false;
  EXPECT_FALSE(negotiate_permessage_deflate(request, off).accepted);
}

TEST(Negotiation, negotiated_parameters_drive_compatible_streams) {
  const DeflateNegotiation n = negotiate_permessage_deflate(
      "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8; "
      "client_no_context_takeover",
      {});
  ASSERT_TRUE(n.accepted);
  // Server to client: our deflater, the client's inflater (modelled with ours).
  Deflater server_out(n.params.server_max_window_bits, n.params.server_no_context_takeover);
  Inflater client_in(n.params.server_max_window_bits, n.params.server_no_context_takeover);
  // Client to server: the client's deflater, our inflater.
  Deflater client_out(n.params.client_max_window_bits, n.params.client_no_context_takeover);
  Inflater server_in(n.params.client_max_window_bits, n.params.client_no_context_takeover);
  const std::string message = repetitive_text(5000, 13);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(inflate_chunked(client_in, compress(server_out, message), 512).text, message);
    EXPECT_EQ(inflate_chunked(server_in, compress(client_out, message), 512).text, message);
  }
}

}  // namespace
}  // namespace hibiki::protocol

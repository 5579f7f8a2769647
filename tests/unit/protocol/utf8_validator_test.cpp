// Tests for the streaming UTF-8 validator against an independent arithmetic reference decoder.
#include "protocol/utf8_validator.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace hibiki::protocol {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::span<const std::byte> as_span(const Bytes& b) {
  return {reinterpret_cast<const std::byte*>(b.data()), b.size()};
}

// Reference: decodes code points arithmetically (no DFA) and applies RFC 3629 §3/§4 rules.
// Returns true when `b` is complete, valid UTF-8.
bool reference_valid(const Bytes& b) {
  std::size_t i = 0;
  while (i < b.size()) {
    const std::uint32_t lead = b[i];
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (lead < 0x80) {
      len = 1;
      cp = lead;
    } else if ((lead >> 5) == 0x6) {
      len = 2;
      cp = lead & 0x1F;
    } else if ((lead >> 4) == 0xE) {
      len = 3;
      cp = lead & 0x0F;
    } else if ((lead >> 3) == 0x1E) {
      len = 4;
      cp = lead & 0x07;
    } else {
      return false;
    }
    if (i + len > b.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((b[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b[i + k] & 0x3F);
    }
    static constexpr std::uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len]) return false;       // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogate
    if (cp > 0x10FFFF) return false;                 // out of range
    i += len;
  }
  return true;
}

// Reference for "can this prefix still become valid UTF-8": try completing a trailing partial
// sequence with representative continuation bytes (only the first continuation is ever
// range-restricted, so the boundaries of each sub-range suffice).
bool reference_completable(const Bytes& prefix) {
  if (reference_valid(prefix)) return true;
  static constexpr std::uint8_t kProbes[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF};
  Bytes work = prefix;
  work.reserve(prefix.size() + 3);
  for (std::uint8_t a : kProbes) {
    work.push_back(a);
    if (reference_valid(work)) return true;
    for (std::uint8_t b : kProbes) {
      work.push_back(b);
      if (reference_valid(work)) return true;
      for (std::uint8_t c : kProbes) {
        work.push_back(c);
        if (reference_valid(work)) return true;
        work.pop_back();
      }
      work.pop_back();
    }
    work.pop_back();
  }
  return false;
}

// Index at which a byte-by-byte feed must first fail, or size() if it never does.
std::size_t reference_fail_index(const Bytes& b) {
  Bytes prefix;
  for (std::size_t i = 0; i < b.size(); ++i) {
    prefix.push_back(b[i]);
    if (!reference_completable(prefix)) return i;
  }
  return b.size();
}

// Index at which Utf8Validator fed one byte at a time first returns false.
std::size_t fail_index_byte_by_byte(const Bytes& b) {
  Utf8Validator v;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (!v.feed(as_span(b).subspan(i, 1))) return i;
  }
  return b.size();
}

bool validate_whole(const Bytes& b) {
  Utf8Validator v;
  return v.feed(as_span(b)) && v.complete();
}

bool validate_split(const Bytes& b, std::size_t split) {
  Utf8Validator v;
  const bool first = v.feed(as_span(b).first(split));
  const bool second = v.feed(as_span(b).subspan(split));
  return first && second && v.complete();
}

Bytes encode(std::uint32_t cp) {
  // Arithmetic encoder that does not refuse surrogates or values past U+10FFFF, so the
  // validator can be shown to reject them.
  if (cp < 0x80) return {static_cast<std::uint8_t>(cp)};
  if (cp < 0x800) {
    return {static_cast<std::uint8_t>(0xC0 | (cp >> 6)),
            static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
  }
  if (cp < 0x10000) {
    return {static_cast<std::uint8_t>(0xE0 | (cp >> 12)),
            static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F)),
            static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
  }
  return {static_cast<std::uint8_t>(0xF0 | (cp >> 18)),
          static_cast<std::uint8_t>(0x80 | ((cp >> 12) & 0x3F)),
          static_cast<std::uint8_t>(0x80 | ((cp >> 6) & 0x3F)),
          static_cast<std::uint8_t>(0x80 | (cp & 0x3F))};
}

Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

TEST(Utf8Validator, accepts_empty_and_ascii) {
  EXPECT_TRUE(validate_whole({}));
  EXPECT_TRUE(validate_whole(bytes_of("Hello, world! 0123456789 ~\x7f")));
  Bytes all_ascii;
  for (int c = 0; c < 0x80; ++c)
    all_ascii.push_back(static_cast<std::uint8_t>(c));
  EXPECT_TRUE(validate_whole(all_ascii));
  EXPECT_TRUE(is_valid_utf8(std::string_view{}));
  EXPECT_TRUE(is_valid_utf8(std::span<const std::byte>{}));
}

TEST(Utf8Validator, every_lead_byte_alone_matches_reference) {
  for (int lead = 0; lead < 256; ++lead) {
    const Bytes b = {static_cast<std::uint8_t>(lead)};
    Utf8Validator v;
    const bool fed = v.feed(as_span(b));
    SCOPED_TRACE(lead);
    // Alone, a byte is complete only if ASCII; it stays feedable only if it can start a
    // sequence (C2..F4).
    EXPECT_EQ(v.complete(), lead < 0x80);
    EXPECT_EQ(fed, lead < 0x80 || (lead >= 0xC2 && lead <= 0xF4));
    EXPECT_EQ(fed, reference_completable(b));
    EXPECT_EQ(v.failed(), !fed);
  }
}

TEST(Utf8Validator, every_lead_and_second_byte_with_continuations_matches_reference) {
  for (int lead = 0; lead < 256; ++lead) {
    for (int second = 0; second < 256; ++second) {
      Bytes b = {static_cast<std::uint8_t>(lead), static_cast<std::uint8_t>(second)};
      // Pad with continuation bytes so that 3- and 4-byte sequences can complete.
      for (int extra = 0; extra <= 2; ++extra) {
        const bool valid = reference_valid(b);
        ASSERT_EQ(validate_whole(b), valid) << std::hex << lead << " " << second << " +" << extra;
        ASSERT_EQ(is_valid_utf8(as_span(b)), valid) << std::hex << lead << " " << second;
        b.push_back(0x80);
      }
      // Prefixes fail no later than the whole, so one fail-position check covers them.
      b.pop_back();
      ASSERT_EQ(fail_index_byte_by_byte(b), reference_fail_index(b))
          << std::hex << lead << " " << second;
    }
  }
}

TEST(Utf8Validator, boundary_code_points) {
  struct Case {
    std::uint32_t cp;
    bool valid;
  };
  const Case cases[] = {
      {0x0000, true},    {0x007F, true},    {0x0080, true},    {0x07FF, true},  {0x0800, true},
      {0xD7FF, true},    {0xD800, false},   {0xDBFF, false},   {0xDC00, false}, {0xDFFF, false},
      {0xE000, true},    {0xFFFD, true},    {0xFFFF, true},    {0x10000, true}, {0x10FFFF, true},
      {0x110000, false}, {0x13FFFF, false}, {0x1FFFFF, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "U+" << std::hex << c.cp);
    const Bytes b = encode(c.cp);
    EXPECT_EQ(validate_whole(b), c.valid);
    EXPECT_EQ(is_valid_utf8(as_span(b)), c.valid);
    for (std::size_t split = 0; split <= b.size(); ++split) {
      EXPECT_EQ(validate_split(b, split), c.valid);
    }
  }
}

TEST(Utf8Validator, rejects_overlong_encodings) {
  const Bytes overlongs[] = {
      {0xC0, 0x80},              // U+0000 in two bytes
      {0xC1, 0xBF},              // U+007F in two bytes
      {0xE0, 0x80, 0x80},        // U+0000 in three bytes
      {0xE0, 0x9F, 0xBF},        // U+07FF in three bytes
      {0xF0, 0x80, 0x80, 0x80},  // U+0000 in four bytes
      {0xF0, 0x8F, 0xBF, 0xBF},  // U+FFFF in four bytes
      {0xC0, 0xAF},              // the classic overlong '/'
      {0xE0, 0x80, 0xAF},
      {0xF8, 0x80, 0x80, 0x80, 0xAF},  // five-byte form
  };
  for (const Bytes& b : overlongs) {
    EXPECT_FALSE(validate_whole(b));
    EXPECT_FALSE(is_valid_utf8(as_span(b)));
  }
}

TEST(Utf8Validator, autobahn_case_6_vectors) {
  const Bytes kosme = {0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5};
  EXPECT_TRUE(validate_whole(kosme));
  // "κόσμε" with U+1F79 (GREEK SMALL LETTER OMICRON WITH OXIA), as in Autobahn.
  EXPECT_EQ(bytes_of("\u03ba\u1f79\u03c3\u03bc\u03b5"), kosme);

  const Bytes with_surrogate = {0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE,
                                0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64};
  EXPECT_FALSE(validate_whole(with_surrogate));
  EXPECT_EQ(fail_index_byte_by_byte(with_surrogate), 12u);  // at A0, right after ED

  const Bytes past_max = {0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5,
                          0xF4, 0x90, 0x80, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64};
  EXPECT_FALSE(validate_whole(past_max));
  EXPECT_EQ(fail_index_byte_by_byte(past_max), 12u);  // at 90, right after F4

  // 6.3.x: valid text followed by a lone continuation byte.
  Bytes stray = kosme;
  stray.push_back(0x80);
  EXPECT_EQ(fail_index_byte_by_byte(stray), kosme.size());
}

TEST(Utf8Validator, fails_at_the_first_impossible_byte) {
  struct Case {
    Bytes bytes;
    std::size_t fail_at;
  };
  const Case cases[] = {
      {{0xF4, 0x90, 0x80, 0x80}, 1},
      {{0xED, 0xA0, 0x80}, 1},
      {{0xED, 0xBF, 0xBF}, 1},
      {{0xE0, 0x80, 0x80}, 1},
      {{0xE0, 0x9F}, 1},
      {{0xF0, 0x8F, 0xBF, 0xBF}, 1},
      {{0xC0}, 0},
      {{0xC1}, 0},
      {{0xF5}, 0},
      {{0xFF}, 0},
      {{0x80}, 0},
      {{0x41, 0xBF}, 1},
      {{0xE2, 0x82, 0x41}, 2},        // truncated sequence followed by ASCII
      {{0xF0, 0x9F, 0x98, 0xC3}, 3},  // truncated 4-byte sequence followed by a lead
      {{0xC3, 0xA9, 0xC3}, 3},        // incomplete at the end: never fails by itself
      {{0xE2, 0x82, 0xAC, 0x80}, 3},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.bytes));
    EXPECT_EQ(fail_index_byte_by_byte(c.bytes), c.fail_at);
    EXPECT_EQ(reference_fail_index(c.bytes), c.fail_at);
  }
}

TEST(Utf8Validator, incomplete_sequence_is_not_complete_but_not_failed) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed(std::string_view("\xF0\x9F\x98")));
  EXPECT_FALSE(v.complete());
  EXPECT_FALSE(v.failed());
  EXPECT_TRUE(v.feed(std::string_view("\x80")));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8Validator, stays_failed_until_reset) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed(std::string_view("\xFF")));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.feed(std::string_view("abc")));
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_FALSE(v.failed());
  EXPECT_TRUE(v.feed(std::string_view("abc")));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8Validator, every_split_point_of_valid_text_gives_the_same_result) {
  const std::string text =
      "a\u00e9\u20ac\U0001F600 Hello \u03ba\u1f79\u03c3\u03bc\u03b5 "
      "\U0010FFFF\uD7FF\uE000 end";
  const Bytes b = bytes_of(text);
  ASSERT_TRUE(validate_whole(b));
  for (std::size_t split = 0; split <= b.size(); ++split) {
    EXPECT_TRUE(validate_split(b, split)) << split;
  }
  for (std::size_t a = 0; a <= b.size(); ++a) {
    for (std::size_t c = a; c <= b.size(); ++c) {
      Utf8Validator v;
      ASSERT_TRUE(v.feed(as_span(b).first(a)));
      ASSERT_TRUE(v.feed(as_span(b).subspan(a, c - a)));
      ASSERT_TRUE(v.feed(as_span(b).subspan(c)));
      ASSERT_TRUE(v.complete());
    }
  }
}

TEST(Utf8Validator, every_split_point_of_invalid_text_gives_the_same_result) {
  Bytes b = bytes_of("prefix \u00e9\u20ac ");
  b.insert(b.end(), {0xED, 0xA0, 0x80});
  const Bytes tail = bytes_of(" suffix");
  b.insert(b.end(), tail.begin(), tail.end());
  for (std::size_t split = 0; split <= b.size(); ++split) {
    EXPECT_FALSE(validate_split(b, split)) << split;
  }
}

// Chunks of 64+ bytes go through the SIMD path; check it agrees with the DFA, including
// chunks that end inside a code point.
TEST(Utf8Validator, large_chunks_split_anywhere) {
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "ascii \u00e9\u20ac\U0001F600 ";
  const Bytes b = bytes_of(text);
  for (std::size_t chunk : {1u, 3u, 7u, 63u, 64u, 65u, 100u, 127u, 1000u, 4096u}) {
    Utf8Validator v;
    bool ok = true;
    for (std::size_t off = 0; off < b.size(); off += chunk) {
      ok = ok && v.feed(as_span(b).subspan(off, std::min(chunk, b.size() - off)));
    }
    EXPECT_TRUE(ok && v.complete()) << chunk;
  }
  for (std::size_t split = 0; split < 200; ++split) {
    EXPECT_TRUE(validate_split(b, split));
    EXPECT_TRUE(validate_split(b, b.size() - split));
  }
}

TEST(Utf8Validator, large_chunk_with_error_deep_inside_fails) {
  std::string text(500, 'x');
  text += "\xED\xA0\x80";
  text += std::string(500, 'y');
  EXPECT_FALSE(validate_whole(bytes_of(text)));
  EXPECT_FALSE(is_valid_utf8(text));

  // Invalid sequence straddling the simd prefix / DFA tail boundary.
  for (std::size_t pad = 60; pad < 80; ++pad) {
    Bytes b(pad, 'a');
    b.insert(b.end(), {0xF4, 0x90, 0x80});
    EXPECT_FALSE(validate_whole(b)) << pad;
    Bytes ok(pad, 'a');
    ok.insert(ok.end(), {0xF4, 0x8F, 0xBF});  // incomplete but valid so far
    Utf8Validator v;
    EXPECT_TRUE(v.feed(as_span(ok))) << pad;
    EXPECT_FALSE(v.complete());
    EXPECT_TRUE(v.feed(std::string_view("\xBF")));
    EXPECT_TRUE(v.complete());
  }
}

TEST(Utf8Validator, random_input_matches_reference) {
  std::mt19937 rng(1234);
  // Bias toward bytes that form near-valid sequences so both outcomes are common.
  const std::uint8_t interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                      0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                      0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  std::uniform_int_distribution<std::size_t> pick(0, std::size(interesting) - 1);
  std::uniform_int_distribution<std::size_t> length(0, 12);
  int valid_count = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    Bytes b(length(rng));
    for (auto& byte : b)
      byte = interesting[pick(rng)];
    SCOPED_TRACE(testing::PrintToString(b));
    const bool valid = reference_valid(b);
    valid_count += valid ? 1 : 0;
    ASSERT_EQ(validate_whole(b), valid);
    ASSERT_EQ(is_valid_utf8(as_span(b)), valid);
    ASSERT_EQ(fail_index_byte_by_byte(b), reference_fail_index(b));
    for (std::size_t split = 0; split <= b.size(); ++split) {
      ASSERT_EQ(validate_split(b, split), valid);
    }
  }
  EXPECT_GT(valid_count, 1000);  // the generator exercises both outcomes
}

TEST(Utf8Validator, whole_buffer_helper_agrees_with_streaming) {
  EXPECT_TRUE(is_valid_utf8(std::string_view("\u00e9\U0001F600")));
  EXPECT_FALSE(is_valid_utf8(std::string_view("\xC3")));
  EXPECT_FALSE(is_valid_utf8(std::string_view("\xED\xA0\x80")));
  EXPECT_FALSE(is_valid_utf8(std::string_view("\xF4\x90\x80\x80")));
}

}  // namespace
}  // namespace hibiki::protocol

// Tests for close code validity, close payload parsing and building (RFC 6455 §5.5.1, §7.4).
#include "protocol/close_code.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace hibiki::protocol {
namespace {

using Bytes = std::vector<std::byte>;

Bytes close_body(std::uint16_t code, std::string_view reason = {}) {
  Bytes out = {static_cast<std::byte>(code >> 8), static_cast<std::byte>(code & 0xFF)};
  for (char c : reason)
    out.push_back(static_cast<std::byte>(c));
  return out;
}

std::string as_string(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

TEST(CloseCode, wire_validity_over_the_whole_16_bit_range) {
  // Independent expectation: the explicit list of codes a peer may send, then the two
  // application ranges.
  std::set<std::uint32_t> valid = {1000, 1001, 1002, 1003, 1007, 1008,
                                   1009, 1010, 1011, 1012, 1013, 1014};
  for (std::uint32_t code = 3000; code < 5000; ++code)
    valid.insert(code);
  std::size_t valid_seen = 0;
  for (std::uint32_t code = 0; code <= 0xFFFF; ++code) {
    const bool expected = valid.count(code) != 0;
    ASSERT_EQ(is_valid_wire_close_code(static_cast<std::uint16_t>(code)), expected) << code;
    valid_seen += expected ? 1 : 0;
  }
  EXPECT_EQ(valid_seen, 12u + 2000u);
}

TEST(CloseCode, never_on_the_wire_codes_are_invalid) {
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    EXPECT_FALSE(is_valid_wire_close_code(code)) << code;
  }
  for (std::uint16_t code : {1000, 1003, 1007, 1014, 3000, 4999}) {
    EXPECT_TRUE(is_valid_wire_close_code(code)) << code;
  }
}

TEST(CloseCode, empty_payload_means_no_status) {
  const ParsedClose parsed = parse_close_payload({});
  EXPECT_EQ(parsed.error, ClosePayloadError::none);
  EXPECT_EQ(parsed.code, 1005);
  EXPECT_TRUE(parsed.reason.empty());
}

TEST(CloseCode, parses_code_and_reason) {
  const Bytes body = close_body(1000, "bye \u00e9");
  const ParsedClose parsed = parse_close_payload(body);
  EXPECT_EQ(parsed.error, ClosePayloadError::none);
  EXPECT_EQ(parsed.code, 1000);
  EXPECT_EQ(parsed.reason, "bye \u00e9");
  // The reason views the payload.
  EXPECT_EQ(static_cast<const void*>(parsed.reason.data()),
            static_cast<const void*>(body.data() + 2));
}

TEST(CloseCode, parses_code_without_reason) {
  const ParsedClose parsed = parse_close_payload(close_body(4999));
  EXPECT_EQ(parsed.error, ClosePayloadError::none);
  EXPECT_EQ(parsed.code, 4999);
  EXPECT_TRUE(parsed.reason.empty());
}

TEST(CloseCode, rejects_one_byte_payload_with_1002) {
  const Bytes body = {std::byte{0x03}};
  const ParsedClose parsed = parse_close_payload(body);
  EXPECT_EQ(parsed.error, ClosePayloadError::one_byte_payload);
  EXPECT_EQ(close_code_for(parsed.error), CloseCode::protocol_error);
}

TEST(CloseCode, rejects_invalid_codes_with_1002) {
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}) {
    const ParsedClose parsed = parse_close_payload(close_body(code, "x"));
    EXPECT_EQ(parsed.error, ClosePayloadError::invalid_code) << code;
    EXPECT_EQ(close_code_for(parsed.error), CloseCode::protocol_error);
  }
}

TEST(CloseCode, rejects_non_utf8_reason_with_1007) {
  for (std::string_view reason :
       {std::string_view("\xFF"), std::string_view("ok\xC3"), std::string_view("\xED\xA0\x80"),
        std::string_view("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE"
                         "\xB5\xED\xA0\x80\x65\x64\x69\x74\x65\x64")}) {
    const ParsedClose parsed = parse_close_payload(close_body(1000, reason));
    EXPECT_EQ(parsed.error, ClosePayloadError::invalid_utf8_reason);
    EXPECT_EQ(close_code_for(parsed.error), CloseCode::invalid_payload);
  }
}

TEST(CloseCode, rejects_payload_over_125_bytes) {
  const ParsedClose ok = parse_close_payload(close_body(1000, std::string(123, 'a')));
  EXPECT_EQ(ok.error, ClosePayloadError::none);
  const ParsedClose too_long = parse_close_payload(close_body(1000, std::string(124, 'a')));
  EXPECT_EQ(too_long.error, ClosePayloadError::too_long);
  EXPECT_EQ(close_code_for(too_long.error), CloseCode::protocol_error);
}

TEST(CloseCode, make_close_payload_writes_big_endian_code_and_reason) {
  const ClosePayload payload = make_close_payload(1001, "going");
  EXPECT_EQ(as_string(payload.view()), std::string("\x03\xE9going", 7));
  const ClosePayload high = make_close_payload(4660);
  EXPECT_EQ(as_string(high.view()), std::string("\x12\x34", 2));
}

TEST(CloseCode, make_close_payload_for_no_status_is_empty) {
  EXPECT_EQ(make_close_payload(1005, "ignored").size, 0u);
}

TEST(CloseCode, make_close_payload_truncates_ascii_to_123_bytes) {
  const ClosePayload payload = make_close_payload(1000, std::string(200, 'r'));
  EXPECT_EQ(payload.size, kMaxControlPayload);
  EXPECT_EQ(as_string(payload.view().subspan(2)), std::string(123, 'r'));
  const ClosePayload exact = make_close_payload(1000, std::string(123, 'r'));
  EXPECT_EQ(exact.size, 125u);
}

TEST(CloseCode, make_close_payload_never_cuts_a_multibyte_character) {
  // 122 ASCII + 2-byte char = 124 bytes: the char does not fit and is dropped whole.
  EXPECT_EQ(make_close_payload(1000, std::string(122, 'a') + "\u00e9").size, 2u + 122u);
  // 121 ASCII + 2-byte char = 123 bytes: fits exactly.
  EXPECT_EQ(make_close_payload(1000, std::string(121, 'a') + "\u00e9").size, 2u + 123u);
  // 4-byte chars straddling the limit at every phase.
  for (std::size_t pad = 0; pad < 4; ++pad) {
    std::string reason(pad, 'a');
    while (reason.size() < 200)
      reason += "\U0001F600";
    const ClosePayload payload = make_close_payload(1000, reason);
    const std::size_t reason_bytes = payload.size - 2;
    EXPECT_LE(reason_bytes, kMaxCloseReason);
    EXPECT_GT(reason_bytes, kMaxCloseReason - 4);
    EXPECT_EQ((reason_bytes - pad) % 4, 0u) << pad;
    const ParsedClose parsed = parse_close_payload(payload.view());
    EXPECT_EQ(parsed.error, ClosePayloadError::none) << pad;
  }
}

TEST(CloseCode, make_then_parse_round_trips) {
  const ClosePayload payload = make_close_payload(3001, "custom \u00e9");
  const ParsedClose parsed = parse_close_payload(payload.view());
  EXPECT_EQ(parsed.error, ClosePayloadError::none);
  EXPECT_EQ(parsed.code, 3001);
  EXPECT_EQ(parsed.reason, "custom \u00e9");
}

}  // namespace
}  // namespace hibiki::protocol

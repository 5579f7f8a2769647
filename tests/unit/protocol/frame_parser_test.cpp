// Byte-level tests for the incremental frame parser (RFC 6455 §5, §8.1).
#include "protocol/frame_parser.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "protocol/frame_writer.hpp"

namespace hibiki::protocol {
namespace {

using Bytes = std::vector<std::byte>;

constexpr MaskKey kKey = {std::byte{0x37}, std::byte{0xFA}, std::byte{0x21}, std::byte{0x3D}};
constexpr MaskKey kOtherKey = {std::byte{0x01}, std::byte{0x8E}, std::byte{0xC3}, std::byte{0x5A}};

Bytes hex_bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values)
    out.push_back(static_cast<std::byte>(v));
  return out;
}

Bytes to_bytes(const std::string& s) {
  Bytes out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i)
    out[i] = static_cast<std::byte>(s[i]);
  return out;
}

std::string to_string(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A masked client frame, as a browser would send it.
Bytes client_frame(Opcode opcode, std::string_view payload, bool fin = true, bool rsv1 = false,
                   const MaskKey& key = kKey) {
  std::string out;
  append_masked_frame(out, opcode, payload, key, {.fin = fin, .rsv1 = rsv1});
  return to_bytes(out);
}

// An unmasked server frame.
Bytes server_frame(Opcode opcode, std::string_view payload, bool fin = true) {
  std::string out;
  append_frame(out, opcode, payload, {.fin = fin});
  return to_bytes(out);
}

enum class LengthForm { shortest, bits16, bits64 };

// Hand-built frame for cases the writer cannot produce: any first byte, chosen length form
// (including non-minimal ones), optional mask.
Bytes raw_frame(std::uint8_t b0, std::string_view payload, bool masked = true,
                LengthForm form = LengthForm::shortest, const MaskKey& key = kKey) {
  Bytes out = {static_cast<std::byte>(b0)};
  const std::uint64_t n = payload.size();
  const std::uint8_t mask_bit = masked ? 0x80 : 0x00;
  if (form == LengthForm::shortest && n > 125)
    form = n > 0xFFFF ? LengthForm::bits64 : LengthForm::bits16;
  if (form == LengthForm::shortest) {
    out.push_back(static_cast<std::byte>(mask_bit | n));
  } else if (form == LengthForm::bits16) {
    out.push_back(static_cast<std::byte>(mask_bit | 126));
    out.push_back(static_cast<std::byte>(n >> 8));
    out.push_back(static_cast<std::byte>(n & 0xFF));
  } else {
    out.push_back(static_cast<std::byte>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<std::byte>((n >> shift) & 0xFF));
    }
  }
  if (masked) out.insert(out.end(), key.begin(), key.end());
  for (std::size_t i = 0; i < payload.size(); ++i) {
    std::byte b = static_cast<std::byte>(payload[i]);
    if (masked) b ^= key[i % 4];
    out.push_back(b);
  }
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Message {
  Opcode opcode = Opcode::continuation;
  std::string data;
  bool compressed = false;
  bool operator==(const Message&) const = default;
};

void PrintTo(const Message& m, std::ostream* os) {
  *os << "{" << static_cast<int>(m.opcode) << ", \"" << m.data << "\""
      << (m.compressed ? ", z" : "") << "}";
}

struct Outcome {
  std::vector<Message> messages;  // data and control messages, in completion order
  FrameError error = FrameError::none;
  std::size_t events = 0;
};

// Reassembles events into messages while checking the event flag invariants.
class Reassembler {
 public:
  void on_event(const FrameEvent& event) {
    ++outcome.events;
    if (event.kind == FrameEvent::Kind::error) {
      outcome.error = event.error;
      return;
    }
    ASSERT_EQ(event.kind, FrameEvent::Kind::payload);
    ASSERT_EQ(event.error, FrameError::none);
    const std::string chunk = to_string(event.payload);
    if (is_control(event.opcode)) {
      EXPECT_FALSE(event.compressed);
      if (event.message_start) {
        EXPECT_TRUE(event.frame_start);
        EXPECT_FALSE(control_.has_value());
        control_ = Message{event.opcode, {}, false};
      }
      ASSERT_TRUE(control_.has_value());
      EXPECT_EQ(control_->opcode, event.opcode);
      control_->data += chunk;
      EXPECT_EQ(event.message_end, event.frame_end);
      if (event.message_end) {
        outcome.messages.push_back(*control_);
        control_.reset();
      }
      return;
    }
    EXPECT_TRUE(event.opcode == Opcode::text || event.opcode == Opcode::binary);
    if (event.message_start) {
      EXPECT_TRUE(event.frame_start);
      EXPECT_FALSE(data_.has_value()) << "message_start while a message is open";
      data_ = Message{event.opcode, {}, event.compressed};
    }
    ASSERT_TRUE(data_.has_value()) << "data chunk outside a message";
    EXPECT_EQ(data_->opcode, event.opcode);
    EXPECT_EQ(data_->compressed, event.compressed);
    if (event.message_end) {
      EXPECT_TRUE(event.frame_end);
    }
    data_->data += chunk;
    if (event.message_end) {
      outcome.messages.push_back(*data_);
      data_.reset();
    }
  }

  Outcome outcome;

 private:
  std::optional<Message> data_;
  std::optional<Message> control_;
};

// Feeds `wire` (copied, since the parser unmasks in place) in the given pieces.
Outcome run_pieces(const Bytes& wire, const std::vector<std::size_t>& piece_sizes,
                   FrameParserOptions options = {}) {
  Bytes buffer = wire;
  FrameParser parser(options);
  Reassembler r;
  std::size_t offset = 0;
  for (std::size_t piece : piece_sizes) {
    std::span<std::byte> input = std::span(buffer).subspan(offset, piece);
    offset += piece;
    for (;;) {
      FrameEvent event;
      const std::size_t used = parser.parse(input, event);
      if (event.kind == FrameEvent::Kind::need_more) {
        EXPECT_EQ(used, input.size()) << "need_more must consume everything";
        break;
      }
      r.on_event(event);
      if (event.kind == FrameEvent::Kind::error) return r.outcome;
      EXPECT_LE(used, input.size());
      input = input.subspan(used);
    }
  }
  return r.outcome;
}

Outcome run(const Bytes& wire, FrameParserOptions options = {}) {
  return run_pieces(wire, {wire.size()}, options);
}

Outcome run_split(const Bytes& wire, std::size_t split, FrameParserOptions options = {}) {
  return run_pieces(wire, {split, wire.size() - split}, options);
}

Outcome run_byte_by_byte(const Bytes& wire, FrameParserOptions options = {}) {
  return run_pieces(wire, std::vector<std::size_t>(wire.size(), 1), options);
}

// The first event produced for `wire` fed whole; its payload views (and unmasks) `wire`.
FrameEvent first_event(Bytes& wire, FrameParserOptions options = {}, std::size_t* used = nullptr) {
  FrameParser parser(options);
  FrameEvent event;
  const std::size_t n = parser.parse(wire, event);
  if (used != nullptr) *used = n;
  return event;
}

FrameError error_of(const Bytes& wire, FrameParserOptions options = {}) {
  return run(wire, options).error;
}

constexpr FrameParserOptions kClient{.role = Role::client};

// --- Basic decoding -------------------------------------------------------------------------

TEST(FrameParser, decodes_the_talk_hello_frame) {
  Bytes wire = hex_bytes({0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58});
  FrameParser parser;
  FrameEvent event;
  EXPECT_EQ(parser.parse(wire, event), wire.size());
  EXPECT_EQ(event.kind, FrameEvent::Kind::payload);
  EXPECT_EQ(event.opcode, Opcode::text);
  EXPECT_EQ(to_string(event.payload), "Hello");
  EXPECT_TRUE(event.frame_start);
  EXPECT_TRUE(event.frame_end);
  EXPECT_TRUE(event.message_start);
  EXPECT_TRUE(event.message_end);
  EXPECT_FALSE(event.compressed);
  // Unmasked in place: the view points into the input buffer.
  EXPECT_EQ(event.payload.data(), wire.data() + 6);
  EXPECT_EQ(parser.parse({}, event), 0u);
  EXPECT_EQ(event.kind, FrameEvent::Kind::need_more);
}

TEST(FrameParser, decodes_200_byte_payload_with_16_bit_length) {
  std::string payload(200, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>(i);
  const Bytes wire = client_frame(Opcode::binary, payload);
  ASSERT_EQ(wire[1], std::byte{0xFE});
  ASSERT_EQ(wire[2], std::byte{0x00});
  ASSERT_EQ(wire[3], std::byte{0xC8});
  const Outcome out = run(wire);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(out.messages[0], (Message{Opcode::binary, payload, false}));
  EXPECT_EQ(out.events, 1u);
}

TEST(FrameParser, decodes_65536_byte_payload_with_64_bit_length) {
  std::string payload(65536, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>(i * 7);
  const Bytes wire = client_frame(Opcode::binary, payload);
  ASSERT_EQ(wire[1], std::byte{0xFF});
  ASSERT_EQ(wire.size(), 14u + 65536u);
  const Outcome out = run(wire);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(out.messages[0].data, payload);
  // Also arriving in odd-sized pieces.
  std::vector<std::size_t> pieces;
  for (std::size_t left = wire.size(); left > 0;) {
    const std::size_t piece = std::min<std::size_t>(left, 1021);
    pieces.push_back(piece);
    left -= piece;
  }
  const Outcome chunked = run_pieces(wire, pieces);
  ASSERT_EQ(chunked.messages.size(), 1u);
  EXPECT_EQ(chunked.messages[0].data, payload);
}

TEST(FrameParser, decodes_masked_ping_with_payload) {
  Bytes wire = client_frame(Opcode::ping, "are you there?");
  const FrameEvent event = first_event(wire);
  EXPECT_EQ(event.kind, FrameEvent::Kind::payload);
  EXPECT_EQ(event.opcode, Opcode::ping);
  EXPECT_EQ(to_string(event.payload), "are you there?");
  EXPECT_TRUE(event.message_start && event.message_end && event.frame_start && event.frame_end);
}

TEST(FrameParser, decodes_close_frame) {
  const ClosePayload body = make_close_payload(1001, "bye");
  std::string wire;
  append_masked_frame(wire, Opcode::close, body.view(), kKey);
  Bytes bytes = to_bytes(wire);
  const FrameEvent event = first_event(bytes);
  ASSERT_EQ(event.kind, FrameEvent::Kind::payload);
  EXPECT_EQ(event.opcode, Opcode::close);
  const ParsedClose parsed = parse_close_payload(event.payload);
  EXPECT_EQ(parsed.error, ClosePayloadError::none);
  EXPECT_EQ(parsed.code, 1001);
  EXPECT_EQ(parsed.reason, "bye");
}

TEST(FrameParser, zero_length_frame_yields_one_empty_event) {
  Bytes wire = client_frame(Opcode::text, "");
  std::size_t used = 0;
  const FrameEvent event = first_event(wire, {}, &used);
  EXPECT_EQ(used, 6u);
  EXPECT_EQ(event.kind, FrameEvent::Kind::payload);
  EXPECT_TRUE(event.payload.empty());
  EXPECT_TRUE(event.frame_start && event.frame_end && event.message_start && event.message_end);
  const Outcome out = run_byte_by_byte(concat({wire, client_frame(Opcode::pong, "")}));
  ASSERT_EQ(out.messages.size(), 2u);
  EXPECT_EQ(out.messages[1], (Message{Opcode::pong, "", false}));
}

TEST(FrameParser, emits_payload_chunks_as_bytes_arrive) {
  Bytes wire = client_frame(Opcode::binary, "0123456789");
  FrameParser parser;
  FrameEvent event;
  // Header (6 bytes) alone: nothing to report yet.
  EXPECT_EQ(parser.parse(std::span(wire).first(6), event), 6u);
  EXPECT_EQ(event.kind, FrameEvent::Kind::need_more);
  // Three payload bytes: reported immediately, not at the end of the frame.
  EXPECT_EQ(parser.parse(std::span(wire).subspan(6, 3), event), 3u);
  ASSERT_EQ(event.kind, FrameEvent::Kind::payload);
  EXPECT_EQ(to_string(event.payload), "012");
  EXPECT_TRUE(event.frame_start && event.message_start);
  EXPECT_FALSE(event.frame_end || event.message_end);
  EXPECT_EQ(parser.parse(std::span(wire).subspan(9), event), 7u);
  EXPECT_EQ(to_string(event.payload), "3456789");
  EXPECT_FALSE(event.frame_start || event.message_start);
  EXPECT_TRUE(event.frame_end && event.message_end);
}

TEST(FrameParser, header_split_anywhere_needs_more) {
  Bytes wire = client_frame(Opcode::binary, std::string(300, 'x'));  // 8-byte header
  FrameParser parser;
  FrameEvent event;
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(parser.parse(std::span(wire).subspan(i, 1), event), 1u);
    EXPECT_EQ(event.kind, FrameEvent::Kind::need_more) << i;
  }
  EXPECT_EQ(parser.parse(std::span(wire).subspan(8), event), 300u);
  EXPECT_EQ(to_string(event.payload), std::string(300, 'x'));
}

TEST(FrameParser, consumes_only_one_frame_per_call) {
  Bytes wire = concat({client_frame(Opcode::text, "one"), client_frame(Opcode::text, "two")});
  FrameParser parser;
  FrameEvent event;
  const std::size_t used = parser.parse(wire, event);
  EXPECT_EQ(used, 9u);
  EXPECT_EQ(to_string(event.payload), "one");
  EXPECT_EQ(parser.parse(std::span(wire).subspan(used), event), 9u);
  EXPECT_EQ(to_string(event.payload), "two");
}

TEST(FrameParser, client_role_accepts_unmasked_frames) {
  const Outcome out =
      run(concat({server_frame(Opcode::text, "hi"), server_frame(Opcode::ping, "p")}), kClient);
  EXPECT_EQ(out.error, FrameError::none);
  ASSERT_EQ(out.messages.size(), 2u);
  EXPECT_EQ(out.messages[0], (Message{Opcode::text, "hi", false}));
  EXPECT_EQ(out.messages[1], (Message{Opcode::ping, "p", false}));
}

TEST(FrameParser, accepts_non_minimal_length_encodings) {
  const Bytes wire = concat({raw_frame(0x82, "abc", true, LengthForm::bits16),
                             raw_frame(0x82, "defg", true, LengthForm::bits64),
                             raw_frame(0x82, std::string(300, 'h'), true, LengthForm::bits64)});
  const Outcome out = run(wire);
  EXPECT_EQ(out.error, FrameError::none);
  ASSERT_EQ(out.messages.size(), 3u);
  EXPECT_EQ(out.messages[0].data, "abc");
  EXPECT_EQ(out.messages[1].data, "defg");
  EXPECT_EQ(out.messages[2].data, std::string(300, 'h'));
}

TEST(FrameParser, accepts_control_frame_with_125_bytes) {
  const Outcome out = run(client_frame(Opcode::ping, std::string(125, 'p')));
  EXPECT_EQ(out.error, FrameError::none);
  ASSERT_EQ(out.messages.size(), 1u);
  EXPECT_EQ(out.messages[0].data.size(), 125u);
}

// --- Protocol violations --------------------------------------------------------------------

void expect_failure(const Bytes& wire, FrameError error, CloseCode code,
                    FrameParserOptions options = {}) {
  EXPECT_EQ(run(wire, options).error, error) << to_string(error);
  EXPECT_EQ(run_byte_by_byte(wire, options).error, error) << to_string(error);
  EXPECT_EQ(close_code_for(error), code);
}

TEST(FrameParser, rejects_rsv1_without_extension_with_1002) {
  expect_failure(raw_frame(0xC1, "x"), FrameError::reserved_bits, CloseCode::protocol_error);
}

TEST(FrameParser, rejects_rsv2_and_rsv3_with_1002) {
  expect_failure(raw_frame(0xA1, "x"), FrameError::reserved_bits, CloseCode::protocol_error);
  expect_failure(raw_frame(0x91, "x"), FrameError::reserved_bits, CloseCode::protocol_error);
  expect_failure(raw_frame(0xF1, "x"), FrameError::reserved_bits, CloseCode::protocol_error);
  // Even with permessage-deflate only RSV1 is defined.
  expect_failure(raw_frame(0xA1, "x"), FrameError::reserved_bits, CloseCode::protocol_error,
                 {.allow_rsv1 = true});
  expect_failure(raw_frame(0x99, "x"), FrameError::reserved_bits, CloseCode::protocol_error);
}

TEST(FrameParser, rejects_reserved_opcodes_with_1002) {
  for (int op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    expect_failure(raw_frame(static_cast<std::uint8_t>(0x80 | op), ""), FrameError::unknown_opcode,
                   CloseCode::protocol_error);
    expect_failure(raw_frame(static_cast<std::uint8_t>(0x80 | op), "payload"),
                   FrameError::unknown_opcode, CloseCode::protocol_error);
  }
}

TEST(FrameParser, rejects_unmasked_client_frame_with_1002) {
  expect_failure(raw_frame(0x81, "Hello", false), FrameError::unmasked_frame,
                 CloseCode::protocol_error);
  expect_failure(raw_frame(0x89, "", false), FrameError::unmasked_frame, CloseCode::protocol_error);
}

TEST(FrameParser, client_role_rejects_masked_server_frame_with_1002) {
  expect_failure(raw_frame(0x81, "Hello", true), FrameError::masked_frame,
                 CloseCode::protocol_error, kClient);
}

TEST(FrameParser, rejects_fragmented_control_frame_with_1002) {
  expect_failure(raw_frame(0x09, "ping"), FrameError::control_fragmented,
                 CloseCode::protocol_error);
  expect_failure(raw_frame(0x08, ""), FrameError::control_fragmented, CloseCode::protocol_error);
}

TEST(FrameParser, rejects_control_frame_over_125_bytes_with_1002) {
  expect_failure(raw_frame(0x89, std::string(126, 'p')), FrameError::control_too_long,
                 CloseCode::protocol_error);
  // The 16- and 64-bit forms are too long for a control frame whatever their value.
  expect_failure(raw_frame(0x8A, "short", true, LengthForm::bits16), FrameError::control_too_long,
                 CloseCode::protocol_error);
  expect_failure(raw_frame(0x88, "", true, LengthForm::bits64), FrameError::control_too_long,
                 CloseCode::protocol_error);
}

TEST(FrameParser, rejects_64_bit_length_with_high_bit_with_1002) {
  Bytes wire = hex_bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 0x37, 0xFA, 0x21, 0x3D});
  expect_failure(wire, FrameError::length_high_bit, CloseCode::protocol_error);
}

TEST(FrameParser, rejects_continuation_without_open_message_with_1002) {
  expect_failure(client_frame(Opcode::continuation, "x"), FrameError::unexpected_continuation,
                 CloseCode::protocol_error);
  // A complete (FIN) message closes it, so a continuation after it is unexpected too.
  expect_failure(concat({client_frame(Opcode::text, "a"), client_frame(Opcode::continuation, "b")}),
                 FrameError::unexpected_continuation, CloseCode::protocol_error);
}

TEST(FrameParser, rejects_new_data_message_inside_fragmented_message_with_1002) {
  expect_failure(concat({client_frame(Opcode::text, "a", false), client_frame(Opcode::text, "b")}),
                 FrameError::expected_continuation, CloseCode::protocol_error);
  expect_failure(concat({client_frame(Opcode::binary, "a", false), client_frame(Opcode::ping, "p"),
                         client_frame(Opcode::binary, "b", false)}),
                 FrameError::expected_continuation, CloseCode::protocol_error);
}

TEST(FrameParser, rejects_message_over_limit_with_1009) {
  const FrameParserOptions options{.max_message_bytes = 10};
  expect_failure(client_frame(Opcode::binary, std::string(11, 'x')), FrameError::message_too_big,
                 CloseCode::message_too_big, options);
  // Sum of fragments: 4 + 4 + 3 = 11 > 10, detected at the third header.
  const Bytes wire = concat({client_frame(Opcode::text, "aaaa", false),
                             client_frame(Opcode::continuation, "bbbb", false),
                             client_frame(Opcode::continuation, "ccc")});
  expect_failure(wire, FrameError::message_too_big, CloseCode::message_too_big, options);
  // The first two fragments were delivered before the failure.
  EXPECT_EQ(run(wire, options).events, 3u);
}

TEST(FrameParser, accepts_message_exactly_at_limit) {
  const FrameParserOptions options{.max_message_bytes = 10};
  EXPECT_EQ(error_of(client_frame(Opcode::binary, std::string(10, 'x')), options),
            FrameError::none);
  const Bytes wire = concat(
      {client_frame(Opcode::text, "aaaa", false), client_frame(Opcode::ping, std::string(100, 'p')),
       client_frame(Opcode::continuation, "bbbb", false), client_frame(Opcode::continuation, "cc"),
       client_frame(Opcode::text, "0123456789")});
  const Outcome out = run(wire, options);
  EXPECT_EQ(out.error, FrameError::none);
  ASSERT_EQ(out.messages.size(), 3u);
  EXPECT_EQ(out.messages[1].data, "aaaabbbbcc");
  EXPECT_EQ(out.messages[2].data, "0123456789");
}

TEST(FrameParser, set_max_message_bytes_applies_to_later_headers) {
  FrameParser parser;
  parser.set_max_message_bytes(3);
  Bytes wire = client_frame(Opcode::binary, "four");
  FrameEvent event;
  EXPECT_EQ(parser.parse(wire, event), 0u);
  EXPECT_EQ(event.error, FrameError::message_too_big);
}

TEST(FrameParser, rejects_invalid_utf8_text_with_1007) {
  expect_failure(client_frame(Opcode::text,
                              "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0"
                              "\x80\x65\x64\x69\x74\x65\x64"),
                 FrameError::invalid_utf8, CloseCode::invalid_payload);
  expect_failure(client_frame(Opcode::text, "\xFF"), FrameError::invalid_utf8,
                 CloseCode::invalid_payload);
}

TEST(FrameParser, binary_messages_are_not_utf8_checked) {
  EXPECT_EQ(error_of(client_frame(Opcode::binary, "\xFF\xFE\xED\xA0\x80")), FrameError::none);
}

TEST(FrameParser, control_payloads_are_not_utf8_checked) {
  EXPECT_EQ(error_of(client_frame(Opcode::ping, "\xFF\xC3")), FrameError::none);
  EXPECT_EQ(error_of(client_frame(Opcode::close, "\x03\xE8\xFF")), FrameError::none);
}

TEST(FrameParser, rejects_incomplete_utf8_at_message_end_with_1007) {
  expect_failure(client_frame(Opcode::text, "ok\xE2\x82"), FrameError::invalid_utf8,
                 CloseCode::invalid_payload);
  expect_failure(concat({client_frame(Opcode::text, "ok", false),
                         client_frame(Opcode::continuation, "\xF0\x9F\x98")}),
                 FrameError::invalid_utf8, CloseCode::invalid_payload);
}

TEST(FrameParser, code_point_split_across_fragments_is_valid) {
  const Bytes wire =
      concat({client_frame(Opcode::text, "\xF0\x9F", false), client_frame(Opcode::ping, "\xFF"),
              client_frame(Opcode::continuation, "\x98", false),
              client_frame(Opcode::continuation, "\x80!")});
  const Outcome out = run(wire);
  EXPECT_EQ(out.error, FrameError::none);
  ASSERT_EQ(out.messages.size(), 2u);
  EXPECT_EQ(out.messages[1], (Message{Opcode::text, "\U0001F600!", false}));
}

TEST(FrameParser, invalid_utf8_in_second_fragment_fails_before_final_fragment) {
  const Bytes first = client_frame(Opcode::text, "\xCE\xBA\xE1\xBD", false);
  const Bytes second = client_frame(Opcode::continuation, "\xB9\xCF\x83\xED\xA0", false);
  Bytes wire = concat({first, second});  // the final fragment never arrives
  const Outcome out = run(wire);
  EXPECT_EQ(out.error, FrameError::invalid_utf8);
  EXPECT_EQ(out.events, 2u);  // fragment 1 delivered, then the error
  EXPECT_EQ(run_byte_by_byte(wire).error, FrameError::invalid_utf8);
}

TEST(FrameParser, invalid_utf8_fails_at_the_chunk_holding_it_before_the_frame_ends) {
  // One 20-byte text frame; only its first 16 payload bytes arrive. The bad byte (A0 after
  // ED) is byte 12 of the payload.
  Bytes wire = client_frame(Opcode::text,
                            "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0"
                            "\x80\x65\x64\x69\x74\x65\x64");
  FrameParser parser;
  FrameEvent event;
  EXPECT_EQ(parser.parse(std::span(wire).first(6 + 11), event), 17u);
  EXPECT_EQ(event.kind, FrameEvent::Kind::payload);
  EXPECT_EQ(parser.parse(std::span(wire).subspan(17, 1), event), 1u);  // ED: still possible
  EXPECT_EQ(event.kind, FrameEvent::Kind::payload);
  EXPECT_EQ(parser.parse(std::span(wire).subspan(18, 2), event), 0u);  // A0 80: impossible
  EXPECT_EQ(event.kind, FrameEvent::Kind::error);
  EXPECT_EQ(event.error, FrameError::invalid_utf8);
}

TEST(FrameParser, stays_failed_and_consumes_nothing_after_error) {
  Bytes wire = concat({raw_frame(0x83, "x"), client_frame(Opcode::text, "fine")});
  FrameParser parser;
  FrameEvent event;
  EXPECT_EQ(parser.parse(wire, event), 0u);
  EXPECT_EQ(event.kind, FrameEvent::Kind::error);
  EXPECT_EQ(event.error, FrameError::unknown_opcode);
  EXPECT_TRUE(parser.failed());
  for (int i = 0; i < 3; ++i) {
    FrameEvent again;
    EXPECT_EQ(parser.parse(std::span(wire).subspan(7), again), 0u);
    EXPECT_EQ(again.kind, FrameEvent::Kind::error);
    EXPECT_EQ(again.error, FrameError::unknown_opcode);
  }
}

TEST(FrameParser, fails_fast_on_the_first_two_header_bytes) {
  struct Case {
    Bytes bytes;
    FrameError error;
    FrameParserOptions options;
  };
  const Case cases[] = {
      {hex_bytes({0xC1, 0x85}), FrameError::reserved_bits, {}},
      {hex_bytes({0x83, 0x85}), FrameError::unknown_opcode, {}},
      {hex_bytes({0x81, 0x05}), FrameError::unmasked_frame, {}},
      {hex_bytes({0x81, 0x85}), FrameError::masked_frame, kClient},
      {hex_bytes({0x09, 0x80}), FrameError::control_fragmented, {}},
      {hex_bytes({0x89, 0xFE}), FrameError::control_too_long, {}},
      {hex_bytes({0x80, 0x85}), FrameError::unexpected_continuation, {}},
      {hex_bytes({0x80, 0xFE}), FrameError::unexpected_continuation, {}},
      {hex_bytes({0x82, 0x8B}), FrameError::message_too_big, {.max_message_bytes = 10}},
  };
  for (const Case& c : cases) {
    Bytes input = c.bytes;
    FrameParser parser(c.options);
    FrameEvent event;
    parser.parse(input, event);
    EXPECT_EQ(event.kind, FrameEvent::Kind::error) << to_string(c.error);
    EXPECT_EQ(event.error, c.error);
  }
}

TEST(FrameParser, errors_follow_the_documented_check_order) {
  // RSV before opcode.
  EXPECT_EQ(error_of(raw_frame(0xA3, "x")), FrameError::reserved_bits);
  // Opcode before masking.
  EXPECT_EQ(error_of(raw_frame(0x83, "x", false)), FrameError::unknown_opcode);
  // Masking before control rules.
  EXPECT_EQ(error_of(raw_frame(0x09, "x", false)), FrameError::unmasked_frame);
  // Fragmented before too long.
  EXPECT_EQ(error_of(raw_frame(0x09, std::string(200, 'x'))), FrameError::control_fragmented);
  // RSV1 on a control frame is reserved_bits even with the extension.
  EXPECT_EQ(error_of(raw_frame(0xC9, "x"), {.allow_rsv1 = true}), FrameError::reserved_bits);
  // Length high bit before continuation rules.
  EXPECT_EQ(error_of(hex_bytes({0x80, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})),
            FrameError::length_high_bit);
  // Continuation rules before the size limit.
  EXPECT_EQ(error_of(raw_frame(0x80, std::string(20, 'x')), {.max_message_bytes = 10}),
            FrameError::unexpected_continuation);
  // A huge 64-bit length without the high bit is just too big.
  EXPECT_EQ(
      error_of(hex_bytes({0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4})),
      FrameError::message_too_big);
}

// --- Extensions -----------------------------------------------------------------------------

TEST(FrameParser, rsv1_allowed_on_first_data_frame_when_negotiated) {
  const FrameParserOptions options{.allow_rsv1 = true};
  // Not valid UTF-8 on the wire: compressed payloads are validated after inflating.
  const Bytes wire = concat(
      {client_frame(Opcode::text, "\xFF\x01", false, true), client_frame(Opcode::ping, "p"),
       client_frame(Opcode::continuation, "\x02\xFE"), client_frame(Opcode::binary, "plain")});
  const Outcome out = run_byte_by_byte(wire, options);
  EXPECT_EQ(out.error, FrameError::none);
  ASSERT_EQ(out.messages.size(), 3u);
  EXPECT_EQ(out.messages[0], (Message{Opcode::ping, "p", false}));
  EXPECT_EQ(out.messages[1], (Message{Opcode::text, "\xFF\x01\x02\xFE", true}));
  EXPECT_EQ(out.messages[2], (Message{Opcode::binary, "plain", false}));
}

TEST(FrameParser, rsv1_rejected_on_continuation_even_when_negotiated) {
  const Bytes wire = concat({client_frame(Opcode::text, "a", false, true),
                             client_frame(Opcode::continuation, "b", true, true)});
  EXPECT_EQ(error_of(wire, {.allow_rsv1 = true}), FrameError::reserved_bits);
}

TEST(FrameParser, set_allow_rsv1_toggles_the_extension) {
  FrameParser parser;
  parser.set_allow_rsv1(true);
  Bytes wire = client_frame(Opcode::binary, "z", true, true);
  FrameEvent event;
  parser.parse(wire, event);
  EXPECT_EQ(event.kind, FrameEvent::Kind::payload);
  EXPECT_TRUE(event.compressed);
}

// --- Fragmentation and splitting ------------------------------------------------------------

TEST(FrameParser, fragmented_text_with_interleaved_ping) {
  const Bytes wire = concat(
      {client_frame(Opcode::text, "Hel", false), client_frame(Opcode::ping, "ping!"),
       client_frame(Opcode::continuation, "lo", false), client_frame(Opcode::continuation, ""),
       client_frame(Opcode::continuation, "x", true)});
  const Outcome out = run(wire);
  // The last frame is a continuation after the FIN frame: unexpected.
  EXPECT_EQ(out.error, FrameError::unexpected_continuation);
  ASSERT_EQ(out.messages.size(), 2u);
  EXPECT_EQ(out.messages[0], (Message{Opcode::ping, "ping!", false}));
  EXPECT_EQ(out.messages[1], (Message{Opcode::text, "Hello", false}));
}

TEST(FrameParser, reports_fragment_flags_and_fragmented_state) {
  Bytes wire = concat({client_frame(Opcode::text, "ab", false), client_frame(Opcode::ping, ""),
                       client_frame(Opcode::continuation, "cd")});
  FrameParser parser;
  FrameEvent event;
  std::span<std::byte> input(wire);
  EXPECT_FALSE(parser.in_fragmented_message());

  input = input.subspan(parser.parse(input, event));
  EXPECT_EQ(event.opcode, Opcode::text);
  EXPECT_TRUE(event.message_start && event.frame_start && event.frame_end);
  EXPECT_FALSE(event.message_end);
  EXPECT_TRUE(parser.in_fragmented_message());

  input = input.subspan(parser.parse(input, event));
  EXPECT_EQ(event.opcode, Opcode::ping);
  EXPECT_TRUE(event.message_start && event.message_end);
  EXPECT_TRUE(parser.in_fragmented_message());

  input = input.subspan(parser.parse(input, event));
  EXPECT_EQ(event.opcode, Opcode::text);  // the message's opcode on a continuation frame
  EXPECT_FALSE(event.message_start);
  EXPECT_TRUE(event.frame_start && event.frame_end && event.message_end);
  EXPECT_EQ(to_string(event.payload), "cd");
  EXPECT_FALSE(parser.in_fragmented_message());
  EXPECT_TRUE(input.empty());
}

// Several frames: text, fragmented text with a ping in the middle, binary, close.
Bytes mixed_stream() {
  std::string binary(300, '\0');
  for (std::size_t i = 0; i < binary.size(); ++i)
    binary[i] = static_cast<char>(255 - i % 256);
  return concat({client_frame(Opcode::text, "Hello \u00e9\u20ac"),
                 client_frame(Opcode::text, "frag \xF0\x9F", false, false, kOtherKey),
                 client_frame(Opcode::ping, "mid"),
                 client_frame(Opcode::continuation, "\x98\x80 ment", false),
                 client_frame(Opcode::continuation, "", false, false, kOtherKey),
                 client_frame(Opcode::continuation, "ed"),
                 client_frame(Opcode::binary, binary, true, false, kOtherKey),
                 client_frame(Opcode::close, std::string("\x03\xE8"
                                                         "done",
                                                         6))});
}

std::vector<Message> mixed_expected() {
  std::string binary(300, '\0');
  for (std::size_t i = 0; i < binary.size(); ++i)
    binary[i] = static_cast<char>(255 - i % 256);
  return {Message{Opcode::text, "Hello \u00e9\u20ac", false}, Message{Opcode::ping, "mid", false},
          Message{Opcode::text, "frag \U0001F600 mented", false},
          Message{Opcode::binary, binary, false},
          Message{Opcode::close,
                  std::string("\x03\xE8"
                              "done",
                              6),
                  false}};
}

TEST(FrameParser, every_split_point_gives_the_same_messages) {
  const Bytes wire = mixed_stream();
  const std::vector<Message> expected = mixed_expected();
  const Outcome whole = run(wire);
  EXPECT_EQ(whole.error, FrameError::none);
  EXPECT_EQ(whole.messages, expected);
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    const Outcome out = run_split(wire, split);
    ASSERT_EQ(out.error, FrameError::none) << split;
    ASSERT_EQ(out.messages, expected) << split;
  }
}

TEST(FrameParser, byte_at_a_time_gives_the_same_messages) {
  const Outcome out = run_byte_by_byte(mixed_stream());
  EXPECT_EQ(out.error, FrameError::none);
  EXPECT_EQ(out.messages, mixed_expected());
}

TEST(FrameParser, every_pair_of_split_points_gives_the_same_messages) {
  const Bytes wire =
      concat({client_frame(Opcode::text, "ab\u00e9", false), client_frame(Opcode::pong, "q"),
              client_frame(Opcode::continuation, "\u20acz")});
  const std::vector<Message> expected = {Message{Opcode::pong, "q", false},
                                         Message{Opcode::text, "ab\u00e9\u20acz", false}};
  for (std::size_t a = 0; a <= wire.size(); ++a) {
    for (std::size_t b = a; b <= wire.size(); ++b) {
      const Outcome out = run_pieces(wire, {a, b - a, wire.size() - b});
      ASSERT_EQ(out.error, FrameError::none) << a << " " << b;
      ASSERT_EQ(out.messages, expected) << a << " " << b;
    }
  }
}

TEST(FrameParser, errors_are_the_same_at_every_split_point) {
  const Bytes wire =
      concat({client_frame(Opcode::text, "good", false), client_frame(Opcode::continuation,
                                                                      "ba\xC0"
                                                                      "d")});
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    const Outcome out = run_split(wire, split);
    EXPECT_EQ(out.error, FrameError::invalid_utf8) << split;
    EXPECT_TRUE(out.messages.empty());
  }
}

// --- Names and codes ------------------------------------------------------------------------

TEST(FrameParser, error_names_and_close_codes) {
  struct Case {
    FrameError error;
    const char* name;
    CloseCode code;
  };
  const Case cases[] = {
      {FrameError::none, "none", CloseCode::protocol_error},
      {FrameError::reserved_bits, "reserved_bits", CloseCode::protocol_error},
      {FrameError::unknown_opcode, "unknown_opcode", CloseCode::protocol_error},
      {FrameError::unmasked_frame, "unmasked_frame", CloseCode::protocol_error},
      {FrameError::masked_frame, "masked_frame", CloseCode::protocol_error},
      {FrameError::control_too_long, "control_too_long", CloseCode::protocol_error},
      {FrameError::control_fragmented, "control_fragmented", CloseCode::protocol_error},
      {FrameError::unexpected_continuation, "unexpected_continuation", CloseCode::protocol_error},
      {FrameError::expected_continuation, "expected_continuation", CloseCode::protocol_error},
      {FrameError::length_high_bit, "length_high_bit", CloseCode::protocol_error},
      {FrameError::message_too_big, "message_too_big", CloseCode::message_too_big},
      {FrameError::invalid_utf8, "invalid_utf8", CloseCode::invalid_payload},
  };
  for (const Case& c : cases) {
    EXPECT_STREQ(to_string(c.error), c.name);
    if (c.error != FrameError::none) {
      EXPECT_EQ(close_code_for(c.error), c.code) << c.name;
    }
  }
}

}  // namespace
}  // namespace hibiki::protocol

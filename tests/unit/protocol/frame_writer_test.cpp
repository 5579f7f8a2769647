// Tests for frame encoding: exact header bytes, masking, frame_size and writer-to-parser trips.
#include "protocol/frame_writer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/frame_parser.hpp"

namespace hibiki::protocol {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr MaskKey kTalkKey = {std::byte{0x37}, std::byte{0xFA}, std::byte{0x21}, std::byte{0x3D}};

Bytes header_bytes(const FrameHeader& h) {
  Bytes out;
  for (std::byte b : h.view())
    out.push_back(std::to_integer<std::uint8_t>(b));
  return out;
}

Bytes string_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

TEST(FrameWriter, server_hello_frame_bytes) {
  std::string out;
  append_frame(out, Opcode::text, "Hello");
  EXPECT_EQ(string_bytes(out), (Bytes{0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F}));
}

TEST(FrameWriter, masked_hello_matches_rfc_example) {
  std::string out;
  append_masked_frame(out, Opcode::text, "Hello", kTalkKey);
  EXPECT_EQ(string_bytes(out),
            (Bytes{0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58}));
}

TEST(FrameWriter, uses_shortest_length_encoding) {
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::binary, 0)), (Bytes{0x82, 0x00}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::binary, 125)), (Bytes{0x82, 0x7D}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::binary, 126)),
            (Bytes{0x82, 0x7E, 0x00, 0x7E}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::binary, 65535)),
            (Bytes{0x82, 0x7E, 0xFF, 0xFF}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::binary, 65536)),
            (Bytes{0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::binary, 0x0102030405060708ULL)),
            (Bytes{0x82, 0x7F, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
}

TEST(FrameWriter, complete_frames_for_boundary_sizes) {
  for (std::size_t size : {0u, 125u, 126u, 65535u, 65536u}) {
    std::string out;
    append_frame(out, Opcode::binary, std::string(size, 'z'));
    ASSERT_EQ(out.size(), frame_size(size)) << size;
    const Bytes expected_header = header_bytes(encode_frame_header(Opcode::binary, size));
    EXPECT_EQ(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(expected_header.size())),
              expected_header);
    EXPECT_EQ(out.substr(expected_header.size()), std::string(size, 'z'));
  }
}

TEST(FrameWriter, masked_header_appends_the_key) {
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::ping, 3, {}, &kTalkKey)),
            (Bytes{0x89, 0x83, 0x37, 0xFA, 0x21, 0x3D}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::binary, 300, {}, &kTalkKey)),
            (Bytes{0x82, 0xFE, 0x01, 0x2C, 0x37, 0xFA, 0x21, 0x3D}));
  EXPECT_EQ(encode_frame_header(Opcode::binary, 70000, {}, &kTalkKey).size, 14);
}

TEST(FrameWriter, fin_and_rsv1_flags) {
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::text, 1, {.fin = false})),
            (Bytes{0x01, 0x01}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::continuation, 1, {.fin = true})),
            (Bytes{0x80, 0x01}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::text, 1, {.fin = true, .rsv1 = true})),
            (Bytes{0xC1, 0x01}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::close, 2)), (Bytes{0x88, 0x02}));
  EXPECT_EQ(header_bytes(encode_frame_header(Opcode::pong, 0)), (Bytes{0x8A, 0x00}));
}

TEST(FrameWriter, frame_size_matches_encoding) {
  for (std::uint64_t size : {0ull, 1ull, 125ull, 126ull, 65535ull, 65536ull, 1ull << 40}) {
    EXPECT_EQ(frame_size(size), encode_frame_header(Opcode::binary, size).size + size);
    EXPECT_EQ(frame_size(size, true),
              encode_frame_header(Opcode::binary, size, {}, &kTalkKey).size + size);
  }
}

TEST(FrameWriter, span_and_string_overloads_agree) {
  const std::string text = "payload";
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(text.data()),
                                         text.size());
  std::string a;
  std::string b;
  append_frame(a, Opcode::binary, text);
  append_frame(b, Opcode::binary, bytes);
  EXPECT_EQ(a, b);
  a.clear();
  b.clear();
  append_masked_frame(a, Opcode::binary, text, kTalkKey);
  append_masked_frame(b, Opcode::binary, bytes, kTalkKey);
  EXPECT_EQ(a, b);
}

TEST(FrameWriter, appends_after_existing_content) {
  std::string out = "prefix";
  append_masked_frame(out, Opcode::text, "Hello", kTalkKey);
  EXPECT_EQ(out.substr(0, 6), "prefix");
  EXPECT_EQ(string_bytes(out.substr(6)),
            (Bytes{0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58}));
}

// Writer output parsed back, for both roles.
void expect_round_trip(Role role, std::size_t size) {
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    payload[i] = static_cast<char>('a' + i % 26);
  std::string wire;
  if (role == Role::server) {
    append_masked_frame(wire, Opcode::binary, payload, kTalkKey);
  } else {
    append_frame(wire, Opcode::binary, payload);
  }
  ASSERT_EQ(wire.size(), frame_size(size, role == Role::server));

  FrameParser parser({.role = role});
  std::span<std::byte> input(reinterpret_cast<std::byte*>(wire.data()), wire.size());
  std::string received;
  bool ended = false;
  while (!input.empty() || !ended) {
    FrameEvent event;
    const std::size_t used = parser.parse(input, event);
    ASSERT_EQ(event.kind, FrameEvent::Kind::payload) << size;
    EXPECT_EQ(event.opcode, Opcode::binary);
    received.append(reinterpret_cast<const char*>(event.payload.data()), event.payload.size());
    ended = event.message_end;
    input = input.subspan(used);
    if (ended) break;
  }
  EXPECT_TRUE(input.empty());
  EXPECT_EQ(received, payload) << size;
}

TEST(FrameWriter, round_trips_through_the_parser_in_both_roles) {
  for (std::size_t size : {0u, 1u, 5u, 125u, 126u, 1000u, 65535u, 65536u, 70000u}) {
    expect_round_trip(Role::server, size);
    expect_round_trip(Role::client, size);
  }
}

}  // namespace
}  // namespace hibiki::protocol

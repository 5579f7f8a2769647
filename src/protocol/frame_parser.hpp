// Incremental RFC 6455 frame parser (§5.2-§5.5, §8.1). No I/O, no allocation.
//
// Bytes in, events out: parse() consumes a prefix of the input and reports either a chunk of
// payload (unmasked in place), a protocol error, or that it needs more bytes. Any split of the
// byte stream gives the same events modulo how payload is chunked. Fragmentation rules,
// the message size limit and streaming UTF-8 validation of text messages are enforced here, so
// a text message fails with invalid_utf8 at the first chunk holding an invalid sequence.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "protocol/close_code.hpp"
#include "protocol/opcode.hpp"
#include "protocol/utf8_validator.hpp"

namespace hibiki::protocol {

// Which side parses: a server reads client frames (must be masked, §5.1), a client reads
// server frames (must not be masked).
enum class Role : std::uint8_t { server, client };

enum class FrameError : std::uint8_t {
  none,
  reserved_bits,            // RSV1-3 set without a negotiated extension
  unknown_opcode,           // 0x3-0x7, 0xB-0xF
  unmasked_frame,           // server role: client frame without mask
  masked_frame,             // client role: server frame with mask
  control_too_long,         // control frame payload > 125 bytes (§5.5)
  control_fragmented,       // control frame without FIN (§5.5)
  unexpected_continuation,  // continuation frame with no message open
  expected_continuation,    // text/binary frame while a fragmented message is open
  length_high_bit,          // 64-bit length with the most significant bit set (§5.2)
  message_too_big,          // message (all fragments) exceeds max_message_bytes
  invalid_utf8,             // text message is not UTF-8
};

// 1002 for framing errors, 1009 for message_too_big, 1007 for invalid_utf8.
CloseCode close_code_for(FrameError error);
// A short stable name, for logs and tests ("reserved_bits").
const char* to_string(FrameError error);

struct FrameParserOptions {
  Role role = Role::server;
  // Upper bound on the payload bytes of one message, summed over its fragments. Checked when a
  // frame header arrives, before any of its payload is accepted.
  std::uint64_t max_message_bytes = 16u << 20;
  // RSV1 is allowed on the first frame of a data message (permessage-deflate negotiated). The
  // compressed flag is then reported and UTF-8 validation of that message is left to the caller.
  bool allow_rsv1 = false;
};

struct FrameEvent {
  enum class Kind : std::uint8_t { need_more, payload, error };
  Kind kind = Kind::need_more;
  FrameError error = FrameError::none;
  // For data frames the message's opcode (text or binary, also on continuation frames);
  // for control frames close, ping or pong.
  Opcode opcode = Opcode::continuation;
  bool frame_start = false;    // first chunk of this frame's payload (its header just ended)
  bool frame_end = false;      // last chunk of this frame's payload
  bool message_start = false;  // first chunk of a data message, or of a control frame
  bool message_end = false;    // last chunk of a data message (FIN frame), or of a control frame
  bool compressed = false;     // the data message had RSV1 set on its first frame
  // With frame_start: the whole payload length of this frame (for a per-frame limit).
  std::uint64_t frame_length = 0;
  // Unmasked payload bytes: a view into the input passed to parse(), valid as long as it is.
  // May be empty (zero-length frames still produce one event with frame_start and frame_end).
  std::span<std::byte> payload;
};

class FrameParser {
 public:
  explicit FrameParser(FrameParserOptions options = {})
      : max_message_bytes_(options.max_message_bytes),
        role_(options.role),
        allow_rsv1_(options.allow_rsv1) {}

  // Consumes a prefix of `input` and fills `event`. Returns the number of bytes consumed.
  // Payload bytes are unmasked in place, hence the writable span.
  //  - need_more: all of `input` was consumed; a partial header is kept inside the parser.
  //  - payload: a chunk of one frame's payload; call again with the rest of the input.
  //  - error: the stream is invalid; the parser stays failed and returns the same error.
  std::size_t parse(std::span<std::byte> input, FrameEvent& event);

  // True between the first frame of a fragmented data message and its FIN frame.
  [[nodiscard]] bool in_fragmented_message() const { return message_opcode_ != 0; }
  [[nodiscard]] bool failed() const { return error_ != FrameError::none; }
  void set_allow_rsv1(bool allow) { allow_rsv1_ = allow; }
  void set_max_message_bytes(std::uint64_t max) { max_message_bytes_ = max; }

 private:
  std::size_t fail(FrameError error, FrameEvent& event);
  FrameError start_frame(FrameEvent& event);

  // The options, stored field by field so they pack with the one-byte state below.
  std::uint64_t max_message_bytes_;
  std::uint64_t frame_remaining_ = 0;   // payload bytes of the current frame not yet consumed
  std::uint64_t message_bytes_ = 0;     // payload bytes of the open data message so far
  std::array<std::byte, 14> header_{};  // 2 + 8 + 4: the largest frame header
  std::array<std::byte, 4> mask_{};
  std::uint8_t header_size_ = 0;     // bytes of header_ filled
  std::uint8_t mask_offset_ = 0;     // position in mask_ of the next payload byte
  std::uint8_t frame_opcode_ = 0;    // raw opcode of the frame being read
  std::uint8_t message_opcode_ = 0;  // text/binary of the open data message, 0 if none
  Role role_;
  bool allow_rsv1_;
  bool in_payload_ = false;  // header parsed, payload bytes follow
  bool frame_fin_ = false;
  bool frame_masked_ = false;
  bool message_compressed_ = false;
  FrameError error_ = FrameError::none;
  Utf8Validator utf8_;
};

}  // namespace hibiki::protocol

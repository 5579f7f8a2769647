// Incremental RFC 6455 frame parser: header checks, streaming unmasking and text validation.
#include "protocol/frame_parser.hpp"

#include <algorithm>
#include <cstring>

#include "protocol/masking.hpp"

namespace hibiki::protocol {
namespace {

constexpr std::uint8_t kFinBit = 0x80;
constexpr std::uint8_t kRsv1Bit = 0x40;
constexpr std::uint8_t kRsv2Bit = 0x20;
constexpr std::uint8_t kRsv3Bit = 0x10;
constexpr std::uint8_t kOpcodeBits = 0x0F;
constexpr std::uint8_t kMaskBit = 0x80;
constexpr std::uint8_t kLengthBits = 0x7F;
constexpr std::uint8_t kLength16 = 126;
constexpr std::uint8_t kLength64 = 127;
constexpr std::uint8_t kBaseHeaderBytes = 2;
constexpr std::uint8_t kOpText = static_cast<std::uint8_t>(Opcode::text);
constexpr std::uint8_t kOpContinuation = static_cast<std::uint8_t>(Opcode::continuation);

constexpr bool is_control_raw(std::uint8_t opcode) {
  return (opcode & 0x8) != 0;
}

// Full header size once the first two bytes are known (§5.2): the extended length, if any,
// then the masking key, if any.
constexpr std::uint8_t full_header_size(std::uint8_t b1) {
  std::uint8_t size = kBaseHeaderBytes;
  const std::uint8_t len7 = b1 & kLengthBits;
  if (len7 == kLength16) {
    size += 2;
  } else if (len7 == kLength64) {
    size += 8;
  }
  if ((b1 & kMaskBit) != 0) size += 4;
  return size;
}

// What check_header needs to know about the parser beyond the header bytes.
struct StreamState {
  std::uint64_t max_message_bytes;
  Role role;
  bool allow_rsv1;
  std::uint8_t message_opcode;  // open fragmented message, 0 if none
  std::uint64_t message_bytes;  // payload bytes of the open message so far
};

// The header checks, in the order that decides which error a frame breaking several rules
// gets. With `length_known` false (only the first two bytes are in) it runs as far as it can
// and returns none for what it cannot decide yet; it is called again on the full header.
FrameError check_header(std::uint8_t b0, std::uint8_t b1, bool length_known, std::uint64_t length,
                        const StreamState& s) {
  const std::uint8_t opcode = b0 & kOpcodeBits;
  const bool control = is_control_raw(opcode);
  // §5.2: RSV1-3 must be 0 unless an extension defines them; permessage-deflate (RFC 7692
  // §6) defines RSV1 on the first frame of a data message only.
  if ((b0 & (kRsv2Bit | kRsv3Bit)) != 0) return FrameError::reserved_bits;
  if ((b0 & kRsv1Bit) != 0 && (!s.allow_rsv1 || control || opcode == kOpContinuation)) {
    return FrameError::reserved_bits;
  }
  // §5.2: reserved opcodes fail the connection.
  if (!is_known_opcode(opcode)) return FrameError::unknown_opcode;
  // §5.1: clients mask every frame, servers none.
  const bool masked = (b1 & kMaskBit) != 0;
  if (s.role == Role::server && !masked) return FrameError::unmasked_frame;
  if (s.role == Role::client && masked) return FrameError::masked_frame;
  // §5.5: control frames are not fragmented and carry at most 125 bytes, so the 16- and
  // 64-bit length forms are already too long.
  const std::uint8_t len7 = b1 & kLengthBits;
  if (control) {
    if ((b0 & kFinBit) == 0) return FrameError::control_fragmented;
    if (static_cast<std::size_t>(len7) > kMaxControlPayload) return FrameError::control_too_long;
  }
  // §5.2: the most significant bit of a 64-bit length must be 0.
  if (len7 == kLength64) {
    if (!length_known) return FrameError::none;
    if ((length >> 63) != 0) return FrameError::length_high_bit;
  }
  // §5.4: continuation frames continue an open message; a new data message cannot start
  // until the open one has its FIN frame (control frames may be interleaved).
  if (!control) {
    if (opcode == kOpContinuation && s.message_opcode == 0) {
      return FrameError::unexpected_continuation;
    }
    if (opcode != kOpContinuation && s.message_opcode != 0) {
      return FrameError::expected_continuation;
    }
    if (!length_known) return FrameError::none;
    // A new message starts from zero; message_bytes never exceeds the limit, so no overflow.
    const std::uint64_t so_far = opcode == kOpContinuation ? s.message_bytes : 0;
    if (length > s.max_message_bytes - so_far) return FrameError::message_too_big;
  }
  return FrameError::none;
}

}  // namespace

// One parser per connection, so keep it small: three uint64 (limit and two counters) 24,
// header_ 14, mask_ 4, twelve one-byte fields and the UTF-8 state, 56 bytes on x86-64.
static_assert(sizeof(FrameParser) <= 56, "FrameParser grew; check the field layout");

CloseCode close_code_for(FrameError error) {
  switch (error) {
    case FrameError::invalid_utf8:
      return CloseCode::invalid_payload;  // §8.1
    case FrameError::message_too_big:
      return CloseCode::message_too_big;  // §7.4.1
    default:
      return CloseCode::protocol_error;
  }
}

const char* to_string(FrameError error) {
  switch (error) {
    case FrameError::none:
      return "none";
    case FrameError::reserved_bits:
      return "reserved_bits";
    case FrameError::unknown_opcode:
      return "unknown_opcode";
    case FrameError::unmasked_frame:
      return "unmasked_frame";
    case FrameError::masked_frame:
      return "masked_frame";
    case FrameError::control_too_long:
      return "control_too_long";
    case FrameError::control_fragmented:
      return "control_fragmented";
    case FrameError::unexpected_continuation:
      return "unexpected_continuation";
    case FrameError::expected_continuation:
      return "expected_continuation";
    case FrameError::length_high_bit:
      return "length_high_bit";
    case FrameError::message_too_big:
      return "message_too_big";
    case FrameError::invalid_utf8:
      return "invalid_utf8";
  }
  return "unknown";
}

std::size_t FrameParser::fail(FrameError error, FrameEvent& event) {
  error_ = error;
  event = FrameEvent{};
  event.kind = FrameEvent::Kind::error;
  event.error = error;
  return 0;
}

FrameError FrameParser::start_frame(FrameEvent& event) {
  const auto b0 = std::to_integer<std::uint8_t>(header_[0]);
  const auto b1 = std::to_integer<std::uint8_t>(header_[1]);
  const std::uint8_t len7 = b1 & kLengthBits;
  std::uint64_t length = len7;
  std::size_t pos = kBaseHeaderBytes;
  // §5.2: extended lengths are in network byte order. Non-minimal encodings (126 with a
  // value below 126, 127 with a value below 65536) are not forbidden by §5.2, so accepted.
  if (len7 == kLength16 || len7 == kLength64) {
    const std::size_t bytes = len7 == kLength16 ? 2 : 8;
    length = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
      length = (length << 8) | std::to_integer<std::uint64_t>(header_[pos + i]);
    }
    pos += bytes;
  }
  const FrameError error = check_header(
      b0, b1, true, length,
      StreamState{max_message_bytes_, role_, allow_rsv1_, message_opcode_, message_bytes_});
  if (error != FrameError::none) {
    fail(error, event);
    return error;
  }

  const std::uint8_t opcode = b0 & kOpcodeBits;
  frame_opcode_ = opcode;
  frame_fin_ = (b0 & kFinBit) != 0;
  frame_masked_ = (b1 & kMaskBit) != 0;
  if (frame_masked_) std::memcpy(mask_.data(), header_.data() + pos, mask_.size());
  mask_offset_ = 0;
  frame_remaining_ = length;
  in_payload_ = true;

  // Control frames leave the open data message untouched (§5.4 allows them in between).
  if (!is_control_raw(opcode)) {
    if (opcode == kOpContinuation) {
      message_bytes_ += length;
    } else {
      message_bytes_ = length;
      message_compressed_ = (b0 & kRsv1Bit) != 0;
      if (!frame_fin_) message_opcode_ = opcode;
      if (opcode == kOpText) utf8_.reset();
    }
  }
  return FrameError::none;
}

std::size_t FrameParser::parse(std::span<std::byte> input, FrameEvent& event) {
  event = FrameEvent{};
  if (error_ != FrameError::none) return fail(error_, event);

  std::size_t used = 0;
  if (!in_payload_) {
    // Gather the header: first the two base bytes, which give the full header size.
    for (;;) {
      const std::uint8_t want = header_size_ < kBaseHeaderBytes
                                    ? kBaseHeaderBytes
                                    : full_header_size(std::to_integer<std::uint8_t>(header_[1]));
      if (header_size_ >= want) break;
      const std::size_t take = std::min<std::size_t>(want - header_size_, input.size() - used);
      if (take == 0) return used;  // need_more; the partial header stays in header_
      std::memcpy(header_.data() + header_size_, input.data() + used, take);
      const bool base_completed =
          header_size_ < kBaseHeaderBytes && header_size_ + take == kBaseHeaderBytes;
      header_size_ = static_cast<std::uint8_t>(header_size_ + take);
      used += take;
      if (base_completed) {
        // Fail fast: most violations are visible in the first two bytes.
        const auto b1 = std::to_integer<std::uint8_t>(header_[1]);
        const FrameError error = check_header(
            std::to_integer<std::uint8_t>(header_[0]), b1, (b1 & kLengthBits) < kLength16,
            b1 & kLengthBits,
            StreamState{max_message_bytes_, role_, allow_rsv1_, message_opcode_, message_bytes_});
        if (error != FrameError::none) return fail(error, event);
      }
    }
    if (start_frame(event) != FrameError::none) return 0;
    // header_size_ stays non-zero until the first payload chunk is reported: that is how a
    // later call knows the chunk it emits is the frame's first (frame_start).
  }

  const std::size_t available = input.size() - used;
  const std::size_t take =
      frame_remaining_ < available ? static_cast<std::size_t>(frame_remaining_) : available;
  if (take == 0 && frame_remaining_ != 0) return used;  // need_more

  std::span<std::byte> chunk = input.subspan(used, take);
  if (frame_masked_) {
    apply_mask(chunk, mask_, mask_offset_);
    mask_offset_ = static_cast<std::uint8_t>((mask_offset_ + take) & 3);
  }
  used += take;
  frame_remaining_ -= take;

  const bool control = is_control_raw(frame_opcode_);
  const bool frame_start = header_size_ != 0;
  const bool frame_end = frame_remaining_ == 0;
  const bool message_end = frame_end && (control || frame_fin_);
  const std::uint8_t opcode =
      control || frame_opcode_ != kOpContinuation ? frame_opcode_ : message_opcode_;
  const bool compressed = !control && message_compressed_;
  header_size_ = 0;

  // §8.1: an invalid text message fails as soon as the bad byte is seen, and a message that
  // ends inside a code point fails at its end. Compressed payloads are checked after inflating.
  if (!control && opcode == kOpText && !compressed) {
    if (!utf8_.feed(chunk) || (message_end && !utf8_.complete())) {
      return fail(FrameError::invalid_utf8, event);
    }
  }

  event.kind = FrameEvent::Kind::payload;
  event.opcode = static_cast<Opcode>(opcode);
  event.frame_start = frame_start;
  event.frame_length = frame_start ? take + frame_remaining_ : 0;
  event.frame_end = frame_end;
  // Text/binary frames open a message; a continuation never does. Control frames are
  // complete one-frame messages of their own.
  event.message_start = frame_start && frame_opcode_ != kOpContinuation;
  event.message_end = message_end;
  event.compressed = compressed;
  event.payload = chunk;

  if (frame_end) {
    in_payload_ = false;
    mask_offset_ = 0;
    if (!control && frame_fin_) {
      message_opcode_ = 0;
      message_bytes_ = 0;
      message_compressed_ = false;
    }
  }
  return used;
}

}  // namespace hibiki::protocol

// Feeds the frame parser a byte stream in fuzzer-chosen chunks, byte by byte and whole; aborts
// unless all three give the same messages and error and every message obeys the parser's rules.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "protocol/close_code.hpp"
#include "protocol/frame_parser.hpp"
#include "protocol/frame_writer.hpp"
#include "protocol/utf8_validator.hpp"

namespace {

using hibiki::fuzz::check;
using hibiki::protocol::FrameError;
using hibiki::protocol::FrameEvent;
using hibiki::protocol::FrameParser;
using hibiki::protocol::FrameParserOptions;
using hibiki::protocol::Opcode;
using hibiki::protocol::Role;
using Bytes = std::vector<std::byte>;

// Config byte: bit 0 the role (client when set), bits 1-3 the message limit, bit 4 allow_rsv1.
constexpr std::array<std::uint64_t, 8> kMaxMessageBytes = {16u << 20, 0,   1,     2,
                                                           125,       126, 65535, 65536};
constexpr hibiki::protocol::MaskKey kKey = {std::byte{0x37}, std::byte{0xFA}, std::byte{0x21},
                                            std::byte{0x3D}};

FrameParserOptions options_from(std::uint8_t config) {
  return {.role = (config & 1) != 0 ? Role::client : Role::server,
          .max_message_bytes = kMaxMessageBytes[(config >> 1) & 7],
          .allow_rsv1 = (config & 0x10) != 0};
}

struct Message {
  Opcode opcode = Opcode::continuation;
  bool compressed = false;
  Bytes payload;
  bool operator==(const Message&) const = default;
};

// What a stream amounts to, whatever its chunking: the messages it completed, then its error.
struct Outcome {
  std::vector<Message> messages;
  FrameError error = FrameError::none;
  bool operator==(const Outcome&) const = default;
};

std::string_view as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Drives one parser over a stream fed chunk by chunk, checking every event as it comes.
class StreamRun {
 public:
  StreamRun(const FrameParserOptions& options, bool byte_by_byte)
      : options_(options), parser_(options), byte_by_byte_(byte_by_byte) {}

  // Feeds one chunk, as an exact-size copy so any over-read is an ASan report. Returns false
  // once the stream has failed.
  bool feed(std::span<const std::uint8_t> bytes) {
    if (outcome_.error != FrameError::none) return false;
    Bytes chunk = hibiki::fuzz::exact_copy<std::byte>(bytes);
    std::span<std::byte> rest(chunk);
    for (;;) {
      FrameEvent event;
      const std::size_t used = parser_.parse(rest, event);
      check(used <= rest.size(), "parse consumed more than it was given");
      switch (event.kind) {
        case FrameEvent::Kind::need_more:
          check(used == rest.size(), "need_more left input unconsumed");
          check(!parser_.failed(), "need_more from a failed parser");
          return true;
        case FrameEvent::Kind::error:
          on_error(event, used, rest);
          return false;
        case FrameEvent::Kind::payload:
          check(used > 0, "payload event without progress");
          check(event.payload.empty() ||
                    (event.payload.data() >= rest.data() &&
                     event.payload.data() + event.payload.size() <= rest.data() + used),
                "payload outside the bytes consumed");
          on_payload(event);
          rest = rest.subspan(used);
          break;
      }
    }
  }

  [[nodiscard]] const Outcome& outcome() const { return outcome_; }

 private:
  void on_error(const FrameEvent& event, std::size_t used, std::span<std::byte> rest) {
    check(used == 0 && event.error != FrameError::none, "error event consumed bytes or is none");
    check(parser_.failed(), "error event but the parser is not failed");
    outcome_.error = event.error;
    // Errors are sticky: the same error, nothing consumed, whatever comes next.
    std::array<std::byte, 2> more{};
    for (std::span<std::byte> next : {rest, std::span<std::byte>(), std::span<std::byte>(more)}) {
      FrameEvent again;
      check(parser_.parse(next, again) == 0 && again.kind == FrameEvent::Kind::error &&
                again.error == event.error,
            "error is not sticky");
    }
    const auto code = hibiki::protocol::close_code_for(event.error);
    check(code == (event.error == FrameError::invalid_utf8
                       ? hibiki::protocol::CloseCode::invalid_payload
                   : event.error == FrameError::message_too_big
                       ? hibiki::protocol::CloseCode::message_too_big
                       : hibiki::protocol::CloseCode::protocol_error),
          "frame error maps to the wrong close code");
    check(std::string_view(hibiki::protocol::to_string(event.error)) != "unknown",
          "frame error without a name");
    if (event.error == FrameError::invalid_utf8) {
      check(message_.opcode == Opcode::text || !message_open_, "invalid_utf8 in a binary message");
      // Byte by byte the failing chunk is one byte, unmasked in place if it was payload (a
      // header byte when a zero-length final frame ends inside a code point): the message so
      // far, or it plus that byte, cannot be valid UTF-8.
      if (byte_by_byte_) {
        Bytes with_last = message_.payload;
        with_last.insert(with_last.end(), rest.begin(), rest.end());
        check(!hibiki::protocol::is_valid_utf8(message_.payload) ||
                  !hibiki::protocol::is_valid_utf8(with_last),
              "invalid_utf8 on valid UTF-8");
      }
    }
  }

  void on_payload(const FrameEvent& event) {
    check(!event.message_start || event.frame_start, "message_start without frame_start");
    check(!event.message_end || event.frame_end, "message_end without frame_end");
    check(options_.allow_rsv1 || !event.compressed, "compressed without allow_rsv1");
    if (hibiki::protocol::is_control(event.opcode)) {
      check(event.opcode == Opcode::close || event.opcode == Opcode::ping ||
                event.opcode == Opcode::pong,
            "control event with a data opcode");
      check(event.frame_start == event.message_start && event.frame_end == event.message_end &&
                !event.compressed,
            "control frame flags");
      if (event.frame_start) {
        check(!control_open_, "control frame started inside another");
        control_ = Message{.opcode = event.opcode};
        control_open_ = true;
      }
      check(control_open_ && control_.opcode == event.opcode, "control payload outside its frame");
      control_.payload.insert(control_.payload.end(), event.payload.begin(), event.payload.end());
      check(control_.payload.size() <= hibiki::protocol::kMaxControlPayload,
            "control frame over 125 bytes");
      if (event.frame_end) {
        control_open_ = false;
        outcome_.messages.push_back(std::move(control_));
        control_ = Message{};
      }
      return;
    }

    check(event.opcode == Opcode::text || event.opcode == Opcode::binary,
          "data event without text or binary opcode");
    check(!control_open_, "data frame inside a control frame");
    if (event.message_start) {
      check(!message_open_, "message started inside another");
      message_ = Message{.opcode = event.opcode, .compressed = event.compressed};
      message_open_ = true;
    }
    check(
        message_open_ && message_.opcode == event.opcode && message_.compressed == event.compressed,
        "data payload outside its message");
    message_.payload.insert(message_.payload.end(), event.payload.begin(), event.payload.end());
    check(message_.payload.size() <= options_.max_message_bytes, "message over max_message_bytes");
    if (event.message_end) {
      check(!parser_.in_fragmented_message(), "message ended but still fragmented");
      // §8.1: a text message that completed is valid UTF-8 (compressed ones are checked after
      // inflating, by the caller).
      check(message_.opcode != Opcode::text || message_.compressed ||
                hibiki::protocol::is_valid_utf8(message_.payload),
            "completed text message is not UTF-8");
      message_open_ = false;
      outcome_.messages.push_back(std::move(message_));
      message_ = Message{};
    } else if (event.frame_end) {
      check(parser_.in_fragmented_message(), "fragment ended but no message open");
    }
  }

  FrameParserOptions options_;
  FrameParser parser_;
  bool byte_by_byte_;
  Outcome outcome_;
  Message message_;  // the open data message; empty when none is open
  bool message_open_ = false;
  Message control_;  // the open control frame
  bool control_open_ = false;
};

// §5.5.1: a close payload that parses cleanly is rebuilt byte for byte by make_close_payload.
void check_close_payload(std::span<const std::byte> payload) {
  const hibiki::protocol::ParsedClose parsed = hibiki::protocol::parse_close_payload(payload);
  using hibiki::protocol::ClosePayloadError;
  switch (parsed.error) {
    case ClosePayloadError::none: {
      if (payload.empty()) {
        check(parsed.code == 1005 && parsed.reason.empty(), "empty close payload is not 1005");
        return;
      }
      check(hibiki::protocol::is_valid_wire_close_code(parsed.code), "accepted a bad close code");
      const auto rebuilt = hibiki::protocol::make_close_payload(parsed.code, parsed.reason);
      check(rebuilt.size == payload.size() &&
                std::memcmp(rebuilt.bytes.data(), payload.data(), payload.size()) == 0,
            "close payload does not round-trip");
      return;
    }
    case ClosePayloadError::one_byte_payload:
      check(payload.size() == 1, "one_byte_payload for another size");
      break;
    case ClosePayloadError::invalid_code:
      check(payload.size() >= 2 && !hibiki::protocol::is_valid_wire_close_code(parsed.code),
            "invalid_code for a valid code");
      break;
    case ClosePayloadError::invalid_utf8_reason:
      check(!hibiki::protocol::is_valid_utf8(payload.subspan(2)), "invalid_utf8_reason on UTF-8");
      break;
    case ClosePayloadError::too_long:
      check(payload.size() > hibiki::protocol::kMaxControlPayload, "too_long for a short payload");
      break;
  }
  const auto code = hibiki::protocol::close_code_for(parsed.error);
  check(code == (parsed.error == ClosePayloadError::invalid_utf8_reason
                     ? hibiki::protocol::CloseCode::invalid_payload
                     : hibiki::protocol::CloseCode::protocol_error),
        "close payload error maps to the wrong close code");
}

// make_close_payload with any reason: at most 125 bytes, a prefix of the reason cut on a UTF-8
// boundary, and parse_close_payload reads the same code and reason back.
void check_make_close(std::uint16_t code, std::string_view reason) {
  const auto made = hibiki::protocol::make_close_payload(code, reason);
  if (code == 1005) {
    check(made.size == 0, "1005 gave a non-empty close payload");
    return;
  }
  check(made.size >= 2 && made.size <= hibiki::protocol::kMaxControlPayload,
        "close payload size out of range");
  const std::string_view kept = as_text(made.view().subspan(2));
  check(reason.starts_with(kept), "close reason is not a prefix of the reason given");
  if (!hibiki::protocol::is_valid_utf8(reason)) return;
  check(hibiki::protocol::is_valid_utf8(kept), "close reason cut inside a code point");
  // A code point is at most 4 bytes, so the cut drops at most 3 bytes below the limit.
  check(kept.size() == reason.size() || kept.size() + 3 >= hibiki::protocol::kMaxCloseReason,
        "close reason cut shorter than needed");
  if (!hibiki::protocol::is_valid_wire_close_code(code)) return;
  const auto parsed = hibiki::protocol::parse_close_payload(made.view());
  check(parsed.error == hibiki::protocol::ClosePayloadError::none && parsed.code == code &&
            parsed.reason == kept,
        "made close payload does not parse back");
}

// Re-encodes a message as one frame with the writer and parses it back with a fresh parser.
void check_rewrite(const FrameParserOptions& options, const Message& message) {
  std::string wire;
  const hibiki::protocol::FrameFlags flags{.fin = true, .rsv1 = message.compressed};
  const bool masked = options.role == Role::server;
  if (masked) {
    hibiki::protocol::append_masked_frame(wire, message.opcode, message.payload, kKey, flags);
  } else {
    hibiki::protocol::append_frame(wire, message.opcode, message.payload, flags);
  }
  check(wire.size() == hibiki::protocol::frame_size(message.payload.size(), masked),
        "frame_size disagrees with the written frame");
  const auto header = hibiki::protocol::encode_frame_header(message.opcode, message.payload.size(),
                                                            flags, masked ? &kKey : nullptr);
  check(wire.size() == header.size + message.payload.size() &&
            std::memcmp(wire.data(), header.bytes.data(), header.size) == 0,
        "append_frame disagrees with encode_frame_header");

  StreamRun run(options, false);
  run.feed({reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()});
  check(run.outcome().error == FrameError::none && run.outcome().messages.size() == 1 &&
            run.outcome().messages.front() == message,
        "a rewritten message does not parse back");
}

}  // namespace

// Layout: [config][T][stream][chunk tape of T bytes] (see ChunkTape and options_from).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const FrameParserOptions options = options_from(data[0]);
  hibiki::fuzz::ChunkTape tape({data + 1, size - 1});
  const std::span<const std::uint8_t> stream = tape.body();

  StreamRun whole(options, false);
  whole.feed(stream);

  StreamRun bytes(options, true);
  for (std::size_t i = 0; i < stream.size(); ++i) {
    if (!bytes.feed(stream.subspan(i, 1))) break;
  }

  StreamRun chunks(options, false);
  for (std::size_t offset = 0; offset < stream.size();) {
    const std::size_t n = tape.next(stream.size() - offset);
    if (!chunks.feed(stream.subspan(offset, n))) break;
    offset += n;
  }

  check(whole.outcome() == bytes.outcome(), "whole and byte-by-byte parses disagree");
  check(whole.outcome() == chunks.outcome(), "whole and chunked parses disagree");

  for (const Message& message : whole.outcome().messages) {
    if (message.opcode == Opcode::close) check_close_payload(message.payload);
    const std::uint16_t code =
        message.payload.size() >= 2
            ? static_cast<std::uint16_t>(std::to_integer<unsigned>(message.payload[0]) << 8 |
                                         std::to_integer<unsigned>(message.payload[1]))
            : std::uint16_t{1000};
    check_make_close(code, as_text(message.payload));
    check_rewrite(options, message);
  }
  return 0;
}

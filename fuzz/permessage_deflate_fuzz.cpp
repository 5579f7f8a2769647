// Fuzzes permessage-deflate inflation: compressed messages fed whole and in fuzzer-chosen
// fragments must inflate alike within the cap, errors stay sticky, and Deflater output of any
// bytes inflates back to them at every window size.
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "protocol/permessage_deflate.hpp"

namespace {

using hibiki::fuzz::check;
using hibiki::protocol::Deflater;
using hibiki::protocol::Inflater;
using Status = hibiki::protocol::Inflater::Status;

// Config byte: bits 0-2 window bits - 8, bit 3 no_context_takeover, bits 4-5 the message cap,
// bit 6 release() after every message.
constexpr std::array<std::size_t, 4> kMaxBytes = {1u << 20, 0, 1, 300};
constexpr std::size_t kLengthBytes = 2;

struct Config {
  std::uint8_t window_bits;
  bool no_context_takeover;
  std::size_t max_bytes;
  bool release;
};

Config config_from(std::uint8_t byte) {
  return {.window_bits = static_cast<std::uint8_t>(8 + (byte & 7)),
          .no_context_takeover = (byte & 0x08) != 0,
          .max_bytes = kMaxBytes[(byte >> 4) & 3],
          .release = (byte & 0x40) != 0};
}

// The body is a list of messages, each a 2-byte big-endian length then that many compressed
// bytes; a length past the end takes what is left.
std::vector<std::span<const std::uint8_t>> split_messages(std::span<const std::uint8_t> body) {
  std::vector<std::span<const std::uint8_t>> messages;
  while (body.size() >= kLengthBytes) {
    const std::size_t length = std::size_t{body[0]} << 8 | body[1];
    body = body.subspan(kLengthBytes);
    const std::size_t n = length < body.size() ? length : body.size();
    messages.push_back(body.first(n));
    body = body.subspan(n);
  }
  return messages;
}

struct Inflated {
  Status status = Status::ok;
  std::string text;
};

// Inflates each message, its compressed bytes cut into pieces by `next_size`, until the first
// error; the output of every call is checked against the cap and the sticky error.
template <typename NextSize>
std::vector<Inflated> inflate_all(const Config& config,
                                  const std::vector<std::span<const std::uint8_t>>& messages,
                                  NextSize next_size) {
  Inflater inflater(config.window_bits, config.no_context_takeover);
  std::vector<Inflated> results;
  for (std::span<const std::uint8_t> message : messages) {
    Inflated& result = results.emplace_back();
    for (std::size_t offset = 0; offset < message.size() && result.status == Status::ok;) {
      const std::size_t n = next_size(message.size() - offset);
      const std::vector<std::byte> piece =
          hibiki::fuzz::exact_copy<std::byte>(message.subspan(offset, n));
      result.status = inflater.feed(piece, result.text, config.max_bytes);
      offset += n;
    }
    if (result.status == Status::ok) result.status = inflater.finish(result.text, config.max_bytes);
    check(result.text.size() <= config.max_bytes, "inflated past max_bytes");
    if (result.status != Status::ok) {
      check(result.status != Status::no_memory, "no_memory without an allocation failure");
      // Sticky until reset(): every call repeats the error and adds nothing.
      const std::size_t size = result.text.size();
      const std::array<std::byte, 1> more{};
      check(inflater.feed(more, result.text, config.max_bytes) == result.status &&
                inflater.finish(result.text, config.max_bytes) == result.status &&
                result.text.size() == size,
            "inflate error is not sticky");
      const auto code = hibiki::protocol::close_code_for(result.status);
      check(
          code == (result.status == Status::too_big ? hibiki::protocol::CloseCode::message_too_big
                                                    : hibiki::protocol::CloseCode::invalid_payload),
          "inflate error maps to the wrong close code");
      check(std::string_view(hibiki::protocol::to_string(result.status)) != "unknown",
            "inflate error without a name");
      inflater.reset();
      std::string empty;
      check(inflater.feed({}, empty, config.max_bytes) == Status::ok &&
                inflater.finish(empty, config.max_bytes) == Status::ok && empty.empty(),
            "reset() did not clear the error");
      break;
    }
    if (config.release) {
      const bool released = inflater.release();
      check(released == (config.no_context_takeover || !inflater.holds_context()),
            "release() under context takeover freed the window");
    }
  }
  return results;
}

// Deflater output inflates back to the input, message after message (context takeover
// included), at the same window size.
void check_round_trip(const Config& config, Deflater& deflater, Inflater& inflater,
                      std::string_view message) {
  std::string compressed;
  check(deflater.compress(message, compressed), "compress failed without an allocation failure");
  check(!compressed.empty(), "compress gave an empty payload");
  std::string inflated;
  const std::size_t unlimited = std::numeric_limits<std::size_t>::max();
  const std::span<const std::byte> payload(reinterpret_cast<const std::byte*>(compressed.data()),
                                           compressed.size());
  check(inflater.feed(payload, inflated, unlimited) == Status::ok &&
            inflater.finish(inflated, unlimited) == Status::ok,
        "deflated message does not inflate");
  check(inflated == message, "deflate/inflate round trip changed the message");
  if (config.release) {
    deflater.release();
    inflater.release();
  }
}

}  // namespace

// Layout: [config][T][messages][chunk tape of T bytes] (see ChunkTape, config_from and
// split_messages).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Config config = config_from(data[0]);
  hibiki::fuzz::ChunkTape tape({data + 1, size - 1});
  const std::vector<std::span<const std::uint8_t>> messages = split_messages(tape.body());

  const std::vector<Inflated> whole =
      inflate_all(config, messages, [](std::size_t remaining) { return remaining; });
  const std::vector<Inflated> pieces = inflate_all(
      config, messages, [&tape](std::size_t remaining) { return tape.next(remaining); });

  check(whole.size() == pieces.size(), "whole and fragmented runs stopped at different messages");
  for (std::size_t i = 0; i < whole.size(); ++i) {
    check(whole[i].status == pieces[i].status, "whole and fragmented inflation disagree");
    if (whole[i].status == Status::ok) {
      check(whole[i].text == pieces[i].text, "whole and fragmented inflation differ");
    } else {
      // Where an error stops zlib may depend on the pieces; what came out before must agree.
      const std::string& a = whole[i].text;
      const std::string& b = pieces[i].text;
      check(a.size() <= b.size() ? b.starts_with(a) : a.starts_with(b),
            "whole and fragmented inflation differ before the error");
    }
  }

  Deflater deflater(config.window_bits, config.no_context_takeover);
  Inflater inflater(config.window_bits, config.no_context_takeover);
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (i < whole.size() && whole[i].status == Status::ok) {
      check_round_trip(config, deflater, inflater, whole[i].text);
    }
    check_round_trip(config, deflater, inflater, hibiki::fuzz::as_chars(messages[i]));
  }
  return 0;
}

// Streaming UTF-8 validation (RFC 3629) that fails at the first byte that cannot start or
// continue a valid sequence, even when the sequence is split across chunks. No allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace hibiki::protocol {

class Utf8Validator {
 public:
  // Validates the next chunk of the stream. Returns false as soon as a byte makes the stream
  // invalid (overlong forms, surrogates, code points past U+10FFFF, stray continuation
  // bytes, truncated sequences followed by a non-continuation byte). Once false, stays false.
  [[nodiscard]] bool feed(std::span<const std::byte> chunk);
  [[nodiscard]] bool feed(std::string_view chunk) {
    return feed(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(chunk.data()), chunk.size()));
  }
  // True when everything fed so far is valid and ends on a code point boundary.
  [[nodiscard]] bool complete() const { return state_ == kAccept; }
  [[nodiscard]] bool failed() const { return state_ == kReject; }
  void reset() { state_ = kAccept; }

 private:
  static constexpr std::uint8_t kAccept = 0;
  static constexpr std::uint8_t kReject = 1;
  std::uint8_t state_ = kAccept;
};

// Whole-buffer validation (fast path for complete messages and close reasons).
[[nodiscard]] bool is_valid_utf8(std::span<const std::byte> data);
[[nodiscard]] bool is_valid_utf8(std::string_view text);

}  // namespace hibiki::protocol

// Streaming RFC 3629 UTF-8 validation with a byte-class DFA that rejects at the first bad byte.
#include "protocol/utf8_validator.hpp"

#include <array>
#include <cstring>

#include <simdjson.h>

namespace hibiki::protocol {
namespace {

// Byte classes. RFC 3629 §4 restricts the second byte after some lead bytes, so the
// continuation range 80..BF is split into the three sub-ranges those rules need.
enum ByteClass : std::uint8_t {
  kAscii,    // 00..7F
  kCont80,   // 80..8F
  kCont90,   // 90..9F
  kContA0,   // A0..BF
  kInvalid,  // C0, C1 (only overlong forms), F5..FF (past U+10FFFF)
  kLead2,    // C2..DF
  kLeadE0,   // E0: second byte A0..BF, else overlong
  kLead3,    // E1..EC, EE..EF
  kLeadED,   // ED: second byte 80..9F, else a surrogate U+D800..U+DFFF
  kLeadF0,   // F0: second byte 90..BF, else overlong
  kLead4,    // F1..F3
  kLeadF4,   // F4: second byte 80..8F, else past U+10FFFF
  kClassCount,
};

// States. The first two must equal Utf8Validator::kAccept and kReject (checked in feed()).
enum State : std::uint8_t {
  kAcceptState,  // on a code point boundary
  kRejectState,  // invalid; absorbing
  kNeed1,        // one more continuation byte, any of 80..BF
  kNeed2,        // two more, the next one 80..BF
  kNeed2E0,      // two more, the next one A0..BF
  kNeed2ED,      // two more, the next one 80..9F
  kNeed3,        // three more, the next one 80..BF
  kNeed3F0,      // three more, the next one 90..BF
  kNeed3F4,      // three more, the next one 80..8F
  kStateCount,
};

constexpr std::array<std::uint8_t, 256> kByteClasses = [] {
  std::array<std::uint8_t, 256> classes{};
  for (int b = 0; b < 256; ++b) {
    std::uint8_t c = kInvalid;
    if (b <= 0x7F) {
      c = kAscii;
    } else if (b <= 0x8F) {
      c = kCont80;
    } else if (b <= 0x9F) {
      c = kCont90;
    } else if (b <= 0xBF) {
      c = kContA0;
    } else if (b >= 0xC2 && b <= 0xDF) {
      c = kLead2;
    } else if (b == 0xE0) {
      c = kLeadE0;
    } else if (b == 0xED) {
      c = kLeadED;
    } else if (b >= 0xE1 && b <= 0xEF) {
      c = kLead3;
    } else if (b == 0xF0) {
      c = kLeadF0;
    } else if (b >= 0xF1 && b <= 0xF3) {
      c = kLead4;
    } else if (b == 0xF4) {
      c = kLeadF4;
    }
    classes[static_cast<std::size_t>(b)] = c;
  }
  return classes;
}();

constexpr std::size_t kTableSize = std::size_t{kStateCount} * std::size_t{kClassCount};

// Row-major [state][class] -> next state. Everything not listed rejects.
constexpr std::array<std::uint8_t, kTableSize> kTransitions = [] {
  std::array<std::uint8_t, kTableSize> t{};
  for (auto& next : t)
    next = kRejectState;
  auto set = [&t](State from, ByteClass c, State to) {
    t[static_cast<std::size_t>(from) * kClassCount + c] = to;
  };
  set(kAcceptState, kAscii, kAcceptState);
  set(kAcceptState, kLead2, kNeed1);
  set(kAcceptState, kLeadE0, kNeed2E0);
  set(kAcceptState, kLead3, kNeed2);
  set(kAcceptState, kLeadED, kNeed2ED);
  set(kAcceptState, kLeadF0, kNeed3F0);
  set(kAcceptState, kLead4, kNeed3);
  set(kAcceptState, kLeadF4, kNeed3F4);
  for (ByteClass c : {kCont80, kCont90, kContA0}) {
    set(kNeed1, c, kAcceptState);
    set(kNeed2, c, kNeed1);
    set(kNeed3, c, kNeed2);
  }
  set(kNeed2E0, kContA0, kNeed1);
  set(kNeed2ED, kCont80, kNeed1);
  set(kNeed2ED, kCont90, kNeed1);
  set(kNeed3F0, kCont90, kNeed2);
  set(kNeed3F0, kContA0, kNeed2);
  set(kNeed3F4, kCont80, kNeed2);
  return t;
}();

// Chunks at least this long (starting on a boundary) go through simdjson's SIMD validator.
constexpr std::size_t kSimdMinBytes = 64;
constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

constexpr bool is_continuation(unsigned char b) {
  return (b & 0xC0) == 0x80;
}

// Length of the longest prefix of `p[0..n)` that does not end inside a multi-byte sequence:
// a sequence started in the last 3 bytes may be incomplete, so the prefix stops before its
// lead byte. The DFA then checks the (at most 3-byte) tail and keeps its state.
std::size_t boundary_prefix(const unsigned char* p, std::size_t n) {
  const std::size_t stop = n >= 3 ? n - 3 : 0;
  for (std::size_t i = n; i > stop; --i) {
    unsigned char b = p[i - 1];
    if (is_continuation(b)) continue;
    return b >= 0xC0 ? i - 1 : n;
  }
  return n;
}

}  // namespace

bool Utf8Validator::feed(std::span<const std::byte> chunk) {
  static_assert(kAccept == kAcceptState && kReject == kRejectState);
  if (state_ == kReject) return false;

  const auto* p = reinterpret_cast<const unsigned char*>(chunk.data());
  const std::size_t n = chunk.size();
  std::size_t i = 0;
  std::uint8_t state = state_;

  if (state == kAccept && n >= kSimdMinBytes) {
    i = boundary_prefix(p, n);
    if (!simdjson::validate_utf8(reinterpret_cast<const char*>(p), i)) {
      state_ = kReject;
      return false;
    }
  }

  while (i < n) {
    if (state == kAccept) {
      // ASCII runs need no state changes: skip them a machine word at a time.
      while (n - i >= 8) {
        std::uint64_t word;
        std::memcpy(&word, p + i, sizeof(word));
        if ((word & kHighBits) != 0) break;
        i += 8;
      }
      if (i == n) break;
    }
    state = kTransitions[static_cast<std::size_t>(state) * kClassCount + kByteClasses[p[i]]];
    if (state == kReject) {
      state_ = kReject;
      return false;
    }
    ++i;
  }
  state_ = state;
  return true;
}

bool is_valid_utf8(std::span<const std::byte> data) {
  if (data.empty()) return true;
  return simdjson::validate_utf8(reinterpret_cast<const char*>(data.data()), data.size());
}

bool is_valid_utf8(std::string_view text) {
  if (text.empty()) return true;
  return simdjson::validate_utf8(text.data(), text.size());
}

}  // namespace hibiki::protocol

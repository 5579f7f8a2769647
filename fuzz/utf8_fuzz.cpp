// Differential UTF-8 fuzzer: Utf8Validator in fuzzer-chosen chunks and byte by byte, and
// is_valid_utf8 (simdjson), against a slow reference built from the encoder; any disagreement,
// or a first failure at another byte than the reference's first invalid one, aborts.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_support.hpp"
#include "protocol/utf8_validator.hpp"

namespace {

using hibiki::fuzz::check;
using hibiki::protocol::Utf8Validator;

// RFC 3629 §3, the textbook way: the bytes of code point `cp`, packed big-endian, and their count.
struct Encoded {
  std::uint32_t packed = 0;
  std::size_t size = 0;
};
Encoded encode(std::uint32_t cp) {
  if (cp < 0x80) return {cp, 1};
  if (cp < 0x800) return {(0xC0 | cp >> 6) << 8 | (0x80 | (cp & 0x3F)), 2};
  if (cp < 0x10000) {
    return {(0xE0 | cp >> 12) << 16 | (0x80 | (cp >> 6 & 0x3F)) << 8 | (0x80 | (cp & 0x3F)), 3};
  }
  return {(0xF0 | cp >> 18) << 24 | (0x80 | (cp >> 12 & 0x3F)) << 16 |
              (0x80 | (cp >> 6 & 0x3F)) << 8 | (0x80 | (cp & 0x3F)),
          4};
}

// Every encoding of every Unicode scalar value (U+0000-U+10FFFF minus the surrogates), and
// every proper prefix of one, by length. Valid UTF-8 is exactly a sequence of these encodings,
// so nothing here re-derives the RFC's byte ranges that the validator under test encodes.
struct Encodings {
  std::array<std::vector<std::uint32_t>, 5> complete;  // [n]: n-byte encodings
  std::array<std::vector<std::uint32_t>, 4> prefixes;  // [n]: n-byte proper prefixes
  Encodings() {
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      const Encoded e = encode(cp);
      complete[e.size].push_back(e.packed);
      for (std::size_t n = 1; n < e.size; ++n) {
        prefixes[n].push_back(e.packed >> (8 * (e.size - n)));
      }
    }
    for (auto* sets : {&complete[0], &complete[1], &complete[2], &complete[3], &complete[4],
                       &prefixes[0], &prefixes[1], &prefixes[2], &prefixes[3]}) {
      std::sort(sets->begin(), sets->end());
      sets->erase(std::unique(sets->begin(), sets->end()), sets->end());
    }
  }
};

struct Reference {
  std::size_t first_invalid = 0;  // index of the first byte no valid text can have; size if none
  std::vector<bool> boundary;     // [k]: bytes [0, k) are valid and end on a code point boundary
  [[nodiscard]] bool valid() const { return boundary.back(); }
};

// Reads the input one byte at a time: the bytes since the last boundary either complete an
// encoding, start one, or make the input invalid right there.
Reference reference(std::span<const std::uint8_t> text) {
  static const Encodings encodings;
  Reference ref{text.size(), std::vector<bool>(text.size() + 1, false)};
  ref.boundary[0] = true;
  std::uint32_t pending = 0;
  std::size_t pending_size = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    pending = pending << 8 | text[i];
    ++pending_size;
    if (std::binary_search(encodings.complete[pending_size].begin(),
                           encodings.complete[pending_size].end(), pending)) {
      ref.boundary[i + 1] = true;
      pending = 0;
      pending_size = 0;
    } else if (pending_size > 3 ||
               !std::binary_search(encodings.prefixes[pending_size].begin(),
                                   encodings.prefixes[pending_size].end(), pending)) {
      ref.first_invalid = i;
      break;
    }
  }
  return ref;
}

}  // namespace

// Layout: [T][text][chunk tape of T bytes] (see ChunkTape).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hibiki::fuzz::ChunkTape tape({data, size});
  const std::span<const std::uint8_t> text = tape.body();
  const Reference ref = reference(text);

  const std::vector<std::byte> copy = hibiki::fuzz::exact_copy<std::byte>(text);
  check(hibiki::protocol::is_valid_utf8(copy) == ref.valid(), "is_valid_utf8 (bytes) disagrees");
  check(hibiki::protocol::is_valid_utf8(hibiki::fuzz::as_chars(text)) == ref.valid(),
        "is_valid_utf8 (text) disagrees");

  // Byte by byte: feed() must fail exactly at the reference's first invalid byte.
  Utf8Validator single;
  std::size_t failed_at = text.size();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!single.feed(std::span<const std::byte>(copy).subspan(i, 1))) {
      failed_at = i;
      break;
    }
    check(single.complete() == ref.boundary[i + 1], "complete() disagrees byte by byte");
  }
  check(failed_at == ref.first_invalid, "feed() failed at another byte than the reference");
  check(single.failed() == (failed_at < text.size()), "failed() disagrees byte by byte");

  // In chunks (exact-size copies, long ones take the SIMD path): a chunk fails exactly when it
  // holds the first invalid byte or comes after it.
  Utf8Validator chunked;
  for (std::size_t offset = 0; offset < text.size();) {
    const std::size_t n = tape.next(text.size() - offset);
    const std::vector<std::byte> chunk =
        hibiki::fuzz::exact_copy<std::byte>(text.subspan(offset, n));
    const bool ok = chunked.feed(chunk);
    offset += n;
    check(ok == (ref.first_invalid >= offset), "feed() in chunks disagrees");
    check(chunked.failed() == !ok, "failed() disagrees in chunks");
    check(!ok || chunked.complete() == ref.boundary[offset], "complete() disagrees in chunks");
  }
  check(chunked.feed(std::span<const std::byte>()) == (ref.first_invalid == text.size()),
        "empty feed() changed the verdict");

  // Whole, after reset(), which must forget the chunked run.
  chunked.reset();
  check(chunked.feed(copy) == (ref.first_invalid == text.size()), "feed() whole disagrees");
  check(chunked.complete() == ref.valid(), "complete() disagrees whole");
  return 0;
}

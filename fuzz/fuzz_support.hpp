// What the fuzz targets share: a check that survives NDEBUG, exact-size copies so ASan sees any
// over-read, and a chunk tape that lets the fuzzer choose every split point of a stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace hibiki::fuzz {

// Aborts with `what` when `ok` is false. Fuzz targets report findings by crashing, and unlike
// assert() this stays in release builds.
inline void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

// A heap copy of exactly `bytes.size()` bytes: reading one past the end is a heap overflow ASan
// reports, which it would not be inside a larger buffer.
template <typename T>
std::vector<T> exact_copy(std::span<const std::uint8_t> bytes) {
  static_assert(sizeof(T) == 1);
  std::vector<T> out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

inline std::string_view as_chars(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Splits an input laid out as [T][body][tape of T bytes] and hands out chunk sizes for the
// body from the tape, one byte per chunk (0-255; 0 is an empty feed), cycling through it. An
// input without a tape (T = 0 or too short) is fed in one chunk, so a plain seed is just
// "\x00" followed by the stream.
class ChunkTape {
 public:
  explicit ChunkTape(std::span<const std::uint8_t> data) {
    if (data.empty()) return;
    const std::size_t wanted = data[0];
    const std::size_t tape_size = wanted <= data.size() - 1 ? wanted : data.size() - 1;
    body_ = data.subspan(1, data.size() - 1 - tape_size);
    tape_ = data.subspan(data.size() - tape_size);
  }

  [[nodiscard]] std::span<const std::uint8_t> body() const { return body_; }

  // Size of the next chunk when `remaining` body bytes are left. A pass over the whole tape
  // that fed nothing (all zeros) ends with the rest in one chunk, so feeding always ends.
  [[nodiscard]] std::size_t next(std::size_t remaining) {
    if (tape_.empty()) return remaining;
    if (position_ == tape_.size()) {
      position_ = 0;
      if (!progress_in_pass_) return remaining;
      progress_in_pass_ = false;
    }
    const std::size_t size = tape_[position_++];
    if (size != 0) progress_in_pass_ = true;
    return size < remaining ? size : remaining;
  }

 private:
  std::span<const std::uint8_t> body_;
  std::span<const std::uint8_t> tape_;
  std::size_t position_ = 0;
  bool progress_in_pass_ = false;
};

}  // namespace hibiki::fuzz

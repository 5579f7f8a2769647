// UTF-8 validation throughput over whole text messages: plain ASCII, and text that mixes
// one- to four-byte sequences.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "protocol/utf8_validator.hpp"

namespace {

std::string ascii_text(std::size_t size) {
  constexpr std::string_view kWords = "The quick brown fox jumps over the lazy dog. 0123456789 ";
  std::string text;
  text.reserve(size);
  while (text.size() < size)
    text.push_back(kWords[text.size() % kWords.size()]);
  return text;
}

// Latin accents (2 bytes), CJK and punctuation (3 bytes), emoji (4 bytes) between ASCII words,
// whole code points only, padded with ASCII to the exact size.
std::string mixed_text(std::size_t size) {
  constexpr std::string_view kPieces[] = {
      "Grüße ", "café ", "日本語のテキスト ", "— ", "😀🎉 ", "naïve ", "Привет ", "ok ", "€5 ",
  };
  std::string text;
  text.reserve(size);
  for (std::size_t i = 0;; ++i) {
    const std::string_view piece = kPieces[i % std::size(kPieces)];
    if (text.size() + piece.size() > size) break;
    text.append(piece);
  }
  text.append(size - text.size(), ' ');
  return text;
}

void validate(benchmark::State& state, const std::string& text) {
  if (!hibiki::protocol::is_valid_utf8(text)) {
    state.SkipWithError("input is not valid UTF-8");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(text.data());
    const bool valid = hibiki::protocol::is_valid_utf8(text);
    benchmark::DoNotOptimize(valid);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(text.size()));
}

void BM_Utf8Ascii(benchmark::State& state) {
  validate(state, ascii_text(static_cast<std::size_t>(state.range(0))));
}

void BM_Utf8Mixed(benchmark::State& state) {
  validate(state, mixed_text(static_cast<std::size_t>(state.range(0))));
}

}  // namespace

BENCHMARK(BM_Utf8Ascii)->Arg(1024)->Arg(64 << 10);
BENCHMARK(BM_Utf8Mixed)->Arg(1024)->Arg(64 << 10);

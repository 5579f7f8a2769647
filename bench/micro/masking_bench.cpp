// Masking throughput: XOR of a payload with a 4-byte key, as every client frame needs.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/masking.hpp"

namespace {

void BM_ApplyMask(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> data(size, std::byte{0x61});
  const hibiki::protocol::MaskKey key{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21},
                                      std::byte{0x3d}};
  for (auto _ : state) {
    hibiki::protocol::apply_mask(data, key);
    benchmark::DoNotOptimize(data.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(size));
}

}  // namespace

BENCHMARK(BM_ApplyMask)->Arg(16)->Arg(1024)->Arg(64 << 10);

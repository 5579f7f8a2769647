// Cost of one Sec-WebSocket-Accept value (SHA-1 and base64), paid once per handshake.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string_view>

#include "protocol/handshake.hpp"

namespace {

void BM_AcceptKey(benchmark::State& state) {
  std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 §1.3's example
  for (auto _ : state) {
    benchmark::DoNotOptimize(key);
    const hibiki::protocol::AcceptKey accept = hibiki::protocol::compute_accept_key(key);
    benchmark::DoNotOptimize(accept);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK(BM_AcceptKey);

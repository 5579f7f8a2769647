// Frame parsing and writing throughput: masked client frames parsed and unmasked the way the
// server reads them, and server frames (header + payload) written the way a send is framed.
// Bytes per second count payload bytes, not header bytes.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "protocol/frame_parser.hpp"
#include "protocol/frame_writer.hpp"
#include "protocol/masking.hpp"
#include "protocol/opcode.hpp"

namespace {

using hibiki::protocol::FrameEvent;
using hibiki::protocol::FrameParser;
using hibiki::protocol::MaskKey;
using hibiki::protocol::Opcode;

// Every key byte is below 0x80, so ASCII XOR the key is ASCII again (see parse_frames).
constexpr MaskKey kKey{std::byte{0x37}, std::byte{0x5a}, std::byte{0x21}, std::byte{0x3d}};

// Printable ASCII, so the same payload is a valid text message too.
std::string make_payload(std::size_t size) {
  std::string payload(size, ' ');
  for (std::size_t i = 0; i < size; ++i)
    payload[i] = static_cast<char>('a' + i % 26);
  return payload;
}

std::vector<std::byte> masked_frame(Opcode opcode, std::size_t payload_size) {
  std::string frame;
  hibiki::protocol::append_masked_frame(frame, opcode, make_payload(payload_size), kKey);
  const auto* bytes = reinterpret_cast<const std::byte*>(frame.data());
  return {bytes, bytes + frame.size()};
}

// One whole frame per iteration through a long-lived parser. The payload is unmasked in place,
// so the buffer alternates between the masked and the plain payload: the work per iteration is
// the same, and with ASCII payload and key bytes below 0x80 both forms are valid UTF-8, so text
// frames pass the parser's check every time without restoring the buffer inside the timed loop.
void parse_frames(benchmark::State& state, Opcode opcode) {
  const auto payload_size = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> frame = masked_frame(opcode, payload_size);
  FrameParser parser;
  for (auto _ : state) {
    std::span<std::byte> input(frame);
    std::size_t payload_bytes = 0;
    while (!input.empty()) {
      FrameEvent event;
      const std::size_t consumed = parser.parse(input, event);
      input = input.subspan(consumed);
      if (event.kind != FrameEvent::Kind::payload) {
        state.SkipWithError("frame did not parse");
        return;
      }
      payload_bytes += event.payload.size();
      benchmark::DoNotOptimize(event.payload.data());
    }
    if (payload_bytes != payload_size) {
      state.SkipWithError("payload size differs");
      return;
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(payload_size));
}

void BM_FrameParseBinary(benchmark::State& state) {
  parse_frames(state, Opcode::binary);
}
void BM_FrameParseText(benchmark::State& state) {
  parse_frames(state, Opcode::text);
}

// What a send frames: the header for the payload, then header and payload in one buffer.
void BM_FrameWrite(benchmark::State& state) {
  const auto payload_size = static_cast<std::size_t>(state.range(0));
  const std::string payload = make_payload(payload_size);
  std::string out;
  out.reserve(hibiki::protocol::frame_size(payload_size));
  for (auto _ : state) {
    out.clear();
    hibiki::protocol::append_frame(out, Opcode::binary, payload);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(payload_size));
}

// The header alone: what the server's send path encodes before it queues the payload by
// reference (no copy).
void BM_FrameHeader(benchmark::State& state) {
  const auto payload_size = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(payload_size);
    const hibiki::protocol::FrameHeader header =
        hibiki::protocol::encode_frame_header(Opcode::binary, payload_size);
    benchmark::DoNotOptimize(header);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK(BM_FrameParseBinary)->Arg(16)->Arg(1024)->Arg(64 << 10);
BENCHMARK(BM_FrameParseText)->Arg(16)->Arg(1024)->Arg(64 << 10);
BENCHMARK(BM_FrameWrite)->Arg(16)->Arg(1024)->Arg(64 << 10);
BENCHMARK(BM_FrameHeader)->Arg(16)->Arg(1024)->Arg(64 << 10);

// RFC 7692 permessage-deflate streams: raw-DEFLATE zlib state created lazily, an inflater with
// a hard cap on the inflated size, and a deflater for whole messages.
#include "protocol/permessage_deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace hibiki::protocol {
namespace {

// zlib takes at most a uInt per call; larger spans go in slices of this size.
constexpr std::size_t kMaxZlibSlice = std::size_t{1} << 30;
// The four octets §7.2.1 removes and §7.2.2 appends: LEN and NLEN of an empty stored block.
constexpr std::array<std::byte, 4> kTail = {std::byte{0x00}, std::byte{0x00}, std::byte{0xFF},
                                            std::byte{0xFF}};
// Output is produced in steps that start here and double up to the maximum, so a small message
// zero-fills (std::string::resize) little and a large one makes few inflate() calls.
constexpr std::size_t kFirstOutputStep = 4096;
constexpr std::size_t kMaxOutputStep = 256 * 1024;
// inflate() sets this bit of data_type when it stopped between two blocks (zlib.h, Z_BLOCK).
constexpr int kAtBlockBoundary = 128;
// zlib refuses 8 window bits for raw deflate (deflateInit2 in zlib >= 1.2.9).
constexpr int kMinRawDeflateWindowBits = 9;

// Allocation header that keeps each block's size for the counter; keeps malloc's alignment.
constexpr std::size_t kAllocHeader = alignof(std::max_align_t);

// zalloc/zfree: malloc with a per-stream byte counter (opaque) and the failure seam.
voidpf counting_alloc(voidpf opaque, uInt items, uInt size) {
  int& budget = detail::zlib_allocations_before_failure;
  if (budget == 0) return Z_NULL;
  if (budget > 0) --budget;
  const std::size_t bytes = std::size_t{items} * std::size_t{size};  // 2 x 32 bits fit
  void* raw = std::malloc(bytes + kAllocHeader);
  if (raw == nullptr) return Z_NULL;
  std::memcpy(raw, &bytes, sizeof(bytes));
  *static_cast<std::size_t*>(opaque) += bytes;
  return static_cast<unsigned char*>(raw) + kAllocHeader;
}

void counting_free(voidpf opaque, voidpf address) {
  unsigned char* raw = static_cast<unsigned char*>(address) - kAllocHeader;
  std::size_t bytes = 0;
  std::memcpy(&bytes, raw, sizeof(bytes));
  *static_cast<std::size_t*>(opaque) -= bytes;
  std::free(raw);
}

// A z_stream whose allocations are counted, ended by `End` (inflateEnd or deflateEnd) if its
// init succeeded. Heap-allocated by its owner: zlib's state points back to the z_stream, so it
// must never move.
template <int (*End)(z_streamp)>
struct CountedStream {
  z_stream z{};
  std::size_t zlib_bytes = 0;  // what zlib allocated through counting_alloc
  bool initialized = false;

  CountedStream() {
    z.zalloc = counting_alloc;
    z.zfree = counting_free;
    z.opaque = &zlib_bytes;
  }
  CountedStream(const CountedStream&) = delete;
  CountedStream& operator=(const CountedStream&) = delete;
  ~CountedStream() {
    if (initialized) End(&z);
  }
};

// Grows `s` to exactly `capacity` (libstdc++'s reserve() may double instead, which would let a
// capped inflate allocate up to twice its cap).
void grow_exact(std::string& s, std::size_t capacity) {
  std::string bigger;
  bigger.reserve(capacity);
  bigger.append(s);
  s.swap(bigger);
}

// Starts a new raw DEFLATE stream after a BFINAL block with the window kept, so a peer that
// keeps its context across the final block still decodes, and one that does not never refers
// to it. Rare, hence the 32 KiB copy on the stack outside the inflate loop's frame.
[[gnu::noinline]] bool restart_keeping_window(z_stream& z) {
  std::array<Bytef, std::size_t{1} << kMaxWindowBits> window;
  uInt window_size = 0;
  return inflateGetDictionary(&z, window.data(), &window_size) == Z_OK &&
         inflateReset(&z) == Z_OK &&
         (window_size == 0 || inflateSetDictionary(&z, window.data(), window_size) == Z_OK);
}

std::size_t saturating_add(std::size_t a, std::size_t b) {
  return b > std::numeric_limits<std::size_t>::max() - a ? std::numeric_limits<std::size_t>::max()
                                                         : a + b;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Inflater

struct Inflater::Stream : CountedStream<inflateEnd> {};

// The idle footprint a connection pays for having negotiated deflate (24 bytes on x86-64).
static_assert(sizeof(Inflater) <= 3 * sizeof(void*));

Inflater::Inflater(std::uint8_t window_bits, bool no_context_takeover)
    : window_bits_(clamp_window_bits(window_bits)), no_context_takeover_(no_context_takeover) {}

Inflater::~Inflater() = default;
Inflater::Inflater(Inflater&& other) noexcept = default;
Inflater& Inflater::operator=(Inflater&& other) noexcept = default;

std::size_t Inflater::memory_bytes() const {
  return stream_ ? sizeof(Stream) + stream_->zlib_bytes : 0;
}

Inflater::Status Inflater::fail(Status status) {
  state_ = State::failed;
  error_ = status;
  return status;
}

void Inflater::reset() {
  if (stream_) inflateReset(&stream_->z);
  message_bytes_ = 0;
  state_ = State::between_messages;
  error_ = Status::ok;
}

bool Inflater::release() {
  if (state_ != State::failed && (!no_context_takeover_ || state_ != State::between_messages)) {
    return !stream_;
  }
  stream_.reset();
  message_bytes_ = 0;
  state_ = State::between_messages;
  error_ = Status::ok;
  return true;
}

Inflater::Status Inflater::feed(std::span<const std::byte> compressed, std::string& out,
                                std::size_t max_bytes) {
  if (state_ == State::failed) return error_;
  if (compressed.empty()) return Status::ok;
  return inflate_into(compressed, out, max_bytes);
}

Inflater::Status Inflater::finish(std::string& out, std::size_t max_bytes) {
  if (state_ == State::failed) return error_;
  if (state_ == State::in_message) {
    const Status status = inflate_into(kTail, out, max_bytes);
    if (status != Status::ok) return status;
    // §7.2.1: a sender's payload plus the tail ends with an empty stored block. If inflate did
    // not stop between blocks, the message was cut short.
    if (state_ == State::in_message && (stream_->z.data_type & kAtBlockBoundary) == 0) {
      return fail(Status::corrupt);
    }
  }
  // Nothing fed (an empty payload: lenient, as it cannot mean anything but an empty message), or
  // the stream ended with a BFINAL block (§7.2.3.4): there is nothing to append the tail to.
  if (no_context_takeover_ && stream_) inflateReset(&stream_->z);
  message_bytes_ = 0;
  state_ = State::between_messages;
  return Status::ok;
}

Inflater::Status Inflater::inflate_into(std::span<const std::byte> input, std::string& out,
                                        std::size_t max_bytes) {
  if (!stream_) {
    stream_ = std::make_unique<Stream>();
    // Negative window bits: raw DEFLATE, no zlib header or trailer (§7.2.2).
    if (inflateInit2(&stream_->z, -static_cast<int>(window_bits_)) != Z_OK) {
      stream_.reset();
      return fail(Status::no_memory);
    }
    stream_->initialized = true;
  }
  z_stream& z = stream_->z;
  if (message_bytes_ > max_bytes) return fail(Status::too_big);
  // One byte past the allowance proves the message too big without inflating further.
  const std::size_t limit =
      saturating_add(out.size(), saturating_add(max_bytes - message_bytes_, 1));
  const auto* next = reinterpret_cast<const Bytef*>(input.data());
  std::size_t remaining = input.size();
  std::size_t step = kFirstOutputStep;
  z.avail_in = 0;

  for (;;) {
    if (z.avail_in == 0 && remaining > 0) {
      const std::size_t slice = std::min(remaining, kMaxZlibSlice);
      z.next_in = const_cast<Bytef*>(next);  // zlib's API is not const-correct; it only reads
      z.avail_in = static_cast<uInt>(slice);
      next += slice;
      remaining -= slice;
    }
    const std::size_t size = out.size();
    const std::size_t room = std::min(step, limit - size);
    if (out.capacity() - size < room) {
      grow_exact(out, std::min(std::max(out.capacity() * 2, size + room), limit));
    }
    out.resize(size + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + size);
    z.avail_out = static_cast<uInt>(room);
    const uInt in_before = z.avail_in;
    const int ret = inflate(&z, Z_SYNC_FLUSH);
    const std::size_t produced = room - z.avail_out;
    out.resize(size + produced);
    message_bytes_ += produced;
    if (message_bytes_ > max_bytes) {
      out.resize(out.size() - (message_bytes_ - max_bytes));
      return fail(Status::too_big);
    }
    if (ret == Z_STREAM_END) {
      // §7.2.3.4: a sender may end with a BFINAL block; bytes after it start a new stream.
      if (!restart_keeping_window(z)) return fail(Status::corrupt);
      state_ = State::after_final;
    } else if (ret == Z_MEM_ERROR) {
      return fail(Status::no_memory);
    } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
      return fail(Status::corrupt);  // Z_DATA_ERROR, or Z_NEED_DICT which raw streams never need
    } else if (z.avail_in != in_before) {
      state_ = State::in_message;
    }
    if (z.avail_in == 0 && remaining == 0 && z.avail_out != 0) return Status::ok;
    if (ret == Z_BUF_ERROR && produced == 0 && z.avail_in == in_before) {
      return fail(Status::corrupt);  // no progress with input and room left: cannot happen
    }
    if (z.avail_out == 0) step = std::min(step * 2, kMaxOutputStep);
  }
}

CloseCode close_code_for(Inflater::Status status) {
  switch (status) {
    case Inflater::Status::too_big:
      return CloseCode::message_too_big;
    case Inflater::Status::corrupt:
      return CloseCode::invalid_payload;
    case Inflater::Status::no_memory:
      return CloseCode::internal_error;
    case Inflater::Status::ok:
      break;
  }
  return CloseCode::normal;
}

const char* to_string(Inflater::Status status) {
  switch (status) {
    case Inflater::Status::ok:
      return "ok";
    case Inflater::Status::too_big:
      return "too_big";
    case Inflater::Status::corrupt:
      return "corrupt";
    case Inflater::Status::no_memory:
      return "no_memory";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Deflater

struct Deflater::Stream : CountedStream<deflateEnd> {};

Deflater::Deflater(std::uint8_t window_bits, bool no_context_takeover, int mem_level, int level)
    : window_bits_(clamp_window_bits(window_bits)),
      no_context_takeover_(no_context_takeover),
      mem_level_(static_cast<std::int8_t>(std::clamp(mem_level, 1, MAX_MEM_LEVEL))),
      level_(
          static_cast<std::int8_t>(std::clamp(level, Z_DEFAULT_COMPRESSION, Z_BEST_COMPRESSION))) {}

Deflater::~Deflater() = default;
Deflater::Deflater(Deflater&& other) noexcept = default;
Deflater& Deflater::operator=(Deflater&& other) noexcept = default;

std::size_t Deflater::memory_bytes() const {
  return stream_ ? sizeof(Stream) + stream_->zlib_bytes : 0;
}

bool Deflater::release() {
  if (!no_context_takeover_) return !stream_;
  stream_.reset();
  return true;
}

bool Deflater::compress(std::span<const std::byte> message, std::string& out) {
  // §7.2.3.6: 00 is an empty stored block's header, which the peer's appended tail completes.
  // zlib would emit nothing at all for a flush right after a flush.
  if (message.empty()) {
    out.push_back('\0');
    return true;
  }
  if (!stream_) {
    stream_ = std::make_unique<Stream>();
    const int bits = std::max<int>(window_bits_, kMinRawDeflateWindowBits);
    if (deflateInit2(&stream_->z, level_, Z_DEFLATED, -bits, mem_level_, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      stream_.reset();
      return false;
    }
    stream_->initialized = true;
  }
  z_stream& z = stream_->z;
  const std::size_t base = out.size();
  std::size_t written = 0;
  // deflateBound covers a finished stream; the sync flush adds at most an empty stored block.
  std::size_t room =
      deflateBound(&z, static_cast<uLong>(std::min(message.size(), kMaxZlibSlice))) + 16;
  const auto* next = reinterpret_cast<const Bytef*>(message.data());
  std::size_t remaining = message.size();
  z.avail_in = 0;
  for (;;) {
    if (z.avail_in == 0 && remaining > 0) {
      const std::size_t slice = std::min(remaining, kMaxZlibSlice);
      z.next_in = const_cast<Bytef*>(next);
      z.avail_in = static_cast<uInt>(slice);
      next += slice;
      remaining -= slice;
    }
    const int flush = remaining == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    out.resize(base + written + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + base + written);
    z.avail_out = static_cast<uInt>(room);
    const int ret = deflate(&z, flush);
    assert(ret == Z_OK || ret == Z_BUF_ERROR);
    (void)ret;
    written += room - z.avail_out;
    out.resize(base + written);
    // zlib.h: with avail_out left over after a flush, all output has been delivered.
    if (flush == Z_SYNC_FLUSH && z.avail_in == 0 && z.avail_out != 0) break;
    room = std::min(std::max(room, kFirstOutputStep) * 2, kMaxZlibSlice);
  }
  // §7.2.1: remove the 00 00 FF FF that ends the sync flush's empty stored block.
  assert(written >= kTail.size() &&
         std::memcmp(out.data() + out.size() - kTail.size(), kTail.data(), kTail.size()) == 0);
  out.resize(out.size() - kTail.size());
  if (no_context_takeover_) deflateReset(&z);
  return true;
}

}  // namespace hibiki::protocol

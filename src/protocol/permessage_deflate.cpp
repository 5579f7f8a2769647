// RFC 7692 permessage-deflate: Sec-WebSocket-Extensions offer parsing and the server's answer,
// and raw-DEFLATE zlib streams with lazily created state and a hard inflate cap.
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

// ---------------------------------------------------------------------------------------------
// Negotiation (RFC 7692 §5, §7.1; syntax from RFC 6455 §9.1 and RFC 9110 §5.6)

constexpr std::string_view kExtensionName = "permessage-deflate";
constexpr std::string_view kServerNoContextTakeover = "server_no_context_takeover";
constexpr std::string_view kClientNoContextTakeover = "client_no_context_takeover";
constexpr std::string_view kServerMaxWindowBits = "server_max_window_bits";
constexpr std::string_view kClientMaxWindowBits = "client_max_window_bits";

// RFC 9110 §5.6.2 tchar.
constexpr bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

constexpr bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// RFC 9110 §5.6.4: qdtext, and what may follow a backslash in a quoted-pair.
constexpr bool is_qdtext(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) ||
         (c >= 0x5D && c <= 0x7E) || c >= 0x80;
}
constexpr bool is_quoted_pair_char(unsigned char c) {
  return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7E) || c >= 0x80;
}

// A parameter value after unquoting. Window bits have at most two digits, so only the first
// three characters are kept; `size` still counts them all.
struct ParamValue {
  bool present = false;
  std::array<char, 3> chars{};
  std::size_t size = 0;

  void push(char c) {
    if (size < chars.size()) chars[size] = c;
    ++size;
  }
};

// §7.1.2.1/§7.1.2.2: "a decimal integer value without leading zeroes between 8 to 15,
// inclusive". RFC 6455 §9.1: a quoted value must be a token once unquoted, which this implies.
// Returns 0 when the value is not one.
std::uint8_t window_bits_value(const ParamValue& value) {
  if (value.size == 1 && (value.chars[0] == '8' || value.chars[0] == '9')) {
    return static_cast<std::uint8_t>(value.chars[0] - '0');
  }
  if (value.size == 2 && value.chars[0] == '1' && value.chars[1] >= '0' && value.chars[1] <= '5') {
    return static_cast<std::uint8_t>(10 + (value.chars[1] - '0'));
  }
  return 0;
}

enum OfferParam : std::uint8_t {
  kSeenServerNoContextTakeover = 1,
  kSeenClientNoContextTakeover = 2,
  kSeenServerMaxWindowBits = 4,
  kSeenClientMaxWindowBits = 8,
};

struct Offer {
  bool is_deflate = false;  // the extension named is permessage-deflate
  bool acceptable = true;   // well-formed, only known parameters, each once, valid values
  std::uint8_t seen = 0;    // OfferParam bits
  std::uint8_t server_max_window_bits = 0;  // when seen
  std::uint8_t client_max_window_bits = 0;  // 0 when seen without a value
};

// Walks a Sec-WebSocket-Extensions value one offer at a time. A syntax error makes the offer
// unacceptable and resumes after the next comma outside a quoted-string.
class OfferReader {
 public:
  explicit OfferReader(std::string_view text) : text_(text) {}

  // Skips whitespace and empty list elements (RFC 9110 §5.6.1); true at the end.
  bool at_end() {
    while (pos_ < text_.size() && (is_ows(text_[pos_]) || text_[pos_] == ','))
      ++pos_;
    return pos_ == text_.size();
  }

  Offer next() {
    Offer offer;
    const std::string_view name = token();
    if (name.empty()) return give_up(offer, false);
    offer.is_deflate = iequals(name, kExtensionName);
    for (;;) {
      skip_ows();
      if (pos_ == text_.size()) return offer;
      if (text_[pos_] == ',') {
        ++pos_;
        return offer;
      }
      if (text_[pos_] != ';') return give_up(offer, false);
      ++pos_;
      skip_ows();
      const std::string_view param = token();
      if (param.empty()) return give_up(offer, false);
      skip_ows();
      ParamValue value;
      if (pos_ < text_.size() && text_[pos_] == '=') {
        ++pos_;
        skip_ows();
        bool in_quotes = false;
        if (!read_value(value, in_quotes)) return give_up(offer, in_quotes);
      }
      if (offer.is_deflate && offer.acceptable) apply(offer, param, value);
    }
  }

 private:
  void skip_ows() {
    while (pos_ < text_.size() && is_ows(text_[pos_]))
      ++pos_;
  }

  std::string_view token() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && is_tchar(text_[pos_]))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // token / quoted-string. On a syntax error inside quotes, in_quotes tells the recovery.
  bool read_value(ParamValue& value, bool& in_quotes) {
    value.present = true;
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      in_quotes = true;
      while (pos_ < text_.size()) {
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c == '"') {
          ++pos_;
          in_quotes = false;
          return true;
        }
        if (c == '\\') {
          if (pos_ + 1 == text_.size() ||
              !is_quoted_pair_char(static_cast<unsigned char>(text_[pos_ + 1]))) {
            return false;
          }
          value.push(text_[pos_ + 1]);
          pos_ += 2;
          continue;
        }
        if (!is_qdtext(c)) return false;
        value.push(static_cast<char>(c));
        ++pos_;
      }
      return false;  // unterminated
    }
    const std::string_view t = token();
    for (char c : t)
      value.push(c);
    return !t.empty();
  }

  Offer give_up(Offer& offer, bool in_quotes) {
    offer.acceptable = false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (in_quotes) {
        if (c == '\\' && pos_ < text_.size()) {
          ++pos_;
        } else if (c == '"') {
          in_quotes = false;
        }
      } else if (c == '"') {
        in_quotes = true;
      } else if (c == ',') {
        break;
      }
    }
    return offer;
  }

  // §7: an unknown parameter, a repeated one or an invalid value makes the offer unacceptable.
  static void apply(Offer& offer, std::string_view name, const ParamValue& value) {
    std::uint8_t bit = 0;
    bool valid = false;
    if (iequals(name, kServerNoContextTakeover)) {
      bit = kSeenServerNoContextTakeover;
      valid = !value.present;  // §7.1.1.1: no value
    } else if (iequals(name, kClientNoContextTakeover)) {
      bit = kSeenClientNoContextTakeover;
      valid = !value.present;  // §7.1.1.2
    } else if (iequals(name, kServerMaxWindowBits)) {
      bit = kSeenServerMaxWindowBits;
      offer.server_max_window_bits = window_bits_value(value);  // §7.1.2.1: a value is required
      valid = offer.server_max_window_bits != 0;
    } else if (iequals(name, kClientMaxWindowBits)) {
      bit = kSeenClientMaxWindowBits;
      // §7.1.2.2: without a value the client only says it supports the parameter.
      offer.client_max_window_bits = value.present ? window_bits_value(value) : 0;
      valid = !value.present || offer.client_max_window_bits != 0;
    }
    if (!valid || (offer.seen & bit) != 0) {
      offer.acceptable = false;
      return;
    }
    offer.seen |= bit;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::uint8_t clamp_window_bits(std::uint8_t bits) {
  return std::clamp(bits, kMinWindowBits, kMaxWindowBits);
}

DeflateNegotiation accept(const Offer& offer, const DeflatePolicy& policy) {
  const std::uint8_t server_limit = clamp_window_bits(policy.max_server_window_bits);
  const std::uint8_t client_limit = clamp_window_bits(policy.max_client_window_bits);
  DeflateNegotiation result;
  result.accepted = true;
  DeflateParams& params = result.params;

  // §7.1.1.1: an offered server_no_context_takeover must be answered; the server may also
  // answer it unasked.
  params.server_no_context_takeover =
      (offer.seen & kSeenServerNoContextTakeover) != 0 || !policy.server_context_takeover;
  // §7.1.1.2: the client resets its window if it offered this or the server answers it. Echoing
  // an offered one lets the inflater reset too.
  params.client_no_context_takeover =
      (offer.seen & kSeenClientNoContextTakeover) != 0 || policy.request_client_no_context_takeover;
  // §7.1.2.1: an offered server_max_window_bits=N is accepted only by answering a value <= N;
  // the server may also answer a limit unasked.
  const bool offered_server_window = (offer.seen & kSeenServerMaxWindowBits) != 0;
  params.server_max_window_bits =
      offered_server_window ? std::min(offer.server_max_window_bits, server_limit) : server_limit;
  const bool answer_server_window = offered_server_window || server_limit < kMaxWindowBits;
  // §7.1.2.2: client_max_window_bits may be answered only if offered, with a value <= the
  // offered one if it had one. A client that did not offer it may use a 15-bit window.
  bool answer_client_window = false;
  if ((offer.seen & kSeenClientMaxWindowBits) != 0) {
    const std::uint8_t offered =
        offer.client_max_window_bits != 0 ? offer.client_max_window_bits : kMaxWindowBits;
    params.client_max_window_bits = std::min(offered, client_limit);
    answer_client_window = params.client_max_window_bits < kMaxWindowBits;
  }

  std::string& out = result.response;
  out.reserve(128);
  out.append(kExtensionName);
  if (params.server_no_context_takeover) {
    out.append("; ");
    out.append(kServerNoContextTakeover);
  }
  if (params.client_no_context_takeover) {
    out.append("; ");
    out.append(kClientNoContextTakeover);
  }
  if (answer_server_window) {
    out.append("; ");
    out.append(kServerMaxWindowBits);
    out.push_back('=');
    out.append(std::to_string(params.server_max_window_bits));
  }
  if (answer_client_window) {
    out.append("; ");
    out.append(kClientMaxWindowBits);
    out.push_back('=');
    out.append(std::to_string(params.client_max_window_bits));
  }
  return result;
}

// Finds the first acceptable permessage-deflate offer in one header value.
bool find_offer(std::string_view extensions, Offer& found) {
  OfferReader reader(extensions);
  while (!reader.at_end()) {
    const Offer offer = reader.next();
    if (offer.is_deflate && offer.acceptable) {
      found = offer;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// zlib plumbing

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
// Negotiation

DeflateNegotiation negotiate_permessage_deflate(std::string_view extensions,
                                                const DeflatePolicy& policy) {
  Offer offer;
  if (!policy.enabled || !find_offer(extensions, offer)) return {};
  return accept(offer, policy);
}

DeflateNegotiation negotiate_permessage_deflate(const HttpRequest& request,
                                                const DeflatePolicy& policy) {
  if (!policy.enabled) return {};
  for (const HttpHeader& header : request.headers) {
    Offer offer;
    if (iequals(header.name, "Sec-WebSocket-Extensions") && find_offer(header.value, offer)) {
      return accept(offer, policy);
    }
  }
  return {};
}

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

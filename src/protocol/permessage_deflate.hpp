// RFC 7692 permessage-deflate without I/O: the handshake negotiation, and zlib streams that
// inflate (with a hard size cap) and deflate whole messages. Never touches frames or sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "protocol/close_code.hpp"
#include "protocol/http_request.hpp"

namespace hibiki::protocol {

// §7.1.2.1: window bits are a decimal integer 8..15 on the wire.
inline constexpr std::uint8_t kMinWindowBits = 8;
inline constexpr std::uint8_t kMaxWindowBits = 15;

// Window bits brought into 8..15.
constexpr std::uint8_t clamp_window_bits(std::uint8_t bits) {
  return bits < kMinWindowBits ? kMinWindowBits : (bits > kMaxWindowBits ? kMaxWindowBits : bits);
}

// The agreed parameters of one connection (RFC 7692 §7.1).
struct DeflateParams {
  bool server_no_context_takeover = false;   // the server resets its compressor after each message
  bool client_no_context_takeover = false;   // the client resets its compressor after each message
  std::uint8_t server_max_window_bits = 15;  // window of the server's compressor (8..15)
  std::uint8_t client_max_window_bits = 15;  // window the server's inflater must keep (8..15)
};

// What the server is willing to do. Values outside 8..15 are clamped.
struct DeflatePolicy {
  bool enabled = true;  // false: every offer is declined
  // false: always answer server_no_context_takeover (§7.1.1.1 allows it unasked). The
  // compressor then keeps nothing between messages and can be shared by connections.
  bool server_context_takeover = true;
  // Largest window of the server's compressor; answered as server_max_window_bits when < 15 or
  // when the client asked for a window (the answer is then min(requested, this)).
  std::uint8_t max_server_window_bits = 15;
  // Answer client_no_context_takeover even when the client did not offer it (§7.1.1.2): the
  // server's inflater then keeps no window between messages.
  bool request_client_no_context_takeover = false;
  // Largest window the server's inflater keeps. Only enforceable when the client offered
  // client_max_window_bits (§7.1.2.2); an offer without it is accepted with a 15-bit window.
  std::uint8_t max_client_window_bits = 15;
};

struct DeflateNegotiation {
  bool accepted = false;  // false: respond without the extension (declined or not offered)
  DeflateParams params;   // meaningful when accepted
  // The Sec-WebSocket-Extensions response value when accepted, e.g.
  // "permessage-deflate; server_no_context_takeover"; empty otherwise.
  std::string response;
};

// Reads the client's Sec-WebSocket-Extensions value (a comma list of offers, each
// `name *(";" param ["=" (token / quoted-string)])`, RFC 6455 §9.1) and accepts the first
// acceptable permessage-deflate offer (RFC 7692 §5, §7). An offer is declined, and the next
// one tried, when it has an unknown or repeated parameter, a value on a no_context_takeover
// parameter, window bits that are not 8..15 without leading zeros (quoted values are unquoted
// first), server_max_window_bits without a value, or broken syntax. Extension and parameter
// names compare case-insensitively; other extensions are skipped. Never fails the handshake.
[[nodiscard]] DeflateNegotiation negotiate_permessage_deflate(std::string_view extensions,
                                                              const DeflatePolicy& policy);
// The same over every Sec-WebSocket-Extensions header of a request, in order, as one list
// (RFC 9110 §5.3); UpgradeRequest::extensions holds only the first header.
[[nodiscard]] DeflateNegotiation negotiate_permessage_deflate(const HttpRequest& request,
                                                              const DeflatePolicy& policy);

// Inflates the messages of one direction (RFC 7692 §7.2.2): feed() each compressed fragment,
// then finish() appends the 00 00 FF FF tail. A message's inflated size is capped, and the
// output string is never grown past what the cap still allows plus one byte (zip bombs).
//
// zlib state is created at the first compressed byte, so an idle connection holds only this
// 24-byte object. Measured with memory_bytes() (a counting zalloc; zlib 1.2.13, x86-64):
// inflateInit2 leaves 7,288 bytes (zlib's 7,160-byte inflate_state and our 128-byte z_stream
// holder), and the first output byte adds the 2^window_bits window: 7.4 KiB in all at 8 bits,
// 8.1 KiB at 10, 11.1 KiB at 12, 23.1 KiB at 14, 39.1 KiB at 15.
class Inflater {
 public:
  enum class Status : std::uint8_t {
    ok,
    too_big,    // 1009: the message inflates past max_bytes
    corrupt,    // 1007: a bad block, code or length, a distance reaching before the history
                //       zlib holds, or a message cut inside a block
    no_memory,  // 1011: zlib could not allocate its state
  };

  // window_bits: the peer's negotiated max window (8..15, clamped). no_context_takeover: the
  // peer resets its window after each message, so ours is reset too.
  explicit Inflater(std::uint8_t window_bits = 15, bool no_context_takeover = false);
  ~Inflater();
  Inflater(Inflater&& other) noexcept;
  Inflater& operator=(Inflater&& other) noexcept;
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates the next compressed chunk of the current message and appends the output to `out`.
  // max_bytes bounds the message's inflated size over all its feed() and finish() calls.
  // too_big leaves at most max_bytes of this message in `out`; after any error the Inflater
  // stays failed (every call repeats the error) until reset().
  [[nodiscard]] Status feed(std::span<const std::byte> compressed, std::string& out,
                            std::size_t max_bytes);
  // Ends the message: inflates the 00 00 FF FF tail (not for an empty payload, nor right after
  // a BFINAL block, §7.2.3.4), checks the stream stopped on a block boundary (a truncated
  // message is corrupt), and resets the window under no_context_takeover.
  [[nodiscard]] Status finish(std::string& out, std::size_t max_bytes);

  // Frees the zlib state between messages; the next message recreates it. Only when the window
  // is not needed: returns false (and keeps it) under context takeover unless failed.
  bool release();
  // Forgets the current message, the window and any error, keeping the allocation.
  void reset();

  [[nodiscard]] bool holds_context() const { return stream_ != nullptr; }
  // Bytes held now: the zlib stream object plus what zlib allocated (malloc overhead aside).
  [[nodiscard]] std::size_t memory_bytes() const;
  [[nodiscard]] std::uint8_t window_bits() const { return window_bits_; }

  struct Stream;  // z_stream and its allocation counter, defined in the .cpp

 private:
  enum class State : std::uint8_t {
    between_messages,  // nothing fed since the last finish()
    in_message,        // compressed bytes fed since the last block boundary or stream start
    after_final,       // a BFINAL block ended the DEFLATE stream; nothing fed since
    failed,
  };
  Status inflate_into(std::span<const std::byte> input, std::string& out, std::size_t max_bytes);
  Status fail(Status status);

  std::unique_ptr<Stream> stream_;  // null until the first compressed byte
  std::size_t message_bytes_ = 0;   // inflated bytes of the current message
  std::uint8_t window_bits_;
  bool no_context_takeover_;
  State state_ = State::between_messages;
  Status error_ = Status::ok;  // the sticky error when state_ == failed
};

// 1009 for too_big, 1007 for corrupt, 1011 for no_memory.
CloseCode close_code_for(Inflater::Status status);
const char* to_string(Inflater::Status status);

// Compresses whole messages (RFC 7692 §7.2.1): raw DEFLATE, a sync flush, the trailing
// 00 00 FF FF removed. Under no_context_takeover the window is reset after each message, so
// nothing of one message reaches the next and one Deflater can serve, one message at a time,
// every connection whose server_max_window_bits is >= its window_bits.
//
// zlib state is created at the first non-empty message. Measured with memory_bytes() (a
// counting zalloc; zlib 1.2.13, x86-64), deflateInit2 allocates 2^(window_bits+2) +
// 2^(mem_level+9) bytes (zconf.h's formula) plus 6,080 of deflate_state and holder:
// 262 KiB at 15 bits / mem_level 8 (zlib's default), 390 KiB at 15/9, 198 KiB at 15/7,
// 135 KiB at 15/1, 150 KiB at 12/8, 30 KiB at 12/4, 8.9 KiB at 9/1 (8 bits cost what 9 do).
// Under no_context_takeover the reset after each message clears a 2^(mem_level+8) byte hash
// table (64 KiB at mem_level 8).
class Deflater {
 public:
  // window_bits: the negotiated server_max_window_bits (8..15, clamped). zlib refuses 8 for raw
  // streams, so 8 compresses with a 512-byte window; zlib's deflate never emits a distance
  // beyond window - 262 bytes (MAX_DIST in deflate.c), 250 here, so the output is valid for a
  // peer keeping a 256-byte window (tested). mem_level 1..9 trades hash memory for speed and
  // ratio; level -1 (zlib's default, 6) or 0..9.
  explicit Deflater(std::uint8_t window_bits = 15, bool no_context_takeover = false,
                    int mem_level = 8, int level = -1);
  ~Deflater();
  Deflater(Deflater&& other) noexcept;
  Deflater& operator=(Deflater&& other) noexcept;
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Appends the compressed payload of `message` to `out`. An empty message is the single byte
  // 00 (an empty stored block's header, §7.2.3.6) and needs no zlib state. Returns false, with
  // `out` unchanged, only when zlib cannot allocate its state.
  [[nodiscard]] bool compress(std::span<const std::byte> message, std::string& out);
  [[nodiscard]] bool compress(std::string_view message, std::string& out) {
    return compress(std::span<const std::byte>(reinterpret_cast<const std::byte*>(message.data()),
                                               message.size()),
                    out);
  }

  // Frees the zlib state; the next message recreates it. Only under no_context_takeover:
  // returns false (and keeps it) otherwise, since the peer's window holds our history.
  bool release();

  [[nodiscard]] bool holds_context() const { return stream_ != nullptr; }
  [[nodiscard]] std::size_t memory_bytes() const;
  [[nodiscard]] std::uint8_t window_bits() const { return window_bits_; }

  struct Stream;

 private:
  std::unique_ptr<Stream> stream_;  // null until the first non-empty message
  std::uint8_t window_bits_;
  bool no_context_takeover_;
  std::int8_t mem_level_;
  std::int8_t level_;
};

namespace detail {
// Test seam (fail the Nth allocation): when >= 0, zlib allocations on this thread succeed this
// many more times, then fail. -1: never fail.
inline thread_local int zlib_allocations_before_failure = -1;
}  // namespace detail

}  // namespace hibiki::protocol

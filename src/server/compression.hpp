// permessage-deflate (RFC 7692) on the server: the policy the options ask for, per-connection
// state, and the loop's shared compressors. A compressor that keeps no context between
// messages serves every connection that agreed to server_no_context_takeover, so in the
// default mode no connection holds a compressor of its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "hibiki/options.hpp"
#include "protocol/permessage_deflate.hpp"
#include "protocol/utf8_validator.hpp"

namespace hibiki::server {

// What one connection negotiated and holds for it.
struct CompressionState {
  explicit CompressionState(const protocol::DeflateParams& agreed)
      : params(agreed),
        inflater(agreed.client_max_window_bits, agreed.client_no_context_takeover) {}

  protocol::DeflateParams params;
  protocol::Inflater inflater;      // holds zlib state only while the peer keeps context
  protocol::Utf8Validator utf8;     // inflated text, checked as it comes out
  std::size_t validated_bytes = 0;  // bytes of the message buffer already checked
  std::unique_ptr<protocol::Deflater> own_deflater;  // only with server context takeover
};

class Compressors {
 public:
  explicit Compressors(const ServerOptions& options);

  [[nodiscard]] bool enabled() const { return mode_ != CompressionMode::off; }
  [[nodiscard]] const protocol::DeflatePolicy& policy() const { return policy_; }
  // Messages shorter than this go out uncompressed (a deflate stream costs a few bytes and
  // some CPU, which small messages do not win back).
  [[nodiscard]] bool worth_compressing(std::size_t message_bytes) const {
    return message_bytes >= threshold_bytes_;
  }

  // Appends the compressed payload of `message` as this connection must receive it. Returns
  // false (out unchanged) when zlib cannot allocate: send the message uncompressed then.
  bool compress(CompressionState& state, std::string_view message, std::string& out);

  // Whether the connection can take bytes compressed once for many (no context of its own);
  // then the same compressed payload fits every connection with the same key.
  [[nodiscard]] static bool shares_output(const CompressionState& state) {
    return state.params.server_no_context_takeover;
  }
  [[nodiscard]] static std::size_t share_key(const CompressionState& state) {
    return state.params.server_max_window_bits - protocol::kMinWindowBits;
  }
  static constexpr std::size_t kShareKeys = protocol::kMaxWindowBits - protocol::kMinWindowBits + 1;

 private:
  protocol::Deflater& shared(std::uint8_t window_bits);

  CompressionMode mode_;
  std::size_t threshold_bytes_;
  std::uint8_t window_bits_;
  protocol::DeflatePolicy policy_;
  std::array<std::unique_ptr<protocol::Deflater>, kShareKeys> shared_;
};

}  // namespace hibiki::server

// Server-side permessage-deflate policy and compressors.
#include "server/compression.hpp"

namespace hibiki::server {

Compressors::Compressors(const ServerOptions& options)
    : mode_(options.compression),
      threshold_bytes_(options.compression_threshold_bytes),
      window_bits_(options.compression_window_bits) {
  policy_.enabled = mode_ != CompressionMode::off;
  // Shared: the server keeps nothing between messages, so one compressor serves everyone.
  // Dedicated: the server keeps a window per connection (better ratio, ~150-270 KiB of
  // deflate state per connection at 12-15 bits).
  policy_.server_context_takeover = mode_ == CompressionMode::dedicated;
  // client_no_context_takeover is only echoed when the client offers it: answering it unasked
  // is refused by strict clients, so a client that keeps its context gets an inflater that
  // keeps a window (allocated at its first compressed message).
  policy_.request_client_no_context_takeover = false;
  policy_.max_server_window_bits = window_bits_;
  policy_.max_client_window_bits = window_bits_;
}

protocol::Deflater& Compressors::shared(std::uint8_t window_bits) {
  auto& slot = shared_[window_bits - protocol::kMinWindowBits];
  if (!slot) slot = std::make_unique<protocol::Deflater>(window_bits, /*no_context_takeover=*/true);
  return *slot;
}

bool Compressors::compress(CompressionState& state, std::string_view message, std::string& out) {
  if (shares_output(state))
    return shared(state.params.server_max_window_bits).compress(message, out);
  if (!state.own_deflater) {
    state.own_deflater = std::make_unique<protocol::Deflater>(state.params.server_max_window_bits,
                                                              /*no_context_takeover=*/false);
  }
  return state.own_deflater->compress(message, out);
}

}  // namespace hibiki::server

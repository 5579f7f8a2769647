// One HTTP/2 connection's protocol state (RFC 9113) kept by libnghttp2, with extended CONNECT
// (RFC 8441) announced: bytes in, frames out, requests and tunnels reported to a Handler. No I/O
// and nothing of WebSocket: a tunnel is a stream whose DATA goes both ways after a 200.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/send_queue.hpp"

struct nghttp2_session;

namespace hibiki::server {

// A request as received: pseudo-headers apart, regular header names in lower case (RFC 9113
// §8.2.1 requires it; nghttp2 refuses others).
struct H2Request {
  std::string method;     // :method
  std::string scheme;     // :scheme
  std::string authority;  // :authority
  std::string path;       // :path
  std::string protocol;   // :protocol (RFC 8441), empty when absent
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::size_t header_bytes = 0;  // names and values, for the head limit
  bool head_too_large = false;   // past max_header_bytes / max_headers: answer 431
  bool body_too_large = false;   // past max_body_bytes: answer 413
};

struct H2Limits {
  std::uint32_t max_streams = 128;  // SETTINGS_MAX_CONCURRENT_STREAMS
  std::size_t max_header_bytes = 8192;
  std::size_t max_headers = 64;
  std::size_t max_body_bytes = 1u << 20;
};

using H2Headers = std::vector<std::pair<std::string, std::string>>;

class H2Session {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // A request to answer: at the end of its stream, or for CONNECT at the end of its headers
    // (a tunnel's stream stays open). Answer with respond() or open_tunnel(), now or later.
    virtual void on_request(std::int32_t stream, H2Request& request) = 0;
    // DATA on a tunnel (or on a CONNECT not answered yet, for the handler to keep). The bytes
    // may be changed in place (WebSocket unmasking).
    virtual void on_tunnel_data(std::int32_t stream, std::span<std::byte> bytes) = 0;
    // The peer ended its side of a tunnel (END_STREAM): for WebSocket, the TCP FIN.
    virtual void on_tunnel_end(std::int32_t stream) = 0;
    // The stream is gone: both sides ended, or reset (error_code is then RST_STREAM's code).
    virtual void on_stream_close(std::int32_t stream, std::uint32_t error_code) = 0;
    // A tunnel's outgoing bytes: copies up to out.size() into `out`; `end` once the tunnel
    // has sent its last byte (END_STREAM follows).
    virtual std::size_t read_tunnel(std::int32_t stream, std::span<std::byte> out, bool& end) = 0;
  };

  H2Session(Handler& handler, const H2Limits& limits);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Feeds bytes from the client. False on a connection error: the GOAWAY nghttp2 queued goes
  // out with produce(), then the connection ends. `bytes` must stay writable: DATA payloads
  // are handed to on_tunnel_data in place.
  bool receive(std::span<std::byte> bytes);
  // Moves frames ready to send into `out` until it holds `budget` bytes or nothing is left.
  // False on a fatal error.
  bool produce(SendQueue& out, std::size_t budget);
  // Whether nghttp2 has frames to send, and whether the connection still has a use.
  [[nodiscard]] bool wants_write() const;
  [[nodiscard]] bool alive() const;

  // Answers a request: HEADERS, then `body` in DATA frames (none for `head_only`).
  void respond(std::int32_t stream, int status, const H2Headers& headers, std::string body,
               bool head_only = false);
  // Answers an extended CONNECT with 200 and opens the tunnel: DATA both ways from now on.
  void open_tunnel(std::int32_t stream, const H2Headers& headers);
  // The tunnel has bytes to send again (or its end): nghttp2 asks read_tunnel.
  void resume(std::int32_t stream);
  // The tunnel's reader is gone: send `rest`, then END_STREAM.
  void end_tunnel(std::int32_t stream, std::string rest);
  void reset(std::int32_t stream, std::uint32_t error_code);
  // Graceful end: GOAWAY (NO_ERROR, last stream processed); alive() turns false once sent.
  void go_away();
  [[nodiscard]] bool went_away() const { return went_away_; }

  // What the handler attached to a stream (0: nothing), and whether it is answered.
  void set_tag(std::int32_t stream, std::uint64_t tag);
  [[nodiscard]] std::uint64_t tag(std::int32_t stream) const;
  [[nodiscard]] bool is_open(std::int32_t stream) const { return streams_.contains(stream); }
  [[nodiscard]] bool responded(std::int32_t stream) const;
  [[nodiscard]] bool peer_ended(std::int32_t stream) const;
  [[nodiscard]] bool is_tunnel(std::int32_t stream) const;
  void for_each_tag(const std::function<void(std::uint64_t)>& visit) const;

 private:
  struct Stream {
    H2Request request;
    std::string out;  // a response body (or a tunnel's rest) not yet sent
    std::size_t out_sent = 0;
    std::uint64_t tag = 0;
    bool responded = false;
    bool tunnel = false;      // reads go to the handler
    bool peer_ended = false;  // END_STREAM received
    bool dispatched = false;  // on_request ran
    bool connect = false;     // a CONNECT: DATA before the answer goes to the handler too
  };
  friend struct H2Callbacks;
  Stream* find(std::int32_t stream);

  Handler& handler_;
  H2Limits limits_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, Stream> streams_;
  std::span<std::byte> input_;  // the bytes receive() is feeding: DATA inside is writable
  bool went_away_ = false;
};

}  // namespace hibiki::server

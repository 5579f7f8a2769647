// One client connection as the server tracks it: the socket, where it is in its life, parser
// state and the bytes it holds between reads. Owned by the ServerCore's slab.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/socket.hpp"
#include "net/tls.hpp"
#include "net/unique_fd.hpp"
#include "protocol/frame_parser.hpp"
#include "server/compression.hpp"
#include "server/send_queue.hpp"

namespace hibiki::server {

struct Topic;

enum class ConnectionState : std::uint8_t {
  http,        // reading an HTTP request (a WebSocket upgrade or a plain GET)
  upgrading,   // a valid upgrade request waits for the application's on_upgrade answer
  responding,  // an HTTP request waits for the application's answer (Server::route_deferred)
  open,        // WebSocket open: frames both ways
  closing,     // we sent a close frame and wait for the peer's (RFC 6455 §7.1.2)
  h2,          // HTTP/2 (ALPN h2): bytes go to the connection's H2Session; each request and
               // WebSocket is a stream Connection of its own (h2_stream)
  draining,    // done talking: our write side is shut once the queue empties; reads are
               // discarded until the peer's EOF or the close timeout
  closed,      // waiting to be reclaimed at the end of the loop turn
};

// An upgrade request kept while the application decides (ConnectionState::upgrading): what the
// 101 response needs once the request's own bytes are gone.
struct UpgradeStash {
  std::string key;                   // Sec-WebSocket-Key
  std::vector<std::string> offered;  // Sec-WebSocket-Protocol values, in the client's order
  protocol::DeflateNegotiation deflate;
  std::uint16_t route = 0;
  bool deciding = false;  // on_upgrade is running: the request's bytes are still in the inbox
};

// The HTTP/2 side of a connection (h2_stage.cpp): its session and the glue to the server.
struct H2Connection;
struct H2ConnectionDeleter {
  void operator()(H2Connection* h2) const;
};

// Where a stream Connection lives: its parent connection's handle and its stream id.
struct H2StreamRef {
  std::uint32_t parent_slot = 0;
  std::uint32_t parent_generation = 0;
  std::int32_t stream_id = 0;
};

// What few connections need: kept out of Connection so idle ones stay small.
struct ConnectionExtras {
  std::unique_ptr<net::TlsSession> tls;           // wss:// and https:// (these cost ~15 KB anyway)
  std::unique_ptr<CompressionState> compression;  // permessage-deflate was agreed
  std::string control;                            // a control frame's payload split across reads
  std::string protocol;                           // the negotiated subprotocol
  std::string close_reason;                       // reported to on_close
  std::unique_ptr<UpgradeStash> upgrade;          // while upgrading
  std::unique_ptr<H2Connection, H2ConnectionDeleter> h2;  // state h2: the HTTP/2 session
  H2StreamRef h2_stream;                                  // a stream's parent (h2_stream set)
  bool respond_head_only = false;   // while responding: the request was a HEAD
  bool responding_in_call = false;  // the deferred handler is running
};

struct Connection {
  // Fields are ordered by size so the struct has no padding holes: one exists per open
  // connection, and an idle one should cost about 256 bytes in all (docs/BENCHMARKS.md).
  std::uint64_t id = 0;
  void* user_data = nullptr;
  // An idle connection holds neither: both are allocated on first use (DESIGN §5, cheap idle
  // connections) and the queue is given back whenever it empties.
  std::unique_ptr<SendQueue> queue;
  std::unique_ptr<ConnectionExtras> extras;
  protocol::FrameParser parser;
  std::string inbox;  // HTTP head bytes, or the fragments of a message being assembled
  std::vector<Topic*> topics;
  net::UniqueFd fd;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  std::uint32_t http_scanned = 0;    // bytes of inbox already searched for the end of the head
  std::uint32_t last_read_ms = 0;    // monotonic milliseconds, truncated: compare by difference
  float rate_tokens = 0;             // messages this connection may still send now
  std::uint32_t rate_refill_ms = 0;  // when rate_tokens was last topped up (truncated ms)
  net::PeerAddress peer;
  std::uint16_t route = 0;       // index of the WebSocket handlers once upgraded
  std::uint16_t close_code = 0;  // reported to on_close
  ConnectionState state = ConnectionState::http;
  std::uint8_t listener = 0;          // index of the listener that accepted it (its local port)
  bool opened : 1 = false;            // on_open ran, so on_close is owed
  bool close_notified : 1 = false;    // on_close ran
  bool ping_outstanding : 1 = false;  // idle ping sent, no frame since
  bool write_shut : 1 = false;        // shutdown(SHUT_WR) done
  bool keep_alive : 1 = true;         // plain HTTP: keep the connection after the response
  bool backpressured : 1 = false;     // the queue passed the cap; on_drain when it empties
  bool read_resume_queued : 1 = false;
  bool flush_queued : 1 = false;  // listed in ServerCore::dirty_ for this turn
  bool peer_hung_up : 1 = false;  // epoll reported the peer's FIN or an error: read to EOF
  bool compressed : 1 = false;    // permessage-deflate agreed (state in extras->compression)
  bool served : 1 = false;        // plain HTTP: answered a request (idle now: keep-alive)
  // An HTTP/2 stream: no socket of its own; its bytes go through the parent's session
  // (extras->h2_stream). Its write_shut means END_STREAM was asked for.
  bool h2_stream : 1 = false;
  bool receiving : 1 = false;   // io_uring: a multishot receive is armed
  bool reclaiming : 1 = false;  // io_uring: closed, waiting for its operations' completions

  [[nodiscard]] bool has_queued() const { return queue && !queue->empty(); }
  [[nodiscard]] bool sending() const { return queue && queue->sending(); }
  [[nodiscard]] std::size_t buffered() const { return queue ? queue->size() : 0; }
  ConnectionExtras& more() {
    if (!extras) extras = std::make_unique<ConnectionExtras>();
    return *extras;
  }
  [[nodiscard]] net::TlsSession* tls() const { return extras ? extras->tls.get() : nullptr; }
  [[nodiscard]] std::string_view protocol() const {
    return extras ? std::string_view(extras->protocol) : std::string_view();
  }
  [[nodiscard]] std::string_view close_reason() const {
    return extras ? std::string_view(extras->close_reason) : std::string_view();
  }
};

}  // namespace hibiki::server

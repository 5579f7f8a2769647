// One client connection as the server tracks it: the socket, where it is in its life, parser
// state and the bytes it holds between reads. Owned by the ServerCore's slab.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/unique_fd.hpp"
#include "protocol/frame_parser.hpp"
#include "server/send_queue.hpp"

namespace hibiki::server {

struct Topic;

enum class ConnectionState : std::uint8_t {
  http,      // reading an HTTP request (a WebSocket upgrade or a plain GET)
  open,      // WebSocket open: frames both ways
  closing,   // we sent a close frame and wait for the peer's (RFC 6455 §7.1.2)
  draining,  // done talking: our write side is shut once the queue empties; reads are
             // discarded until the peer's EOF or the close timeout
  closed,    // waiting to be reclaimed at the end of the loop turn
};

struct Connection {
  net::UniqueFd fd;
  std::uint64_t id = 0;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  ConnectionState state = ConnectionState::http;
  std::uint16_t route = 0;        // index of the WebSocket handlers once upgraded
  bool opened = false;            // on_open ran, so on_close is owed
  bool close_notified = false;    // on_close ran
  bool ping_outstanding = false;  // idle ping sent, no frame since
  bool write_shut = false;        // shutdown(SHUT_WR) done
  bool keep_alive = true;         // plain HTTP: keep the connection after the response
  bool backpressured = false;     // the queue passed the cap; on_drain when it empties
  bool read_resume_queued = false;
  bool flush_queued = false;     // listed in ServerCore::dirty_ for this turn
  bool peer_hung_up = false;     // epoll reported the peer's FIN or an error: read to EOF
  std::uint16_t close_code = 0;  // reported to on_close
  std::uint64_t last_read_ms = 0;
  std::size_t http_scanned = 0;  // bytes of inbox already searched for the end of the head
  protocol::FrameParser parser;
  std::string inbox;    // HTTP head bytes, or the fragments of a message being assembled
  std::string control;  // a control frame's payload split across reads
  SendQueue out;
  std::vector<Topic*> topics;
  std::string remote_address;
  std::string protocol;
  std::string close_reason;
  void* user_data = nullptr;
};

}  // namespace hibiki::server

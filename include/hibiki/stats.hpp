// Counters of what the server did and refused, for dashboards and alerts. Read them on the
// run() thread (an HTTP route handler is the natural place); metrics_text() formats them in the
// Prometheus text exposition format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hibiki {

struct ServerStats {
  std::uint64_t connections_open = 0;      // gauge: sockets open now (HTTP and WebSocket)
  std::uint64_t connections_accepted = 0;  // accepted sockets, ever
  std::uint64_t websocket_upgrades = 0;    // successful 101 responses
  std::uint64_t messages_received = 0;     // complete WebSocket messages delivered to handlers
  std::uint64_t messages_sent = 0;         // messages queued to clients (a publish counts each)
  // Refusals and forced closes, one counter per limit (README: limits).
  std::uint64_t refused_max_connections = 0;         // 503: max_connections
  std::uint64_t refused_max_connections_per_ip = 0;  // 503: max_connections_per_ip
  std::uint64_t refused_out_of_descriptors = 0;      // 503: the process hit its fd limit
  std::uint64_t handshake_rejected = 0;              // 4xx/5xx answered to a request
  std::uint64_t handshake_timeouts = 0;              // 408 / TLS handshake not finished
  std::uint64_t tls_handshake_failures = 0;
  std::uint64_t protocol_errors = 0;          // closed 1002/1007/1009 for a peer's violation
  std::uint64_t closed_buffer_full = 0;       // closed 1008: max_buffered_bytes
  std::uint64_t messages_dropped = 0;         // backpressure policy drop
  std::uint64_t closed_message_rate = 0;      // closed 1008: max_messages_per_second
  std::uint64_t idle_timeouts = 0;            // closed 1001 after an unanswered ping
  std::uint64_t http2_connections = 0;        // TLS connections that chose h2 by ALPN
  std::uint64_t http2_websocket_streams = 0;  // WebSockets opened over h2 (RFC 8441)
  std::uint64_t io_uring_loops = 0;           // gauge: event loops on io_uring (the others: epoll)
};

// "# TYPE hibiki_connections_open gauge\nhibiki_connections_open 3\n..." for every counter.
std::string metrics_text(const ServerStats& stats);

// Appends one metric in the Prometheus text format ("# HELP", "# TYPE", the sample), for
// applications that serve counters of their own next to metrics_text(). `type` is "counter"
// or "gauge"; `name` is used as given.
void append_metric(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, std::uint64_t value);

}  // namespace hibiki

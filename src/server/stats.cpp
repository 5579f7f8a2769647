// Prometheus text exposition of ServerStats.
#include "hibiki/stats.hpp"

#include <array>
#include <utility>

namespace hibiki {

std::string metrics_text(const ServerStats& s) {
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t value;
  };
  const std::array<Metric, 19> metrics{{
      {"connections_open", "gauge", "Sockets open now, HTTP and WebSocket.", s.connections_open},
      {"connections_accepted_total", "counter", "Sockets accepted.", s.connections_accepted},
      {"websocket_upgrades_total", "counter", "Successful WebSocket upgrades.",
       s.websocket_upgrades},
      {"messages_received_total", "counter", "WebSocket messages received.", s.messages_received},
      {"messages_sent_total", "counter", "WebSocket messages queued to clients.", s.messages_sent},
      {"refused_max_connections_total", "counter", "Sockets refused with 503: max_connections.",
       s.refused_max_connections},
      {"refused_max_connections_per_ip_total", "counter",
       "Sockets refused with 503: max_connections_per_ip.", s.refused_max_connections_per_ip},
      {"refused_out_of_descriptors_total", "counter",
       "Sockets refused with 503: no file descriptor left.", s.refused_out_of_descriptors},
      {"handshake_rejected_total", "counter", "HTTP requests answered with an error status.",
       s.handshake_rejected},
      {"handshake_timeouts_total", "counter", "Connections closed before a complete request.",
       s.handshake_timeouts},
      {"tls_handshake_failures_total", "counter", "Failed TLS handshakes.",
       s.tls_handshake_failures},
      {"protocol_errors_total", "counter", "Connections closed for a protocol violation.",
       s.protocol_errors},
      {"closed_buffer_full_total", "counter", "Connections closed 1008: send buffer full.",
       s.closed_buffer_full},
      {"messages_dropped_total", "counter", "Messages dropped by the backpressure policy.",
       s.messages_dropped},
      {"closed_message_rate_total", "counter", "Connections closed 1008: message rate.",
       s.closed_message_rate},
      {"idle_timeouts_total", "counter", "Connections closed after an unanswered idle ping.",
       s.idle_timeouts},
      {"http2_connections_total", "counter", "Connections that chose HTTP/2 (ALPN h2).",
       s.http2_connections},
      {"http2_websocket_streams_total", "counter",
       "WebSockets opened over HTTP/2 (RFC 8441 extended CONNECT).", s.http2_websocket_streams},
      {"io_uring_loops", "gauge", "Event loops on the io_uring backend (the others use epoll).",
       s.io_uring_loops},
  }};
  std::string out;
  for (const Metric& m : metrics) {
    append_metric(out, std::string("hibiki_") + m.name, m.type, m.help, m.value);
  }
  return out;
}

void append_metric(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, std::uint64_t value) {
  out.append("# HELP ").append(name).append(" ").append(help);
  out.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
  out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

}  // namespace hibiki

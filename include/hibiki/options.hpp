// Server options: an aggregate with a commented default per field, meant for designated
// initializers: hibiki::ServerOptions{.port = 9001, .max_message_bytes = 16 << 20}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hibiki {

enum class LogLevel : std::uint8_t { debug, info, warn, error, off };

// How log lines are written to stderr (hibiki/log.hpp).
enum class LogFormat : std::uint8_t {
  text,  // "2026-11-25T12:00:00.123Z INFO  message"
  json,  // {"time":"2026-11-25T12:00:00.123Z","level":"info","message":"...", fields...}
};

// What happens when a connection's unsent bytes would pass max_buffered_bytes.
enum class BackpressurePolicy : std::uint8_t {
  close,  // close the connection with 1008 (policy violation): the client cannot keep up
  drop,   // drop the message for that connection only; send() reports SendStatus::dropped
};

// permessage-deflate (RFC 7692), offered by every browser.
enum class CompressionMode : std::uint8_t {
  off,        // decline the extension
  shared,     // no context takeover either way: one compressor per loop serves everyone and a
              // broadcast is compressed once; idle connections hold no zlib state
  dedicated,  // context takeover: each connection keeps its own windows (better ratio on
              // similar messages, about 150-300 KiB per active connection)
};

// How the event loops talk to the kernel.
enum class IoBackend : std::uint8_t {
  automatic,  // io_uring when this kernel and process allow it (logged), else epoll (logged)
  epoll,      // readiness: one recv/send system call per connection and event
  io_uring,   // completions: a loop turn's sends and receives in one system call; the
              // Server constructor throws std::runtime_error when it is not available
};

// The TLS of a listener added with Server::listen(host, port, tls): PEM files of a certificate
// chain and of its private key, both set, or both empty for a plain (http://, ws://) listener.
struct ListenerTls {
  std::string certificate_file;
  std::string private_key_file;
};

struct ServerOptions {
  // Event loops, one thread each, with a listener each on the same port (SO_REUSEPORT); 0: one
  // per core. Handlers then run on several threads at once (each connection always on its
  // own loop's thread), so with more than 1 they must be thread-safe.
  std::uint32_t threads = 1;
  std::string host = "0.0.0.0";  // listen address; "::" for IPv6 (and IPv4 where mapped)
  std::uint16_t port = 8080;     // 0: the kernel picks a free port (see Server::port())
  // epoll or io_uring (docs/ARCHITECTURE.md: I/O backends); every loop uses the same.
  IoBackend io = IoBackend::automatic;
  // Set SO_REUSEPORT on every listener even with one loop, so that another process (of the
  // same user) can listen on the same port while this one runs: the successor of a restart
  // without a gap. With threads > 1 it is set anyway; false keeps a single loop's port its own.
  bool reuse_port = false;
  // HTTP request head (request line + headers) limits; past them 431.
  std::size_t max_header_bytes = 8192;
  std::size_t max_headers = 64;
  // Request body (Content-Length) accepted by HTTP routes; past it 413. Bodies must declare
  // their length: Transfer-Encoding gets 411.
  std::size_t max_http_body_bytes = 1u << 20;
  // Largest WebSocket message accepted, summed over its fragments; past it close 1009.
  std::size_t max_message_bytes = 1u << 20;
  // Largest single data frame; past it close 1009. 0: only max_message_bytes applies.
  std::size_t max_frame_bytes = 0;
  // Largest data frame the server sends: longer messages go out as a fragmented message
  // (RFC 6455 §5.4), as API Gateway does past 32 KB. 0: one frame per message.
  std::size_t max_send_frame_bytes = 0;
  // Unsent bytes a connection may hold before backpressure_policy applies.
  std::size_t max_buffered_bytes = 4u << 20;
  BackpressurePolicy backpressure_policy = BackpressurePolicy::close;
  // Time to complete the HTTP request (slowloris defence); past it the socket is closed.
  std::uint32_t handshake_timeout_ms = 10'000;
  // Silence after which the server pings; a second silent period closes with 1001.
  // 0 disables idle handling.
  std::uint32_t idle_timeout_ms = 120'000;
  // Time the peer has to answer our close frame before the TCP connection is dropped.
  std::uint32_t close_timeout_ms = 5'000;
  // Graceful shutdown: how long to wait for peers to finish the close handshake.
  std::uint32_t shutdown_timeout_ms = 3'000;
  // Origin values allowed to upgrade (exact, case-insensitive); empty: any origin.
  std::vector<std::string> allowed_origins;
  // Connections open at once (HTTP and WebSocket); past it new sockets get 503.
  std::size_t max_connections = 100'000;
  // Connections open at once from one IP address; past it 503. 0: no limit.
  std::size_t max_connections_per_ip = 1024;
  // Messages (and pings) a connection may send per second, with bursts of twice that; past it
  // the connection is closed with 1008. 0: no limit.
  std::uint32_t max_messages_per_second = 0;
  CompressionMode compression = CompressionMode::shared;
  // Messages shorter than this are sent uncompressed even when the extension is on.
  std::size_t compression_threshold_bytes = 64;
  // Largest LZ77 window (8..15) for both directions: memory against ratio.
  std::uint8_t compression_window_bits = 15;
  // TLS (wss:// and https:// on the same port): PEM certificate chain and private key.
  // Both empty: plain TCP. Loaded by listen(); Server::reload_tls() reads them again.
  std::string tls_certificate_file;
  std::string tls_private_key_file;
  // With TLS: offer HTTP/2 ("h2") by ALPN besides HTTP/1.1. HTTP routes, static files and
  // WebSockets (RFC 8441 extended CONNECT, one stream each) are then served over h2 too.
  bool http2 = true;
  // Streams a client may open at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).
  std::uint32_t http2_max_streams = 128;
  // Time to complete the TLS handshake; the HTTP request then has handshake_timeout_ms.
  std::uint32_t tls_handshake_timeout_ms = 10'000;
  LogLevel log_level = LogLevel::info;
  LogFormat log_format = LogFormat::text;
};

}  // namespace hibiki

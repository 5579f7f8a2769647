// TCP sockets for the event loop: listening, accepting, and I/O calls that return bytes or
// -errno (EINTR retried here, EAGAIN returned as flow, not failure). Knows nothing of WebSocket.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "net/unique_fd.hpp"

namespace hibiki::net {

struct ListenOptions {
  std::string host = "0.0.0.0";  // IPv4 or IPv6 literal, or "localhost"
  std::uint16_t port = 0;        // 0: the kernel picks one
  int backlog = 1024;
  bool reuse_port = false;  // SO_REUSEPORT, for one listener per loop
};

// Binds and listens (non-blocking, close-on-exec). Throws std::system_error with the address
// in the message when the address cannot be resolved or bound.
UniqueFd listen_tcp(const ListenOptions& options);

// The port a bound socket ended up on.
std::uint16_t local_port(int fd);

// Accepts one connection as a non-blocking, close-on-exec socket with TCP_NODELAY.
// Returns the fd, or -errno (-EAGAIN when the backlog is empty).
int accept_connection(int listen_fd);

// A peer's address in 20 bytes (IPv4 stored as IPv4-mapped IPv6), formatted only on demand.
struct PeerAddress {
  std::array<std::uint8_t, 16> ip{};
  std::uint16_t port = 0;
  bool known = false;
  // "ip:port" ("[v6]:port" for IPv6), or "?" when unknown.
  [[nodiscard]] std::string to_string() const;
};

PeerAddress peer_address(int fd);

// read(2) / writev(2) / send(2) returning bytes or -errno; 0 from read_some means EOF.
long read_some(int fd, std::span<std::byte> buffer);
long writev_some(int fd, const struct iovec* iov, int count);
long write_some(int fd, std::span<const std::byte> data);

// A descriptor kept in reserve (on /dev/null): closing it frees one slot when the process ran
// out of descriptors, so a pending connection can still be accepted and refused.
UniqueFd reserve_descriptor();

// shutdown(fd, SHUT_WR): our side of the TCP stream ends (a FIN is sent after queued bytes).
void shutdown_write(int fd);

}  // namespace hibiki::net

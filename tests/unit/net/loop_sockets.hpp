// Real loopback TCP sockets for event loop tests: a listener and connected pairs.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

#include "net/socket.hpp"
#include "net/unique_fd.hpp"

namespace hibiki::net::testing {

// A blocking client socket connected to 127.0.0.1:port (receive buffer shrunk when asked).
inline UniqueFd connect_to(std::uint16_t port, int receive_buffer_bytes = 0) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (receive_buffer_bytes > 0) {
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                 sizeof receive_buffer_bytes);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return {};
  return fd;
}

// (server side, non-blocking as the server's are; client side, blocking) over loopback TCP.
inline std::pair<UniqueFd, UniqueFd> tcp_pair(int client_receive_buffer_bytes = 0) {
  UniqueFd listener = listen_tcp({.host = "127.0.0.1", .port = 0});
  UniqueFd client = connect_to(local_port(listener.get()), client_receive_buffer_bytes);
  int accepted = -EAGAIN;
  while (accepted == -EAGAIN)
    accepted = accept_connection(listener.get());
  return {UniqueFd(accepted), std::move(client)};
}

}  // namespace hibiki::net::testing

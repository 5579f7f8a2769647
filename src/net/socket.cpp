// TCP socket helpers for the event loop.
#include "net/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace hibiki::net {
namespace {

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

void set_int_option(int fd, int level, int name, int value) {
  ::setsockopt(fd, level, name, &value, sizeof value);
}

}  // namespace

UniqueFd listen_tcp(const ListenOptions& options) {
  const std::string where = options.host + ":" + std::to_string(options.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options.port);
  const char* host = options.host.empty() ? nullptr : options.host.c_str();
  if (int rc = ::getaddrinfo(host, port.c_str(), &hints, &found); rc != 0) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "cannot resolve " + where + ": " + ::gai_strerror(rc));
  }
  int last_error = EADDRNOTAVAIL;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
      last_error = errno;
      continue;
    }
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
    if (options.reuse_port) set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1);
    if (ai->ai_family == AF_INET6) set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 0);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 ||
        ::listen(fd.get(), options.backlog) != 0) {
      last_error = errno;
      continue;
    }
    ::freeaddrinfo(found);
    return fd;
  }
  ::freeaddrinfo(found);
  throw_errno(last_error, "cannot listen on " + where);
}

std::uint16_t local_port(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
}

int accept_connection(int listen_fd) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
      return fd;
    }
    if (errno == EINTR) continue;
    return -errno;
  }
}

std::string peer_address(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "?";
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    std::string address_text = "[";
    address_text.append(text).append("]:").append(std::to_string(ntohs(in6->sin6_port)));
    return address_text;
  }
  auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
  ::inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text);
  return std::string(text) + ":" + std::to_string(ntohs(in4->sin_port));
}

long read_some(int fd, std::span<std::byte> buffer) {
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

long writev_some(int fd, const struct iovec* iov, int count) {
  msghdr message{};
  message.msg_iov = const_cast<struct iovec*>(iov);
  message.msg_iovlen = static_cast<std::size_t>(count);
  for (;;) {
    // sendmsg with MSG_NOSIGNAL: a peer that vanished gives EPIPE, never SIGPIPE.
    ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

long write_some(int fd, std::span<const std::byte> data) {
  iovec one{const_cast<std::byte*>(data.data()), data.size()};
  return writev_some(fd, &one, 1);
}

void shutdown_write(int fd) {
  ::shutdown(fd, SHUT_WR);
}

UniqueFd reserve_descriptor() {
  return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

}  // namespace hibiki::net

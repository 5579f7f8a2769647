// ServerOptions::io to a backend: auto probes io_uring (about a millisecond: a ring, a buffer
// ring and one byte through a socketpair) and says what it took.
#include <stdexcept>
#include <string>

#include "hibiki/log.hpp"
#include "server/server_group.hpp"

namespace hibiki::detail {

net::IoKind choose_io_backend(IoBackend wanted) {
  if (wanted == IoBackend::epoll) {
    log(LogLevel::info, "I/O backend: epoll (as configured)", {{"io", "epoll"}});
    return net::IoKind::epoll;
  }
  // Not cached: a sysctl or a seccomp filter may change between two servers of one process.
  const std::string reason = net::io_uring_unavailable_reason();
  if (wanted == IoBackend::io_uring) {
    if (!reason.empty()) {
      throw std::runtime_error("io_uring was asked for (io = io_uring) but is not available: " +
                               reason);
    }
    log(LogLevel::info, "I/O backend: io_uring (as configured)", {{"io", "io_uring"}});
    return net::IoKind::io_uring;
  }
  if (!reason.empty()) {
    log(LogLevel::info, "I/O backend: epoll, because io_uring is not available: " + reason,
        {{"io", "epoll"}, {"reason", reason}});
    return net::IoKind::epoll;
  }
  log(LogLevel::info, "I/O backend: io_uring (auto: the kernel allows it)", {{"io", "io_uring"}});
  return net::IoKind::io_uring;
}

}  // namespace hibiki::detail

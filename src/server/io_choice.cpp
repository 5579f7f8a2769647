// ServerOptions::io to a backend: auto probes io_uring once per process and says what it took.
#include <mutex>
#include <stdexcept>
#include <string>

#include "hibiki/log.hpp"
#include "server/server_group.hpp"

namespace hibiki::detail {
namespace {

// The probe sets up a ring and receives a byte through it: done once, not per Server.
const std::string& unavailable_reason() {
  static std::once_flag once;
  static std::string reason;
  std::call_once(once, [] { reason = net::io_uring_unavailable_reason(); });
  return reason;
}

}  // namespace

net::IoKind choose_io_backend(IoBackend wanted) {
  if (wanted == IoBackend::epoll) {
    log(LogLevel::info, "I/O backend: epoll (as configured)", {{"io", "epoll"}});
    return net::IoKind::epoll;
  }
  const std::string& reason = unavailable_reason();
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

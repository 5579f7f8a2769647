#include "apps/chat/store_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <system_error>

namespace hibiki::apps::chat {

StoreLock::StoreLock(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + path_);
}

StoreLock::~StoreLock() {
  release();
  if (fd_ >= 0) ::close(fd_);
}

bool StoreLock::try_acquire() {
  if (held_) return true;
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) return false;
  held_ = true;
  const std::string pid = std::to_string(::getpid()) + "\n";
  // The file is ours now: replace whatever PID a former holder left.
  if (::ftruncate(fd_, 0) != 0 ||
      ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // Still locked, only anonymous: a successor then waits without telling us to go.
  }
  return true;
}

void StoreLock::release() {
  if (!held_) return;
  // A free lock names nobody, so a successor never signals a PID the system gave to another
  // process since (a holder that dies without this leaves its PID: see holder_pid()).
  [[maybe_unused]] const int rc = ::ftruncate(fd_, 0);
  ::flock(fd_, LOCK_UN);
  held_ = false;
}

pid_t StoreLock::holder_pid() const {
  char text[32] = {};
  const ssize_t n = ::pread(fd_, text, sizeof text - 1, 0);
  if (n <= 0) return 0;
  pid_t pid = 0;
  const auto [end, error] = std::from_chars(text, text + n, pid);
  if (error != std::errc{} || end == text || pid <= 0) return 0;
  return pid;
}

}  // namespace hibiki::apps::chat

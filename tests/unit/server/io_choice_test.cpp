// ServerOptions::io where io_uring is not allowed: a seccomp filter makes io_uring_setup fail
// with EPERM in a child process, as a container's profile or kernel.io_uring_disabled would.
// auto falls back to epoll, io_uring is refused (exception; `hibiki` exits 2 with a message).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "hibiki/server.hpp"
#include "net/io_backend.hpp"

namespace hibiki {
namespace {

// Every io_uring_setup from now on fails with EPERM (x86-64 and arm64 share the number).
bool deny_io_uring() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// What the child found, as its exit status: 0 when every expectation held.
int check_without_io_uring() {
  if (!deny_io_uring()) return 10;
  const std::string reason = net::io_uring_unavailable_reason();
  if (reason.find("Operation not permitted") == std::string::npos) return 11;
  try {
    Server refused(ServerOptions{.io = IoBackend::io_uring, .log_level = LogLevel::off});
    return 12;  // constructed: the requirement was ignored
  } catch (const std::runtime_error& error) {
    if (std::string(error.what()).find("not available") == std::string::npos) return 13;
  }
  Server fallback(ServerOptions{.host = "127.0.0.1", .port = 0, .log_level = LogLevel::off});
  if (fallback.stats().io_uring_loops != 0) return 14;
  return 0;
}

// Runs `child` in a forked process with stderr into a pipe; returns (exit status, stderr).
template <typename Child>
std::pair<int, std::string> in_child(Child child) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return {-1, ""};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::_exit(child());
  }
  ::close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  long n;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0)
    output.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(IoChoice, without_io_uring_auto_takes_epoll_and_a_required_io_uring_is_refused) {
  const auto [status, output] = in_child(check_without_io_uring);
  EXPECT_EQ(status, 0) << output;
}

TEST(IoChoice, the_program_exits_2_with_the_reason_when_io_uring_is_required_but_denied) {
  const auto [status, output] = in_child([] {
    if (!deny_io_uring()) return 10;
    ::execl(HIBIKI_BINARY, "hibiki", "echo", "--host", "127.0.0.1", "--port", "0", "--io",
            "io_uring", static_cast<char*>(nullptr));
    return 11;
  });
  EXPECT_EQ(status, 2) << output;
  EXPECT_NE(output.find("hibiki echo: io_uring was asked for (io = io_uring) but is not "
                        "available: io_uring_setup: Operation not permitted"),
            std::string::npos)
      << output;
}

TEST(IoChoice, the_program_falls_back_to_epoll_on_auto_and_says_why) {
  const auto [status, output] = in_child([] {
    if (!deny_io_uring()) return 10;
    // --help after the backend was chosen is not a thing; a bad port ends the run right after.
    ::execl(HIBIKI_BINARY, "hibiki", "echo", "--host", "203.0.113.1", "--port", "1", "--io", "auto",
            static_cast<char*>(nullptr));
    return 11;
  });
  EXPECT_EQ(status, 1) << output;  // cannot bind that address: after the backend's log line
  EXPECT_NE(output.find("I/O backend: epoll, because io_uring is not available: io_uring_setup: "
                        "Operation not permitted"),
            std::string::npos)
      << output;
}

}  // namespace
}  // namespace hibiki

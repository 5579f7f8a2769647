// Runs a Server on its own thread on a free loopback port for the length of a test.
#pragma once

#include <cstdint>
#include <thread>

#include "hibiki/server.hpp"
#include "test_io.hpp"

namespace hibiki::testing {

// Options for a server on a free loopback port with `threads` loops, quiet.
inline ServerOptions loopback_options(std::uint32_t threads) {
  // On the backend under test (test_io.hpp), like the tests that build their own options.
  return on_test_io(ServerOptions{
      .threads = threads, .host = "127.0.0.1", .port = 0, .log_level = LogLevel::off});
}

class RunningServer {
 public:
  explicit RunningServer(Server& server) : server_(server) {
    port_ = server_.listen();
    thread_ = std::thread([this] { server_.run(); });
  }
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  Server& server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace hibiki::testing

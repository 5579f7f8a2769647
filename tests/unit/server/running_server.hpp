// Runs a Server on its own thread on a free loopback port for the length of a test.
#pragma once

#include <cstdint>
#include <thread>

#include "hibiki/server.hpp"

namespace hibiki::testing {

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

// The gateway's Reactor on top of one of hibiki::Server's loops: descriptor watches and timers
// on that loop, so an integration client's sockets are served by the same loop (and thread) as
// the WebSockets whose events it carries.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>

#include "apps/gateway/reactor.hpp"
#include "hibiki/server.hpp"

namespace hibiki::apps::gateway {

class ServerReactor final : public Reactor {
 public:
  explicit ServerReactor(LoopHandle loop) : loop_(loop) {}
  ~ServerReactor() override;
  ServerReactor(const ServerReactor&) = delete;
  ServerReactor& operator=(const ServerReactor&) = delete;

  void watch(int fd, std::uint32_t interest, std::function<void(std::uint32_t)> callback) override;
  void unwatch(int fd) override;
  void set_timer(std::uint64_t id, std::uint32_t delay_ms, std::function<void()> callback) override;
  void cancel_timer(std::uint64_t id) override;

 private:
  LoopHandle loop_;
  std::unordered_map<std::uint64_t, std::uint64_t> timers_;  // our id -> the loop's id
};

}  // namespace hibiki::apps::gateway

#include "apps/gateway/server_reactor.hpp"

namespace hibiki::apps::gateway {

ServerReactor::~ServerReactor() {
  for (const auto& [id, loop_id] : timers_)
    loop_.cancel_timer(loop_id);
}

void ServerReactor::watch(int fd, std::uint32_t interest,
                          std::function<void(std::uint32_t)> callback) {
  // The bits are the same on both sides: 1 readable, 2 writable, 4 error.
  loop_.watch_descriptor(fd, interest, std::move(callback));
}

void ServerReactor::unwatch(int fd) {
  loop_.unwatch_descriptor(fd);
}

void ServerReactor::set_timer(std::uint64_t id, std::uint32_t delay_ms,
                              std::function<void()> callback) {
  cancel_timer(id);
  timers_[id] = loop_.set_timer(delay_ms, [this, id, callback = std::move(callback)] {
    timers_.erase(id);
    callback();
  });
}

void ServerReactor::cancel_timer(std::uint64_t id) {
  if (auto found = timers_.find(id); found != timers_.end()) {
    loop_.cancel_timer(found->second);
    timers_.erase(found);
  }
}

}  // namespace hibiki::apps::gateway

// What the application may hang on loop 0 besides connections: descriptors of its own (watched
// level-triggered, as libraries like libcurl expect) and one-shot timers with millisecond
// precision (the connection timer wheel's 250 ms ticks are too coarse for them).
#include <algorithm>
#include <functional>

#include "server/server_core.hpp"

namespace hibiki::detail {
namespace {

constexpr std::uint64_t kWatchTokenBase = 1u << 16;
constexpr int kMaxTimersPerTurn = 1024;

using HeapEntry = std::pair<std::uint64_t, std::uint64_t>;  // (deadline, id)
constexpr auto kSoonestFirst = [](const HeapEntry& a, const HeapEntry& b) { return a > b; };

}  // namespace

void ServerCore::watch_descriptor(int fd, std::uint32_t interest,
                                  std::function<void(std::uint32_t)> callback) {
  const bool known = watches_.contains(fd);
  watches_[fd] = std::move(callback);
  loop_.watch_level(fd, kWatchTokenBase + static_cast<std::uint64_t>(fd),
                    (interest & Server::kReadable) != 0, (interest & Server::kWritable) != 0,
                    /*modify=*/known);
}

void ServerCore::unwatch_descriptor(int fd) {
  if (watches_.erase(fd) != 0) loop_.unwatch(fd);
}

void ServerCore::run_watch(int fd, std::uint32_t events) {
  // Tasks other loops dispatched here before this descriptor became ready run first: an
  // application that hands a loop work and then hears back on a socket sees them in order.
  drain_inbox();
  auto found = watches_.find(fd);
  if (found == watches_.end()) return;  // unwatched earlier in this turn
  std::uint32_t ready = 0;
  if (events & net::io_event::kReadable) ready |= Server::kReadable;
  if (events & net::io_event::kWritable) ready |= Server::kWritable;
  if (events & net::io_event::kHangup) ready |= Server::kError;
  // The callback may unwatch (or rewatch) this very descriptor: call a copy.
  const std::function<void(std::uint32_t)> callback = found->second;
  callback(ready);
}

std::uint64_t ServerCore::set_timer(std::uint32_t delay_ms, std::function<void()> callback) {
  const std::uint64_t id = next_app_timer_id_++;
  const std::uint64_t deadline = net::EventLoop::monotonic_ms() + delay_ms;
  app_timers_.emplace(id, AppTimer{deadline, std::move(callback)});
  // Cancelled entries wait in the heap for their deadline; rebuild when they outnumber the rest.
  if (app_timer_heap_.size() > 2 * app_timers_.size() + 64) {
    std::erase_if(app_timer_heap_,
                  [this](const HeapEntry& entry) { return !app_timers_.contains(entry.second); });
    std::make_heap(app_timer_heap_.begin(), app_timer_heap_.end(), kSoonestFirst);
  }
  app_timer_heap_.emplace_back(deadline, id);
  std::push_heap(app_timer_heap_.begin(), app_timer_heap_.end(), kSoonestFirst);
  return id;
}

void ServerCore::cancel_timer(std::uint64_t id) {
  app_timers_.erase(id);  // its heap entry is skipped when it comes up
}

std::uint64_t ServerCore::run_due_timers() {
  // One at a time, so a callback that cancels a later timer is obeyed; a bounded number per
  // turn, since a callback may set a new timer that is already due.
  const std::uint64_t now = net::EventLoop::monotonic_ms();
  for (int run = 0; run < kMaxTimersPerTurn && !app_timer_heap_.empty() &&
                    app_timer_heap_.front().first <= now;) {
    const std::uint64_t id = app_timer_heap_.front().second;
    std::pop_heap(app_timer_heap_.begin(), app_timer_heap_.end(), kSoonestFirst);
    app_timer_heap_.pop_back();
    auto timer = app_timers_.find(id);
    if (timer == app_timers_.end()) continue;  // cancelled
    const std::function<void()> callback = std::move(timer->second.callback);
    app_timers_.erase(timer);
    ++run;
    callback();
  }
  return next_timer_deadline();
}

std::uint64_t ServerCore::next_timer_deadline() {
  // Drop cancelled entries from the top so the next deadline is a live one.
  while (!app_timer_heap_.empty() && !app_timers_.contains(app_timer_heap_.front().second)) {
    std::pop_heap(app_timer_heap_.begin(), app_timer_heap_.end(), kSoonestFirst);
    app_timer_heap_.pop_back();
  }
  return app_timer_heap_.empty() ? UINT64_MAX : app_timer_heap_.front().first;
}

}  // namespace hibiki::detail

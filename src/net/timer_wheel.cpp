// Hashed timer wheel with intrusive index-linked buckets.
#include "net/timer_wheel.hpp"

#include <algorithm>

namespace hibiki::net {

TimerWheel::TimerWheel(std::uint32_t tick_ms, std::uint32_t bucket_count)
    : tick_ms_(std::max<std::uint32_t>(tick_ms, 1)),
      heads_(std::max<std::uint32_t>(bucket_count, 1), kNil) {}

void TimerWheel::arm(std::uint32_t id, std::uint64_t deadline_ms) {
  if (id >= nodes_.size()) nodes_.resize(static_cast<std::size_t>(id) + 1);
  unlink(id);
  // Round up: a timer never fires before its deadline.
  std::uint64_t tick = (deadline_ms + tick_ms_ - 1) / tick_ms_;
  if (started_ && tick <= last_tick_) tick = last_tick_ + 1;
  Node& node = nodes_[id];
  node.deadline_tick = static_cast<std::uint32_t>(tick);
  node.bucket = static_cast<std::uint32_t>(tick % heads_.size());
  node.prev = kNil;
  node.next = heads_[node.bucket];
  if (node.next != kNil) nodes_[node.next].prev = id;
  heads_[node.bucket] = id;
}

void TimerWheel::disarm(std::uint32_t id) {
  if (id < nodes_.size()) unlink(id);
}

bool TimerWheel::armed(std::uint32_t id) const {
  return id < nodes_.size() && nodes_[id].bucket != kNil;
}

void TimerWheel::unlink(std::uint32_t id) {
  Node& node = nodes_[id];
  if (node.bucket == kNil) return;
  if (node.prev != kNil) {
    nodes_[node.prev].next = node.next;
  } else {
    heads_[node.bucket] = node.next;
  }
  if (node.next != kNil) nodes_[node.next].prev = node.prev;
  node.prev = node.next = node.bucket = kNil;
}

void TimerWheel::expire(std::uint64_t now_ms, std::vector<std::uint32_t>& due) {
  due.clear();
  const std::uint64_t now_tick = now_ms / tick_ms_;
  if (!started_) {
    started_ = true;
    last_tick_ = now_tick;
    // Timers armed before the first expire may already be due.
    for (std::uint32_t bucket = 0; bucket < heads_.size(); ++bucket) {
      for (std::uint32_t id = heads_[bucket]; id != kNil; id = nodes_[id].next) {
        if (nodes_[id].deadline_tick <= now_tick) due.push_back(id);
      }
    }
    for (std::uint32_t id : due)
      unlink(id);
    return;
  }
  if (now_tick <= last_tick_) return;
  // After a long stall, one revolution visits every bucket once.
  const std::uint64_t first = std::max<std::uint64_t>(
      last_tick_ + 1, now_tick + 1 - std::min<std::uint64_t>(now_tick, heads_.size()));
  for (std::uint64_t tick = first; tick <= now_tick; ++tick) {
    const auto bucket = static_cast<std::uint32_t>(tick % heads_.size());
    for (std::uint32_t id = heads_[bucket]; id != kNil; id = nodes_[id].next) {
      if (nodes_[id].deadline_tick <= now_tick) due.push_back(id);
    }
  }
  for (std::uint32_t id : due)
    unlink(id);
  last_tick_ = now_tick;
}

}  // namespace hibiki::net

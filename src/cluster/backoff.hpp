// Reconnect delays: doubling from a first delay to a cap, each drawn at random in the upper
// half of its step ("equal jitter"), so nodes that lost Redis at the same moment spread out.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>

namespace hibiki::cluster {

class Backoff {
 public:
  Backoff(std::uint32_t first_ms, std::uint32_t cap_ms, std::uint64_t seed)
      : first_ms_(std::max<std::uint32_t>(first_ms, 1)),
        cap_ms_(std::max(cap_ms, first_ms_)),
        random_(seed) {}

  // The delay before the next attempt; each call is one more failure.
  std::uint32_t next() {
    std::uint64_t step = first_ms_;
    for (std::uint32_t i = 0; i < failures_ && step < cap_ms_; ++i)
      step *= 2;
    step = std::min<std::uint64_t>(step, cap_ms_);
    ++failures_;
    std::uniform_int_distribution<std::uint64_t> upper_half(step / 2, step);
    return static_cast<std::uint32_t>(upper_half(random_));
  }
  void reset() { failures_ = 0; }
  [[nodiscard]] std::uint32_t failures() const { return failures_; }

 private:
  std::uint32_t first_ms_;
  std::uint32_t cap_ms_;
  std::uint32_t failures_ = 0;
  std::mt19937_64 random_;
};

}  // namespace hibiki::cluster

// Reconnect delays: doubling to the cap, drawn in the upper half of each step, reset on success.
#include <gtest/gtest.h>

#include <set>

#include "cluster/backoff.hpp"

namespace hibiki::cluster {
namespace {

TEST(Backoff, doubles_to_the_cap_within_the_upper_half_of_each_step) {
  Backoff backoff(100, 5000, 42);
  const std::uint32_t steps[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
  for (const std::uint32_t step : steps) {
    const std::uint32_t delay = backoff.next();
    EXPECT_GE(delay, step / 2) << "step " << step;
    EXPECT_LE(delay, step) << "step " << step;
  }
}

TEST(Backoff, reset_starts_again_from_the_first_delay) {
  Backoff backoff(100, 5000, 7);
  for (int i = 0; i < 10; ++i)
    backoff.next();
  backoff.reset();
  EXPECT_EQ(backoff.failures(), 0u);
  EXPECT_LE(backoff.next(), 100u);
}

TEST(Backoff, nodes_with_other_seeds_spread_out) {
  // Jitter: ten nodes that lost Redis together do not all retry at the same millisecond.
  std::set<std::uint32_t> delays;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    Backoff backoff(1000, 5000, seed);
    delays.insert(backoff.next());
  }
  EXPECT_GE(delays.size(), 5u);
}

}  // namespace
}  // namespace hibiki::cluster

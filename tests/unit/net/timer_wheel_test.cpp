#include "net/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace hibiki::net {
namespace {

std::vector<std::uint32_t> expire_at(TimerWheel& wheel, std::uint64_t now_ms) {
  std::vector<std::uint32_t> due;
  wheel.expire(now_ms, due);
  std::sort(due.begin(), due.end());
  return due;
}

TEST(TimerWheel, fires_at_the_first_tick_at_or_after_the_deadline) {
  TimerWheel wheel(100, 8);
  EXPECT_TRUE(expire_at(wheel, 1000).empty());
  wheel.arm(3, 1250);
  EXPECT_TRUE(expire_at(wheel, 1200).empty());
  EXPECT_TRUE(wheel.armed(3));
  EXPECT_EQ(expire_at(wheel, 1300), std::vector<std::uint32_t>{3});
  EXPECT_FALSE(wheel.armed(3));
  EXPECT_TRUE(expire_at(wheel, 5000).empty());
}

TEST(TimerWheel, never_fires_a_disarmed_timer) {
  TimerWheel wheel(100, 8);
  expire_at(wheel, 0);
  wheel.arm(1, 300);
  wheel.arm(2, 300);
  wheel.disarm(1);
  EXPECT_EQ(expire_at(wheel, 400), std::vector<std::uint32_t>{2});
}

TEST(TimerWheel, rearming_moves_the_deadline) {
  TimerWheel wheel(100, 8);
  expire_at(wheel, 0);
  wheel.arm(5, 200);
  wheel.arm(5, 900);
  EXPECT_TRUE(expire_at(wheel, 500).empty());
  EXPECT_EQ(expire_at(wheel, 900), std::vector<std::uint32_t>{5});
}

TEST(TimerWheel, deadlines_beyond_one_revolution_wait_their_turn) {
  TimerWheel wheel(100, 4);  // one revolution is 400 ms
  expire_at(wheel, 0);
  wheel.arm(7, 1000);
  wheel.arm(8, 150);
  EXPECT_EQ(expire_at(wheel, 200), std::vector<std::uint32_t>{8});
  EXPECT_TRUE(expire_at(wheel, 600).empty());
  EXPECT_TRUE(expire_at(wheel, 900).empty());
  EXPECT_EQ(expire_at(wheel, 1000), std::vector<std::uint32_t>{7});
}

TEST(TimerWheel, a_long_stall_fires_everything_due_once) {
  TimerWheel wheel(100, 4);
  expire_at(wheel, 0);
  for (std::uint32_t id = 0; id < 20; ++id)
    wheel.arm(id, 100 + id * 100);
  const auto due = expire_at(wheel, 1000);
  EXPECT_EQ(due.size(), 10u);  // deadlines 100..1000
  EXPECT_EQ(due.front(), 0u);
  EXPECT_EQ(due.back(), 9u);
  EXPECT_EQ(expire_at(wheel, 100000).size(), 10u);
}

TEST(TimerWheel, a_deadline_in_the_past_fires_on_the_next_tick) {
  TimerWheel wheel(100, 8);
  expire_at(wheel, 1000);
  wheel.arm(4, 10);
  EXPECT_EQ(expire_at(wheel, 1100), std::vector<std::uint32_t>{4});
}

}  // namespace
}  // namespace hibiki::net

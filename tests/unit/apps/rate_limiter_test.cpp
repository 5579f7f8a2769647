#include "apps/chat/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace hibiki::apps::chat {
namespace {

TEST(TokenBucket, allows_a_burst_then_refuses) {
  const RateLimit limit{.rate_per_s = 2, .burst = 3};
  TokenBucket bucket(limit, 1000);
  EXPECT_TRUE(bucket.try_take(limit, 1000));
  EXPECT_TRUE(bucket.try_take(limit, 1000));
  EXPECT_TRUE(bucket.try_take(limit, 1000));
  EXPECT_FALSE(bucket.try_take(limit, 1000));
  EXPECT_EQ(bucket.retry_after_ms(limit), 500);
}

TEST(TokenBucket, refills_at_the_rate_and_caps_at_the_burst) {
  const RateLimit limit{.rate_per_s = 2, .burst = 3};
  TokenBucket bucket(limit, 0);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(bucket.try_take(limit, 0));
  EXPECT_FALSE(bucket.try_take(limit, 499));
  // 0.998 tokens: about 1 ms short, rounded up.
  EXPECT_GE(bucket.retry_after_ms(limit), 1);
  EXPECT_LE(bucket.retry_after_ms(limit), 2);
  EXPECT_TRUE(bucket.try_take(limit, 500));
  EXPECT_FALSE(bucket.try_take(limit, 500));
  // A long quiet spell saves up the burst, not more.
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(bucket.try_take(limit, 60'000)) << i;
  EXPECT_FALSE(bucket.try_take(limit, 60'000));
}

TEST(TokenBucket, a_clock_going_backwards_earns_nothing) {
  const RateLimit limit{.rate_per_s = 1, .burst = 1};
  TokenBucket bucket(limit, 10'000);
  EXPECT_TRUE(bucket.try_take(limit, 10'000));
  EXPECT_FALSE(bucket.try_take(limit, 5'000));
  EXPECT_TRUE(bucket.try_take(limit, 11'000));
}

TEST(TokenBucket, rate_zero_is_unlimited) {
  const RateLimit limit{.rate_per_s = 0, .burst = 1};
  TokenBucket bucket(limit, 0);
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(bucket.try_take(limit, 0));
}

TEST(TokenBucket, fractional_rates_work) {
  const RateLimit limit{.rate_per_s = 0.5, .burst = 1};
  TokenBucket bucket(limit, 0);
  EXPECT_TRUE(bucket.try_take(limit, 0));
  EXPECT_FALSE(bucket.try_take(limit, 1000));
  EXPECT_EQ(bucket.retry_after_ms(limit), 1000);
  EXPECT_TRUE(bucket.try_take(limit, 2000));
}

}  // namespace
}  // namespace hibiki::apps::chat

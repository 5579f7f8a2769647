// Connection ids from blocks: handed out in order, the next block asked for at half, never an
// id twice, and the high-water mark that raises Redis' counter back after data loss.
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "apps/chat/id_pool.hpp"

namespace hibiki::apps::chat {
namespace {

TEST(IdPool, empty_until_a_block_arrives) {
  IdPool pool;
  EXPECT_TRUE(pool.empty());
  EXPECT_FALSE(pool.take());
  EXPECT_TRUE(pool.wants_block());
  EXPECT_FALSE(pool.wants_block());  // already asked
  pool.add_block(IdPool::kBlock);
  EXPECT_FALSE(pool.empty());
  EXPECT_EQ(pool.take(), 1u);
  EXPECT_EQ(pool.high_water(), IdPool::kBlock);
}

TEST(IdPool, asks_for_the_next_block_at_half_and_moves_on_to_it) {
  IdPool pool;
  ASSERT_TRUE(pool.wants_block());
  const std::uint64_t first_last = 4 * IdPool::kBlock;  // another node took the first three
  pool.add_block(first_last);
  for (std::uint64_t i = 0; i < IdPool::kBlock / 2 - 1; ++i)
    ASSERT_EQ(pool.take(), first_last - IdPool::kBlock + 1 + i);
  EXPECT_FALSE(pool.wants_block());
  ASSERT_TRUE(pool.take());
  EXPECT_TRUE(pool.wants_block());                       // half left
  const std::uint64_t second_last = 9 * IdPool::kBlock;  // and the blocks between
  pool.add_block(second_last);
  std::uint64_t last = 0;
  while (auto id = pool.take()) {
    if (*id > first_last) {
      EXPECT_EQ(*id, second_last - IdPool::kBlock + 1);
      last = *id;
      break;
    }
  }
  EXPECT_NE(last, 0u);
  EXPECT_EQ(pool.high_water(), second_last);
}

TEST(IdPool, a_failed_refill_may_be_asked_again) {
  IdPool pool;
  ASSERT_TRUE(pool.wants_block());
  pool.refill_failed();
  EXPECT_TRUE(pool.wants_block());
}

TEST(IdPool, threads_never_get_the_same_id) {
  IdPool pool;
  ASSERT_TRUE(pool.wants_block());
  pool.add_block(IdPool::kBlock);
  std::vector<std::vector<std::uint64_t>> taken(4);
  std::vector<std::thread> threads;
  for (auto& mine : taken) {
    threads.emplace_back([&pool, &mine] {
      while (auto id = pool.take())
        mine.push_back(*id);
    });
  }
  for (auto& thread : threads)
    thread.join();
  std::set<std::uint64_t> all;
  for (const auto& mine : taken)
    all.insert(mine.begin(), mine.end());
  EXPECT_EQ(all.size(), IdPool::kBlock);
}

}  // namespace
}  // namespace hibiki::apps::chat

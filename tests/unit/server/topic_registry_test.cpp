#include "server/topic_registry.hpp"

#include <gtest/gtest.h>

#include "server/connection.hpp"

namespace hibiki::server {
namespace {

TEST(TopicRegistry, subscribes_once_per_connection) {
  TopicRegistry registry;
  Connection a;
  a.slot = 1;
  EXPECT_TRUE(registry.subscribe(a, "room"));
  EXPECT_FALSE(registry.subscribe(a, "room"));
  ASSERT_NE(registry.find("room"), nullptr);
  EXPECT_EQ(registry.find("room")->subscribers, std::vector<std::uint32_t>{1});
}

TEST(TopicRegistry, unsubscribe_all_forgets_the_connection_and_empty_topics) {
  TopicRegistry registry;
  Connection a;
  a.slot = 1;
  Connection b;
  b.slot = 2;
  registry.subscribe(a, "x");
  registry.subscribe(a, "y");
  registry.subscribe(b, "y");
  registry.unsubscribe_all(a);
  EXPECT_TRUE(a.topics.empty());
  EXPECT_EQ(registry.find("x"), nullptr);
  ASSERT_NE(registry.find("y"), nullptr);
  EXPECT_EQ(registry.find("y")->subscribers, std::vector<std::uint32_t>{2});
}

TEST(TopicRegistry, unsubscribe_reports_whether_it_was_subscribed) {
  TopicRegistry registry;
  Connection a;
  a.slot = 4;
  EXPECT_FALSE(registry.unsubscribe(a, "nothing"));
  registry.subscribe(a, "t");
  EXPECT_TRUE(registry.unsubscribe(a, "t"));
  EXPECT_FALSE(registry.unsubscribe(a, "t"));
  EXPECT_EQ(registry.find("t"), nullptr);
}

}  // namespace
}  // namespace hibiki::server

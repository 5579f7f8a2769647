#include "apps/gateway/gateway_ids.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apps/gateway/base64.hpp"

namespace hibiki::apps::gateway {
namespace {

void expect_aws_like(const std::string& id) {
  ASSERT_EQ(id.size(), 16u) << id;
  EXPECT_EQ(id.back(), '=') << id;
  for (std::size_t i = 0; i + 1 < id.size(); ++i) {
    const char ch = id[i];
    const bool url_safe = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
    EXPECT_TRUE(url_safe) << id;
  }
}

TEST(GatewayIds, look_like_api_gateway_ids) {
  expect_aws_like(new_connection_id());
  expect_aws_like(new_request_id());
}

TEST(GatewayIds, do_not_repeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    EXPECT_TRUE(seen.insert(new_connection_id()).second);
    EXPECT_TRUE(seen.insert(new_request_id()).second);
  }
}

// Each thread draws from a batch of its own: the batches must not repeat each other.
TEST(GatewayIds, threads_draw_different_ids) {
  std::vector<std::string> a;
  std::vector<std::string> b;
  std::thread first([&a] {
    for (int i = 0; i < 1000; ++i)
      a.push_back(new_request_id());
  });
  std::thread second([&b] {
    for (int i = 0; i < 1000; ++i)
      b.push_back(new_request_id());
  });
  first.join();
  second.join();
  std::set<std::string> seen(a.begin(), a.end());
  for (const std::string& id : b)
    EXPECT_TRUE(seen.insert(id).second) << id;
  EXPECT_EQ(seen.size(), 2000u);
}

}  // namespace
}  // namespace hibiki::apps::gateway

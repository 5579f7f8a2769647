#include "apps/gateway/headers.hpp"

#include <gtest/gtest.h>

namespace hibiki::apps::gateway {
namespace {

TEST(GatewayHeaders, finds_the_first_header_in_any_case) {
  const HeaderList headers = {{"Host", "a"}, {"X-Thing", "1"}, {"x-thing", "2"}};
  EXPECT_EQ(find_header(headers, "x-THING"), "1");
  EXPECT_EQ(find_header(headers, "host"), "a");
  EXPECT_FALSE(find_header(headers, "hos").has_value());
  EXPECT_FALSE(find_header({}, "host").has_value());
}

TEST(GatewayHeaders, compares_ascii_case_insensitively_and_trims_ows) {
  EXPECT_TRUE(iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(iequals("Content-Type", "Content-Typ"));
  EXPECT_FALSE(iequals("\xC3\xA9", "\xC3\x89"));  // only ASCII folds
  EXPECT_EQ(trim_ows(" \t value  with  inside \t "), "value  with  inside");
  EXPECT_EQ(trim_ows("  "), "");
}

}  // namespace
}  // namespace hibiki::apps::gateway

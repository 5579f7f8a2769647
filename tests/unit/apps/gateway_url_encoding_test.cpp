#include "apps/gateway/url_encoding.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hibiki::apps::gateway {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

TEST(GatewayUrlEncoding, percent_decodes_either_hex_case) {
  EXPECT_EQ(percent_decode("L0SM9cOFvHcCIhw%3D", PlusMeans::plus), "L0SM9cOFvHcCIhw=");
  EXPECT_EQ(percent_decode("a%3d%2F%e2%82%ac", PlusMeans::plus), "a=/\xE2\x82\xAC");
  EXPECT_EQ(percent_decode("", PlusMeans::plus), "");
}

TEST(GatewayUrlEncoding, plus_is_itself_in_paths_and_a_space_in_queries) {
  EXPECT_EQ(percent_decode("a+b%2B", PlusMeans::plus), "a+b+");
  EXPECT_EQ(percent_decode("a+b%2B", PlusMeans::space), "a b+");
}

TEST(GatewayUrlEncoding, refuses_malformed_escapes) {
  EXPECT_FALSE(percent_decode("%", PlusMeans::plus).has_value());
  EXPECT_FALSE(percent_decode("abc%4", PlusMeans::plus).has_value());
  EXPECT_FALSE(percent_decode("%G0", PlusMeans::plus).has_value());
  EXPECT_FALSE(percent_decode("%0g", PlusMeans::plus).has_value());
}

TEST(GatewayUrlEncoding, uri_encode_keeps_only_unreserved_characters) {
  EXPECT_EQ(uri_encode("AZaz09-_.~", false), "AZaz09-_.~");
  EXPECT_EQ(uri_encode("a b+c=d/e@f%", false), "a%20b%2Bc%3Dd%2Fe%40f%25");
  EXPECT_EQ(uri_encode("/a b/c", true), "/a%20b/c");
  EXPECT_EQ(uri_encode("\xE1\x88\xB4", false), "%E1%88%B4");
}

TEST(GatewayUrlEncoding, splits_and_decodes_query_strings_in_order) {
  EXPECT_EQ(parse_query("a=1&b=x%20y+z&a=2&c&&=v&d="),
            (Params{{"a", "1"}, {"b", "x y z"}, {"a", "2"}, {"c", ""}, {"", "v"}, {"d", ""}}));
  EXPECT_EQ(parse_query(""), Params{});
  EXPECT_EQ(parse_query("&&"), Params{});
  EXPECT_EQ(parse_query("k=a=b"), (Params{{"k", "a=b"}}));
  EXPECT_EQ(parse_query("bad=%zz&ok=%41"), (Params{{"bad", "%zz"}, {"ok", "A"}}));
}

}  // namespace
}  // namespace hibiki::apps::gateway

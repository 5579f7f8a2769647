#include "apps/gateway/time_format.hpp"

#include <gtest/gtest.h>

namespace hibiki::apps::gateway {
namespace {

constexpr std::int64_t kNov25_2026 = 1795622258123;  // 2026-11-25T15:57:38.123Z

TEST(GatewayTimeFormat, formats_request_time_like_api_gateway) {
  EXPECT_EQ(format_request_time(kNov25_2026), "25/Nov/2026:15:57:38 +0000");
  EXPECT_EQ(format_request_time(1607854667186), "13/Dec/2020:10:17:47 +0000");  // AWS sample
  EXPECT_EQ(format_request_time(0), "01/Jan/1970:00:00:00 +0000");
  EXPECT_EQ(format_request_time(951782400000), "29/Feb/2000:00:00:00 +0000");
}

TEST(GatewayTimeFormat, formats_iso8601_with_milliseconds) {
  EXPECT_EQ(format_iso8601_ms(kNov25_2026), "2026-11-25T15:57:38.123Z");
  EXPECT_EQ(format_iso8601_ms(1), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(format_iso8601_ms(253402300799999), "9999-12-31T23:59:59.999Z");
}

TEST(GatewayTimeFormat, parses_amz_date) {
  EXPECT_EQ(parse_amz_date("20150830T123600Z"), 1440938160);
  EXPECT_EQ(parse_amz_date("19700101T000000Z"), 0);
  EXPECT_FALSE(parse_amz_date("20150830T123600").has_value());
  EXPECT_FALSE(parse_amz_date("2015083OT123600Z").has_value());
  EXPECT_FALSE(parse_amz_date("20150230T123600Z").has_value());  // 30 February
  EXPECT_FALSE(parse_amz_date("20150830T246000Z").has_value());
  EXPECT_FALSE(parse_amz_date("20150830 123600Z").has_value());
}

}  // namespace
}  // namespace hibiki::apps::gateway

#include "apps/gateway/error_frame.hpp"

#include <gtest/gtest.h>

namespace hibiki::apps::gateway {
namespace {

TEST(GatewayErrorFrame, matches_api_gateways_bytes) {
  EXPECT_EQ(
      aws_error_frame(kForbiddenMessage, "XDmENcnwIE0CFEQ=", "XDmGEE2RoE0FRdQ="),
      R"({"message": "Forbidden", "connectionId":"XDmENcnwIE0CFEQ=", "requestId":"XDmGEE2RoE0FRdQ="})");
  EXPECT_EQ(
      aws_error_frame(kInternalServerErrorMessage, "Qyi07eCbtjMCJKw=", "Qyi3UG41tjMFlUg="),
      R"({"message": "Internal server error", "connectionId":"Qyi07eCbtjMCJKw=", "requestId":"Qyi3UG41tjMFlUg="})");
}

TEST(GatewayErrorFrame, escapes_its_fields) {
  EXPECT_EQ(aws_error_frame("a\"b", "c\\d", "e\nf"),
            R"({"message": "a\"b", "connectionId":"c\\d", "requestId":"e\nf"})");
}

}  // namespace
}  // namespace hibiki::apps::gateway

#include "apps/gateway/base64.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hibiki::apps::gateway {
namespace {

TEST(GatewayBase64, encodes_the_rfc_4648_test_vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(GatewayBase64, url_alphabet_uses_dash_and_underscore) {
  const std::string bytes("\xFB\xFF\xBF", 3);
  EXPECT_EQ(base64_encode(bytes), "+/+/");
  EXPECT_EQ(base64_encode(bytes, Base64Alphabet::url), "-_-_");
}

TEST(GatewayBase64, decodes_with_or_without_padding) {
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYmE"), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYg"), "foob");
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("+/+/"), std::string("\xFB\xFF\xBF", 3));
}

TEST(GatewayBase64, round_trips_every_byte_value) {
  std::string all;
  for (int byte = 0; byte < 256; ++byte)
    all += static_cast<char>(byte);
  for (std::size_t length = 0; length <= all.size(); length += 37) {
    const std::string part = all.substr(0, length);
    EXPECT_EQ(base64_decode(base64_encode(part)), part) << length;
  }
}

TEST(GatewayBase64, refuses_what_is_not_base64) {
  EXPECT_FALSE(base64_decode("Zm9v!").has_value());
  EXPECT_FALSE(base64_decode("Z").has_value());         // one character holds no byte
  EXPECT_FALSE(base64_decode("Zm=9").has_value());      // padding in the middle
  EXPECT_FALSE(base64_decode("Zm9vY===").has_value());  // too much padding
  EXPECT_FALSE(base64_decode("Zm9v Yg==").has_value());
  EXPECT_FALSE(base64_decode("-_-_").has_value());  // URL alphabet is not the standard one
}

}  // namespace
}  // namespace hibiki::apps::gateway

// parse_redis_url: what --redis accepts, and the reason for everything it refuses.
#include <gtest/gtest.h>

#include "hibiki/cluster.hpp"

namespace hibiki {
namespace {

RedisAddress parsed(std::string_view url) {
  std::string error;
  auto address = parse_redis_url(url, &error);
  EXPECT_TRUE(address) << url << ": " << error;
  return address.value_or(RedisAddress{});
}

std::string refusal(std::string_view url) {
  std::string error;
  EXPECT_FALSE(parse_redis_url(url, &error)) << url;
  return error;
}

TEST(RedisUrl, host_port_and_database) {
  const RedisAddress full = parsed("redis://10.0.0.7:6380/3");
  EXPECT_EQ(full.host, "10.0.0.7");
  EXPECT_EQ(full.port, 6380);
  EXPECT_EQ(full.db, 3u);
  EXPECT_EQ(full.password, "");
  const RedisAddress bare = parsed("redis://cache.internal");
  EXPECT_EQ(bare.host, "cache.internal");
  EXPECT_EQ(bare.port, 6379);
  EXPECT_EQ(bare.db, 0u);
  EXPECT_EQ(parsed("redis://h/").db, 0u);
}

TEST(RedisUrl, ipv6_in_brackets) {
  const RedisAddress address = parsed("redis://[::1]:7000/1");
  EXPECT_EQ(address.host, "::1");
  EXPECT_EQ(address.port, 7000);
  EXPECT_EQ(address.db, 1u);
  EXPECT_EQ(parsed("redis://[fe80::1]").port, 6379);
}

TEST(RedisUrl, password) {
  EXPECT_EQ(parsed("redis://:s3cr@t@127.0.0.1:6379").password, "s3cr@t");
  EXPECT_EQ(parsed("redis://default:pw@h").password, "pw");
  EXPECT_EQ(parsed("redis://default:pw@h").host, "h");
}

TEST(RedisUrl, refusals_say_why) {
  EXPECT_EQ(refusal("http://127.0.0.1:6379"), "must start with redis://");
  EXPECT_EQ(refusal("127.0.0.1:6379"), "must start with redis://");
  EXPECT_NE(refusal("rediss://h:6379").find("TLS"), std::string::npos);
  EXPECT_EQ(refusal("redis://"), "no host");
  EXPECT_EQ(refusal("redis://:6379"), "no host");
  EXPECT_EQ(refusal("redis://h:0"), "port must be 1-65535");
  EXPECT_EQ(refusal("redis://h:65536"), "port must be 1-65535");
  EXPECT_EQ(refusal("redis://h:63x9"), "port must be 1-65535");
  EXPECT_EQ(refusal("redis://h:"), "empty port");
  EXPECT_EQ(refusal("redis://h:1/x"), "database must be a number (redis://HOST:PORT/DB)");
  EXPECT_EQ(refusal("redis://h:1/-1"), "database must be a number (redis://HOST:PORT/DB)");
  EXPECT_EQ(refusal("redis://[::1"), "unclosed [ in the IPv6 address");
  EXPECT_EQ(refusal("redis://[::1]x"), "unexpected text after the IPv6 address");
  EXPECT_EQ(refusal("redis://h o:1"), "invalid character in the host");
  EXPECT_EQ(refusal("redis://alice:pw@h"),
            "only the default user is supported (redis://:PASSWORD@HOST)");
  EXPECT_EQ(refusal("redis://pw@h"), "credentials must be :PASSWORD");
  EXPECT_EQ(refusal("redis://:@h"), "empty password");
}

}  // namespace
}  // namespace hibiki

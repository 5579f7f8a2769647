// What gateway nodes send each other through Redis, byte for byte: forwarded management calls
// and their answers, whatever bytes the ids, topics and bodies hold, and refusals of anything
// malformed.
#include <gtest/gtest.h>

#include <string>

#include "apps/gateway/cluster_messages.hpp"

namespace hibiki::apps::gateway {
namespace {

TEST(GatewayClusterMessages, a_call_is_netstrings_in_a_fixed_order) {
  const ForwardedCall call{.origin = "gw-1",
                           .correlation = 42,
                           .deadline_ms = 1796000000123,
                           .action = ManagementAction::post_to_connection,
                           .connection_id = "L0SM9cOFvHcCIhw=",
                           .topic = "",
                           .body = "hi"};
  EXPECT_EQ(
      encode(call),
      "3:req,4:gw-1,2:42,13:1796000000123,18:post_to_connection,16:L0SM9cOFvHcCIhw=,0:,2:hi,");
}

TEST(GatewayClusterMessages, an_answer_is_netstrings_in_a_fixed_order) {
  EXPECT_EQ(encode(ForwardedAnswer{
                .correlation = 7, .status = 410, .error_type = "GoneException", .body = ""}),
            "3:res,1:7,3:410,13:GoneException,0:,");
}

TEST(GatewayClusterMessages, any_bytes_cross_unchanged) {
  std::string body("a,b:c\0\xff\n", 8);
  const ForwardedCall call{.origin = "n:1",
                           .correlation = 18446744073709551615ull,
                           .deadline_ms = 5,
                           .action = ManagementAction::subscribe_topic,
                           .connection_id = "x,1:y",
                           .topic = std::string("t\0\xc3\x28", 4),
                           .body = body};
  const auto decoded = decode_call(encode(call));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->origin, call.origin);
  EXPECT_EQ(decoded->correlation, call.correlation);
  EXPECT_EQ(decoded->deadline_ms, 5);
  EXPECT_EQ(decoded->action, call.action);
  EXPECT_EQ(decoded->connection_id, call.connection_id);
  EXPECT_EQ(decoded->topic, call.topic);
  EXPECT_EQ(decoded->body, body);
  const auto answer = decode_answer(
      encode(ForwardedAnswer{.correlation = 3, .status = 200, .error_type = "", .body = body}));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, body);
  // A call is not an answer and the other way round.
  EXPECT_FALSE(decode_answer(encode(call)).has_value());
  EXPECT_FALSE(decode_call(encode(*answer)).has_value());
}

TEST(GatewayClusterMessages, every_action_name_round_trips) {
  for (const ManagementAction action :
       {ManagementAction::post_to_connection, ManagementAction::get_connection,
        ManagementAction::delete_connection, ManagementAction::publish_topic,
        ManagementAction::subscribe_topic, ManagementAction::unsubscribe_topic}) {
    EXPECT_EQ(action_from_string(to_string(action)), action);
  }
  EXPECT_EQ(action_from_string("invalid"), ManagementAction::invalid);
  EXPECT_EQ(action_from_string("POST"), ManagementAction::invalid);
}

TEST(GatewayClusterMessages, malformed_messages_are_refused) {
  const char* calls[] = {
      "",
      "3:req,",                                                            // too few fields
      "3:req,4:gw-1,2:42,1:9,18:post_to_connection,1:x,0:,2:hi,0:,",       // too many
      "3:req,4:gw-1,2:42,1:9,18:post_to_connection,1:x,0:,5:hi,",          // past the end
      "3:req,4:gw-1,2:42,1:9,18:post_to_connection,1:x,0:,2:hi;",          // no comma
      "3:req,0:,2:42,1:9,18:post_to_connection,1:x,0:,2:hi,",              // no origin
      "3:req,4:gw-1,2:4x,1:9,18:post_to_connection,1:x,0:,2:hi,",          // correlation
      "3:req,4:gw-1,2:42,0:,18:post_to_connection,1:x,0:,2:hi,",           // no deadline
      "3:req,4:gw-1,2:42,1:9,6:delete,1:x,0:,2:hi,",                       // unknown action
      "3:req,4:gw-1,2:42,1:9,18:post_to_connection,1:x,0:,-1:hi,",         // negative length
      "3:req,4:gw-1,2:42,1:9,18:post_to_connection,1:x,0:,99999999999:,",  // absurd length
  };
  for (const char* message : calls)
    EXPECT_FALSE(decode_call(message).has_value()) << message;
  const char* answers[] = {"3:res,1:7,3:999,0:,0:,", "3:res,1:7,2:OK,0:,0:,",
                           "3:res,0:,3:200,0:,0:,", "3:res,1:7,3:200,0:,"};
  for (const char* message : answers)
    EXPECT_FALSE(decode_answer(message).has_value()) << message;
}

}  // namespace
}  // namespace hibiki::apps::gateway

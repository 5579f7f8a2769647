#include "apps/gateway/route_selection.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hibiki::apps::gateway {
namespace {

using Outcome = RouteChoice::Outcome;

RouteSelector selector(std::string_view expression) {
  std::string error;
  auto parsed = RouteSelector::parse(expression, error);
  EXPECT_TRUE(parsed.has_value()) << error;
  return parsed.value_or(RouteSelector{});
}

const RouteTable kTalk({"$connect", "$disconnect", "$default", "message", "3", "1.50", "true",
                        "false"});
const RouteTable kNoDefault({"$connect", "message"});

TEST(GatewayRouteSelection, parses_the_plain_body_form) {
  EXPECT_EQ(selector("$request.body.action").path(), std::vector<std::string>{"action"});
  EXPECT_EQ(selector("$request.body.meta.type").path(), (std::vector<std::string>{"meta", "type"}));
  EXPECT_EQ(selector("$request.body.action").expression(), "$request.body.action");
}

TEST(GatewayRouteSelection, refuses_other_expressions_with_a_clear_error) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"${request.body.action}", "templates like ${request.body.action} are not supported"},
      {"$request.body.action-${request.body.v}", "templates like"},
      {"$request.header.x", "only $request.body.<key>[.<key>...] is supported"},
      {"request.body.action", "only $request.body"},
      {"$request.body", "only $request.body"},
      {"$request.body.", "has an empty key"},
      {"$request.body.a..b", "has an empty key"},
      {"$request.body.a.", "has an empty key"},
      {"$request.body.a b", "may not hold spaces"},
      {"$request.body.items[0]", "may not hold spaces, control characters, brackets"},
  };
  for (const auto& [expression, why] : cases) {
    std::string error;
    EXPECT_FALSE(RouteSelector::parse(expression, error).has_value()) << expression;
    EXPECT_NE(error.find(why), std::string::npos) << error;
    EXPECT_NE(error.find(std::string(expression)), std::string::npos) << error;
  }
}

TEST(GatewayRouteSelection, a_matching_string_value_selects_its_route) {
  const RouteChoice choice = select_route(selector("$request.body.action"),
                                          R"({"action":"message","message":"hi"})", kTalk);
  EXPECT_EQ(choice.outcome, Outcome::matched);
  EXPECT_EQ(choice.route_key, "message");
  EXPECT_EQ(choice.selected, "message");
}

TEST(GatewayRouteSelection, walks_nested_keys) {
  const RouteChoice choice = select_route(selector("$request.body.meta.kind"),
                                          R"({"meta":{"kind":"message"},"x":[1,2]})", kTalk);
  EXPECT_EQ(choice.outcome, Outcome::matched);
  EXPECT_EQ(choice.route_key, "message");
}

TEST(GatewayRouteSelection, numbers_keep_their_written_text) {
  const RouteSelector s = selector("$request.body.action");
  EXPECT_EQ(select_route(s, R"({"action":3})", kTalk).route_key, "3");
  EXPECT_EQ(select_route(s, R"({"action": 1.50 })", kTalk).route_key, "1.50");
  EXPECT_EQ(select_route(s, R"({"action":1.5})", kTalk).outcome, Outcome::defaulted);
  EXPECT_EQ(select_route(s, R"({"action":1.5})", kTalk).selected, "1.5");
  EXPECT_EQ(select_route(s, R"({"action":-2e3})", kTalk).selected, "-2e3");
  EXPECT_EQ(select_route(selector("$request.body.a.b"), R"({"a":{"b":3 } })", kTalk).route_key,
            "3");
}

// Keys are matched unescaped for numbers as for strings, and the first of duplicate keys wins
// (found by gateway_message_fuzz: a number under "\u0061ction" gave no value, or the value of a
// later plain "action").
TEST(GatewayRouteSelection, numbers_under_escaped_keys_are_found_like_strings) {
  const RouteSelector s = selector("$request.body.action");
  EXPECT_EQ(select_route(s, R"({"\u0061ction":3})", kTalk).route_key, "3");
  EXPECT_EQ(select_route(s, R"({"\u0061ction":"message"})", kTalk).route_key, "message");
  EXPECT_EQ(select_route(s, R"({"\u0061ction":3,"action":4})", kTalk).selected, "3");
  EXPECT_EQ(select_route(s, R"({"action":3,"action":4})", kTalk).selected, "3");
  EXPECT_EQ(select_route(selector("$request.body.a.b"),
                         R"({"a":{"x":[1,{"b":2}],"\u0062":1.50 ,"b":8}})", kTalk)
                .route_key,
            "1.50");
}

TEST(GatewayRouteSelection, booleans_give_true_and_false) {
  const RouteSelector s = selector("$request.body.action");
  EXPECT_EQ(select_route(s, R"({"action":true})", kTalk).route_key, "true");
  EXPECT_EQ(select_route(s, R"({"action":false})", kTalk).route_key, "false");
}

TEST(GatewayRouteSelection, values_that_are_not_scalars_fall_back_to_default) {
  const RouteSelector s = selector("$request.body.action");
  for (std::string_view message :
       {R"({"action":null})", R"({"action":{"x":1}})", R"({"action":["message"]})",
        R"({"other":"message"})", R"(["message"])", R"("message")", R"({"action":"nope"})",
        R"({"action":""})"}) {
    const RouteChoice choice = select_route(s, message, kTalk);
    EXPECT_EQ(choice.outcome, Outcome::defaulted) << message;
    EXPECT_EQ(choice.route_key, "$default") << message;
  }
}

TEST(GatewayRouteSelection, text_that_is_not_json_and_binary_go_to_default) {
  const RouteSelector s = selector("$request.body.action");
  for (std::string_view message :
       {"hello", "", "{\"action\":\"message\"", "{\"action\":\"message\"} x"}) {
    EXPECT_EQ(select_route(s, message, kTalk).outcome, Outcome::defaulted) << message;
  }
  const RouteChoice binary = select_route(s, R"({"action":"message"})", kTalk, true);
  EXPECT_EQ(binary.outcome, Outcome::defaulted);
  EXPECT_EQ(binary.selected, "");
}

TEST(GatewayRouteSelection, without_default_there_is_no_route) {
  const RouteSelector s = selector("$request.body.action");
  EXPECT_EQ(select_route(s, R"({"action":"message"})", kNoDefault).outcome, Outcome::matched);
  for (std::string_view message : {R"({"action":"other"})", "not json", R"({})"}) {
    const RouteChoice choice = select_route(s, message, kNoDefault);
    EXPECT_EQ(choice.outcome, Outcome::no_route) << message;
    EXPECT_EQ(choice.route_key, "") << message;
  }
  EXPECT_EQ(select_route(s, "x", kNoDefault, true).outcome, Outcome::no_route);
}

TEST(GatewayRouteSelection, lifecycle_routes_are_never_chosen_by_a_message) {
  const RouteSelector s = selector("$request.body.action");
  EXPECT_EQ(select_route(s, R"({"action":"$connect"})", kTalk).route_key, "$default");
  EXPECT_EQ(select_route(s, R"({"action":"$disconnect"})", kTalk).route_key, "$default");
  EXPECT_EQ(select_route(s, R"({"action":"$connect"})", kNoDefault).outcome, Outcome::no_route);
}

TEST(GatewayRouteSelection, unescapes_string_values) {
  const RouteTable keys({"a\"b", "caf\xC3\xA9"});
  const RouteSelector s = selector("$request.body.action");
  EXPECT_EQ(select_route(s, R"({"action":"a\"b"})", keys).route_key, "a\"b");
  EXPECT_EQ(select_route(s, R"({"action":"caf\u00e9"})", keys).route_key, "caf\xC3\xA9");
}

TEST(GatewayRouteSelection, a_default_constructed_selector_selects_nothing) {
  const RouteChoice choice = select_route(RouteSelector{}, R"(3)", kTalk);
  EXPECT_EQ(choice.outcome, Outcome::defaulted);
  EXPECT_EQ(choice.selected, "");
}

TEST(GatewayRouteSelection, route_table_is_sorted_and_deduplicated) {
  const RouteTable table({"b", "a", "b", "$default"});
  EXPECT_EQ(table.keys(), (std::vector<std::string>{"$default", "a", "b"}));
  EXPECT_TRUE(table.contains("a"));
  EXPECT_FALSE(table.contains("c"));
  EXPECT_FALSE(RouteTable().contains("$default"));
}

}  // namespace
}  // namespace hibiki::apps::gateway

// The $connect REQUEST authorizer: identity sources, methodArn matching, the answer read as a
// policy, the refusals, and the authorizer event and requestContext.authorizer byte for byte.
#include "apps/gateway/authorizer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/gateway/lambda_event.hpp"

namespace hibiki::apps::gateway {
namespace {

constexpr std::string_view kArn = "arn:aws:execute-api:us-east-1:123456789012:local/dev/$connect";

IdentitySource source(std::string_view expression) {
  std::string error;
  auto parsed = parse_identity_source(expression, error);
  EXPECT_TRUE(parsed.has_value()) << error;
  return parsed.value_or(IdentitySource{});
}

std::string source_error(std::string_view expression) {
  std::string error;
  EXPECT_FALSE(parse_identity_source(expression, error).has_value()) << expression;
  return error;
}

TEST(GatewayAuthorizer, identity_sources_parse_headers_and_query_parameters) {
  const IdentitySource header = source("route.request.header.Auth");
  EXPECT_EQ(header.kind, IdentitySource::Kind::header);
  EXPECT_EQ(header.name, "Auth");
  EXPECT_EQ(header.expression(), "route.request.header.Auth");
  const IdentitySource query = source("route.request.querystring.token");
  EXPECT_EQ(query.kind, IdentitySource::Kind::querystring);
  EXPECT_EQ(query.name, "token");
  EXPECT_EQ(query.expression(), "route.request.querystring.token");

  EXPECT_EQ(source_error("route.request.header."),
            "\"route.request.header.\": the header name must be 1 or more token characters");
  EXPECT_EQ(source_error("route.request.header.A b"),
            "\"route.request.header.A b\": the header name must be 1 or more token characters");
  EXPECT_EQ(source_error("route.request.querystring.a=b"),
            "\"route.request.querystring.a=b\": the query parameter name must be 1 or more "
            "characters without spaces, '&', '=' or '#'");
  EXPECT_EQ(source_error("stageVariables.Key"),
            "\"stageVariables.Key\": must be route.request.header.<Name> or "
            "route.request.querystring.<name>");
  EXPECT_EQ(source_error("$request.header.Auth"),
            "\"$request.header.Auth\": must be route.request.header.<Name> or "
            "route.request.querystring.<name>");
}

TEST(GatewayAuthorizer, missing_identity_sources_headers_any_case_query_exact) {
  const std::vector<IdentitySource> sources = {source("route.request.header.Auth"),
                                               source("route.request.querystring.token")};
  const HeaderList headers = {{"Host", "h"}, {"auth", "secret"}};
  EXPECT_EQ(missing_identity_source(sources, headers, "token=abc"), std::nullopt);
  EXPECT_EQ(missing_identity_source(sources, headers, "token=a%20b&x=1"), std::nullopt);
  EXPECT_EQ(missing_identity_source(sources, headers, "Token=abc"),
            "route.request.querystring.token");
  EXPECT_EQ(missing_identity_source(sources, headers, "token="), "route.request.querystring.token");
  EXPECT_EQ(missing_identity_source(sources, headers, ""), "route.request.querystring.token");
  EXPECT_EQ(missing_identity_source(sources, {{"Host", "h"}}, "token=abc"),
            "route.request.header.Auth");
  EXPECT_EQ(missing_identity_source(sources, {{"AUTH", ""}}, "token=abc"),
            "route.request.header.Auth");
  // The last value counts, as in the event's "headers".
  EXPECT_EQ(missing_identity_source(sources, {{"Auth", "x"}, {"Auth", ""}}, "token=abc"),
            "route.request.header.Auth");
  EXPECT_EQ(missing_identity_source({}, {}, ""), std::nullopt);
}

TEST(GatewayAuthorizer, method_arn_and_wildcards) {
  EXPECT_EQ(method_arn("us-east-1", "123456789012", "local", "dev", "$connect"), kArn);
  EXPECT_TRUE(arn_matches(kArn, kArn));
  EXPECT_TRUE(arn_matches("*", kArn));
  EXPECT_TRUE(arn_matches("arn:aws:execute-api:*:*:local/*", kArn));
  EXPECT_TRUE(arn_matches("arn:aws:execute-api:us-east-1:123456789012:local/dev/*", kArn));
  EXPECT_TRUE(arn_matches("arn:aws:execute-api:us-east-?:123456789012:local/d?v/$connect", kArn));
  EXPECT_TRUE(arn_matches("arn:aws:execute-api:*:*:*/*/$connect**", kArn));
  EXPECT_FALSE(arn_matches("arn:aws:execute-api:us-east-1:123456789012:local/prod/*", kArn));
  EXPECT_FALSE(arn_matches("arn:aws:execute-api:us-east-1:123456789012:local/dev/$connec", kArn));
  EXPECT_FALSE(arn_matches("arn:aws:execute-api:us-east-1:123456789012:local/dev/$connect?", kArn));
  EXPECT_FALSE(arn_matches("", kArn));
}

AuthorizerDecision read(std::string_view body, int status = 200) {
  return read_authorizer_answer(status, body, kArn);
}

std::string policy(std::string_view statements) {
  return R"({"principalId":"user-1","policyDocument":{"Version":"2012-10-17","Statement":)" +
         std::string(statements) + "}}";
}

TEST(GatewayAuthorizer, allow_with_a_statement_object_or_array) {
  AuthorizerDecision d =
      read(policy(R"({"Action":"execute-api:Invoke","Effect":"Allow","Resource":")" +
                  std::string(kArn) + R"("})"));
  EXPECT_EQ(d.outcome, AuthorizerOutcome::allow) << d.reason;
  EXPECT_EQ(d.principal_id, "user-1");
  EXPECT_TRUE(d.context.empty());

  d = read(policy(R"([{"Action":["execute-api:Invoke"],"Effect":"Allow",)"
                  R"("Resource":["arn:aws:execute-api:us-east-1:123456789012:other/*",)"
                  R"("arn:aws:execute-api:*:*:local/dev/*"]}])"));
  EXPECT_EQ(d.outcome, AuthorizerOutcome::allow) << d.reason;
  d = read(policy(R"([{"Action":"*","Effect":"Allow","Resource":"*"}])"));
  EXPECT_EQ(d.outcome, AuthorizerOutcome::allow);
  d = read(policy(R"([{"Action":"EXECUTE-API:*","Effect":"Allow","Resource":"*"}])"));
  EXPECT_EQ(d.outcome, AuthorizerOutcome::allow);
}

TEST(GatewayAuthorizer, an_explicit_deny_wins_and_no_match_is_an_implicit_deny) {
  AuthorizerDecision d =
      read(policy(R"([{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"},)"
                  R"({"Action":"execute-api:Invoke","Effect":"Deny","Resource":"*/dev/*"}])"));
  EXPECT_EQ(d.outcome, AuthorizerOutcome::deny);
  EXPECT_EQ(d.reason, "a Deny statement matches " + std::string(kArn));
  d = read(policy(R"([{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"*/prod/*"},)"
                  R"({"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"}])"));
  EXPECT_EQ(d.outcome, AuthorizerOutcome::allow);
  d = read(policy(
      R"({"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:123456789012:local/prod/$connect"})"));
  EXPECT_EQ(d.outcome, AuthorizerOutcome::not_allowed);
  EXPECT_EQ(d.reason, "no Allow statement matches " + std::string(kArn));
  d = read(policy(R"({"Action":"execute-api:ManageConnections","Effect":"Allow","Resource":"*"})"));
  EXPECT_EQ(d.outcome, AuthorizerOutcome::not_allowed);
  d = read(policy("[]"));
  EXPECT_EQ(d.outcome, AuthorizerOutcome::not_allowed);
}

TEST(GatewayAuthorizer, context_values_are_stringified) {
  const AuthorizerDecision d = read(
      R"({"principalId":"me","policyDocument":{"Statement":[{"Action":"execute-api:Invoke",)"
      R"("Effect":"Allow","Resource":"*"}]},)"
      R"("context":{"stringKey":"value","numberKey":123,"float":1.50,"booleanKey":true,"f":false}})");
  ASSERT_EQ(d.outcome, AuthorizerOutcome::allow) << d.reason;
  const std::vector<std::pair<std::string, std::string>> expected = {{"stringKey", "value"},
                                                                     {"numberKey", "123"},
                                                                     {"float", "1.5"},
                                                                     {"booleanKey", "true"},
                                                                     {"f", "false"}};
  EXPECT_EQ(d.context, expected);
}

TEST(GatewayAuthorizer, unauthorized_from_a_401_or_lambdas_error_message) {
  EXPECT_EQ(read("", 401).outcome, AuthorizerOutcome::unauthorized);
  EXPECT_EQ(read(R"({"errorMessage":"Unauthorized","errorType":"Error"})").outcome,
            AuthorizerOutcome::unauthorized);
  const AuthorizerDecision other = read(R"({"errorMessage":"boom","errorType":"Error"})");
  EXPECT_EQ(other.outcome, AuthorizerOutcome::error);
  EXPECT_EQ(other.reason, "errorMessage \"boom\"");
}

TEST(GatewayAuthorizer, unusable_answers_are_errors) {
  const std::string allow = R"({"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"})";
  struct Case {
    std::string body;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {policy(allow), 500, "HTTP 500"},
      {policy(allow), 403, "HTTP 403"},
      {"not json", 200, "the answer is not a JSON object"},
      {"[]", 200, "the answer is not a JSON object"},
      {R"({"policyDocument":{"Statement":[]}})", 200, "no principalId string"},
      {R"({"principalId":7,"policyDocument":{"Statement":[]}})", 200, "no principalId string"},
      {R"({"principalId":"u"})", 200, "no policyDocument object"},
      {R"({"principalId":"u","policyDocument":{}})", 200, "no policyDocument.Statement"},
      {R"({"principalId":"u","policyDocument":{"Statement":"x"}})", 200,
       "policyDocument.Statement is not an object or array"},
      {R"({"principalId":"u","policyDocument":{"Statement":[1]}})", 200,
       "a Statement is not an object"},
      {policy(R"({"Action":"execute-api:Invoke","Effect":"allow","Resource":"*"})"), 200,
       "a Statement's Effect is not \"Allow\" or \"Deny\""},
      {policy(R"({"Action":"execute-api:Invoke","Effect":"Allow"})"), 200,
       "a Statement's Action or Resource is not a string or an array of strings"},
      {policy(R"({"Action":["execute-api:Invoke",1],"Effect":"Allow","Resource":"*"})"), 200,
       "a Statement's Action or Resource is not a string or an array of strings"},
      {R"({"principalId":"u","policyDocument":{"Statement":[]},"context":{"o":{"a":1}}})", 200,
       "context.o is not a string, number or boolean"},
      {R"({"principalId":"u","policyDocument":{"Statement":[]},"context":{"a":[1]}})", 200,
       "context.a is not a string, number or boolean"},
      {R"({"principalId":"u","policyDocument":{"Statement":[]},"context":{"n":null}})", 200,
       "context.n is not a string, number or boolean"},
      {R"({"principalId":"u","policyDocument":{"Statement":[]},"context":"x"})", 200,
       "context is not an object"},
  };
  for (const Case& c : cases) {
    const AuthorizerDecision d = read(c.body, c.status);
    EXPECT_EQ(d.outcome, AuthorizerOutcome::error) << c.body;
    EXPECT_EQ(d.reason, c.reason) << c.body;
  }
}

TEST(GatewayAuthorizer, refusals_are_api_gateways) {
  const AuthorizerRefusal unauthorized = authorizer_refusal(AuthorizerOutcome::unauthorized);
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_EQ(unauthorized.body, R"({"message":"Unauthorized"})");
  const AuthorizerRefusal deny = authorizer_refusal(AuthorizerOutcome::deny);
  EXPECT_EQ(deny.status, 403);
  EXPECT_EQ(
      deny.body,
      R"({"message":"User is not authorized to access this resource with an explicit deny"})");
  const AuthorizerRefusal implicit = authorizer_refusal(AuthorizerOutcome::not_allowed);
  EXPECT_EQ(implicit.status, 403);
  EXPECT_EQ(implicit.body, R"({"message":"User is not authorized to access this resource"})");
  const AuthorizerRefusal error = authorizer_refusal(AuthorizerOutcome::error);
  EXPECT_EQ(error.status, 500);
  EXPECT_EQ(error.body, R"({"message":null})");
  EXPECT_STREQ(to_string(AuthorizerOutcome::not_allowed), "not_allowed");
}

EventContext context(std::string_view route_key, const AuthorizerContext* authorizer = nullptr) {
  return EventContext{.connection_id = "L0SM9cOFvHcCIhw=",
                      .route_key = route_key,
                      .stage = "dev",
                      .api_id = "local",
                      .domain_name = "localhost:8080",
                      .connected_at_ms = 1795622258123,
                      .request_time_ms = 1795622258123,
                      .request_id = "L0SM9F5VvHcFhUQ=",
                      .extended_request_id = "L0SM9F5VvHcFhUQ=",
                      .source_ip = "127.0.0.1",
                      .user_agent = "test-agent/1.0",
                      .authorizer = authorizer};
}

constexpr std::string_view kContextAfterRouteKey =
    R"("eventType":"CONNECT","extendedRequestId":"L0SM9F5VvHcFhUQ=",)"
    R"("requestTime":"25/Nov/2026:15:57:38 +0000","messageDirection":"IN","stage":"dev",)"
    R"("connectedAt":1795622258123,"requestTimeEpoch":1795622258123,)"
    R"("identity":{"sourceIp":"127.0.0.1","userAgent":"test-agent/1.0"},)"
    R"("requestId":"L0SM9F5VvHcFhUQ=","domainName":"localhost:8080",)"
    R"("connectionId":"L0SM9cOFvHcCIhw=","apiId":"local"})";

TEST(GatewayAuthorizer, the_request_authorizer_event_byte_for_byte) {
  const HeaderList headers = {{"Host", "localhost:8080"}, {"Auth", "secret"}, {"auth", "again"}};
  const std::string arn = method_arn("us-east-1", "123456789012", "local", "dev", "$connect");
  const AuthorizerEvent event{.connect = {.context = context("$connect"),
                                          .headers = headers,
                                          .query = "token=abc%3D&room=a&room=b"},
                              .method_arn = arn};
  EXPECT_EQ(authorizer_event_json(event),
            R"({"type":"REQUEST",)"
            R"("methodArn":"arn:aws:execute-api:us-east-1:123456789012:local/dev/$connect",)"
            R"("headers":{"Host":"localhost:8080","Auth":"again"},)"
            R"("multiValueHeaders":{"Host":["localhost:8080"],"Auth":["secret","again"]},)"
            R"("queryStringParameters":{"token":"abc=","room":"b"},)"
            R"("multiValueQueryStringParameters":{"token":["abc="],"room":["a","b"]},)"
            R"("stageVariables":{},)"
            R"("requestContext":{"routeKey":"$connect",)" +
                std::string(kContextAfterRouteKey) + "}");
  // Without a query string both query keys are left out, as in the CONNECT event.
  const AuthorizerEvent bare{
      .connect = {.context = context("$connect"), .headers = headers, .query = ""},
      .method_arn = arn};
  EXPECT_EQ(authorizer_event_json(bare).find("queryStringParameters"), std::string::npos);
}

TEST(GatewayAuthorizer, request_context_authorizer_in_every_event) {
  const AuthorizerContext authorizer{
      .principal_id = "user-1",
      .integration_latency_ms = 42,
      .context = {{"stringKey", "value"}, {"numberKey", "123"}, {"principalId", "ignored"}}};
  const std::string expected_authorizer =
      R"("authorizer":{"principalId":"user-1","integrationLatency":42,)"
      R"("stringKey":"value","numberKey":"123"})";
  const HeaderList headers = {{"Host", "h"}};
  const std::string connect = connect_event_json(
      {.context = context("$connect", &authorizer), .headers = headers, .query = ""});
  EXPECT_EQ(connect, R"({"headers":{"Host":"h"},"multiValueHeaders":{"Host":["h"]},)"
                     R"("requestContext":{"routeKey":"$connect",)" +
                         expected_authorizer + "," + std::string(kContextAfterRouteKey) +
                         R"(,"isBase64Encoded":false})");
  const std::string message = message_event_json(
      {.context = context("message", &authorizer), .message_id = "m", .body = "x"});
  EXPECT_EQ(message.rfind(R"({"requestContext":{"routeKey":"message",)" + expected_authorizer +
                              R"(,"messageId":"m","eventType":"MESSAGE",)",
                          0),
            0u)
      << message;
  const std::string disconnect = disconnect_event_json(
      {.context = context("$disconnect", &authorizer), .status_code = 1000, .reason = "bye"});
  EXPECT_NE(disconnect.find(R"("requestContext":{"routeKey":"$disconnect",)" + expected_authorizer +
                            R"(,"disconnectStatusCode":1000,)"),
            std::string::npos)
      << disconnect;
  // No authorizer: no key.
  EXPECT_EQ(message_event_json({.context = context("message"), .message_id = "m", .body = "x"})
                .find("authorizer"),
            std::string::npos);
}

}  // namespace
}  // namespace hibiki::apps::gateway

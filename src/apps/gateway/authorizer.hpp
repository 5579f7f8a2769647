// The $connect REQUEST authorizer, as API Gateway runs a Lambda REQUEST authorizer for a
// WebSocket API: identity sources checked first (a missing or empty one is 401 without calling
// the authorizer), then the authorizer's answer read as a policy for the route's methodArn.
// One job per function, no I/O; the event itself is lambda_event's authorizer_event_json.
//
// AWS documentation:
//   https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html
//   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apps/gateway/headers.hpp"

namespace hibiki::apps::gateway {

// One identity source: `route.request.header.<Name>` or `route.request.querystring.<name>`.
struct IdentitySource {
  enum class Kind : std::uint8_t { header, querystring };
  Kind kind = Kind::header;
  std::string name;  // as written; headers match it in any case, query names exactly
  [[nodiscard]] std::string expression() const;
};

// Nothing, with `error` saying why, unless `expression` is one of the two forms above with a
// non-empty name (a header name of RFC 9110 token characters; a query name without spaces,
// control characters, '&', '=' or '#').
[[nodiscard]] std::optional<IdentitySource> parse_identity_source(std::string_view expression,
                                                                  std::string& error);

// The first source that is missing or has an empty value in the upgrade request (`query`: the
// raw query string without '?', decoded as in the events), or nothing when all are there.
[[nodiscard]] std::optional<std::string> missing_identity_source(
    std::span<const IdentitySource> sources, const HeaderList& headers, std::string_view query);

// arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{route_key}
[[nodiscard]] std::string method_arn(std::string_view region, std::string_view account_id,
                                     std::string_view api_id, std::string_view stage,
                                     std::string_view route_key);

// IAM-style ARN matching: '*' any run of characters (none included), '?' exactly one.
[[nodiscard]] bool arn_matches(std::string_view pattern, std::string_view arn);

enum class AuthorizerOutcome : std::uint8_t {
  allow,         // an Allow statement matches and no Deny does
  deny,          // a Deny statement matches (explicit deny)
  not_allowed,   // no statement matches (implicit deny)
  unauthorized,  // the authorizer said "Unauthorized"
  error,         // no usable answer: transport error, timeout, other status, malformed answer
};

[[nodiscard]] const char* to_string(AuthorizerOutcome outcome);

struct AuthorizerDecision {
  AuthorizerOutcome outcome = AuthorizerOutcome::error;
  std::string principal_id;
  // The `context` map, values stringified as API Gateway passes them on ("1", "true").
  std::vector<std::pair<std::string, std::string>> context;
  std::string reason;  // for the log: why it is not allow
};

// Reads the authorizer's HTTP answer:
// - HTTP 401, or a 2xx JSON object {"errorMessage":"Unauthorized", …} (what Lambda returns
//   when the function fails with Error("Unauthorized")): unauthorized.
// - Another status, another errorMessage, or a body that is not an object with a string
//   principalId and a policyDocument whose Statement is an object or an array of objects with
//   Effect "Allow" or "Deny": error. So is a context value that is an object, array or null.
// - Otherwise the statements decide for `arn`: a statement applies when its Action (a string
//   or an array) is "execute-api:Invoke", "execute-api:*" or "*" (any case) and one of its
//   Resource patterns (a string or an array) matches `arn`. Any applicable Deny: deny; else any
//   applicable Allow: allow; else not_allowed.
// Thread-safe: each thread reuses its own parser.
[[nodiscard]] AuthorizerDecision read_authorizer_answer(int http_status, std::string_view body,
                                                        std::string_view arn);

// What the client gets when the upgrade is refused, as API Gateway answers.
struct AuthorizerRefusal {
  int status = 500;
  std::string_view body;  // JSON
};

// 401 {"message":"Unauthorized"} (missing identity source, unauthorized);
// 403 {"message":"User is not authorized to access this resource with an explicit deny"};
// 403 {"message":"User is not authorized to access this resource"} (not_allowed);
// 500 {"message":null} (error). Not for allow.
[[nodiscard]] AuthorizerRefusal authorizer_refusal(AuthorizerOutcome outcome);

}  // namespace hibiki::apps::gateway

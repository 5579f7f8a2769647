// Identity sources, methodArn matching and the authorizer's answer (see authorizer.hpp).
#include "apps/gateway/authorizer.hpp"

#include <simdjson.h>

#include <algorithm>

#include "apps/gateway/url_encoding.hpp"

namespace hibiki::apps::gateway {
namespace {

constexpr std::string_view kHeaderPrefix = "route.request.header.";
constexpr std::string_view kQueryPrefix = "route.request.querystring.";

bool is_token_char(char ch) {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

bool is_query_name_char(char ch) {
  const auto byte = static_cast<unsigned char>(ch);
  return byte > 0x20 && byte != 0x7F && ch != '&' && ch != '=' && ch != '#';
}

struct Scratch {
  simdjson::dom::parser parser;
  std::string padded;
};

Scratch& scratch() {
  thread_local Scratch instance;
  return instance;
}

AuthorizerDecision failed(AuthorizerOutcome outcome, std::string reason) {
  AuthorizerDecision decision;
  decision.outcome = outcome;
  decision.reason = std::move(reason);
  return decision;
}

// A string or an array of strings; nothing for anything else (an array with a non-string too).
std::optional<std::vector<std::string_view>> strings_of(simdjson::dom::element value) {
  std::vector<std::string_view> out;
  if (value.is_string()) {
    out.push_back(value.get_string().value_unsafe());
    return out;
  }
  simdjson::dom::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) return std::nullopt;
  for (simdjson::dom::element item : array) {
    if (!item.is_string()) return std::nullopt;
    out.push_back(item.get_string().value_unsafe());
  }
  return out;
}

bool action_applies(std::string_view action) {
  return action == "*" || iequals(action, "execute-api:*") || iequals(action, "execute-api:Invoke");
}

}  // namespace

std::string IdentitySource::expression() const {
  return std::string(kind == Kind::header ? kHeaderPrefix : kQueryPrefix) + name;
}

std::optional<IdentitySource> parse_identity_source(std::string_view expression,
                                                    std::string& error) {
  IdentitySource source;
  std::string_view name;
  if (expression.starts_with(kHeaderPrefix)) {
    source.kind = IdentitySource::Kind::header;
    name = expression.substr(kHeaderPrefix.size());
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
      error =
          "\"" + std::string(expression) + "\": the header name must be 1 or more token characters";
      return std::nullopt;
    }
  } else if (expression.starts_with(kQueryPrefix)) {
    source.kind = IdentitySource::Kind::querystring;
    name = expression.substr(kQueryPrefix.size());
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_query_name_char)) {
      error = "\"" + std::string(expression) +
              "\": the query parameter name must be 1 or more characters without spaces, "
              "'&', '=' or '#'";
      return std::nullopt;
    }
  } else {
    error = "\"" + std::string(expression) +
            "\": must be route.request.header.<Name> or route.request.querystring.<name>";
    return std::nullopt;
  }
  source.name = std::string(name);
  return source;
}

std::optional<std::string> missing_identity_source(std::span<const IdentitySource> sources,
                                                   const HeaderList& headers,
                                                   std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  bool parsed = false;
  for (const IdentitySource& source : sources) {
    bool present = false;
    if (source.kind == IdentitySource::Kind::header) {
      // The last value of the name, as the event's "headers" holds it.
      for (const auto& [name, value] : headers) {
        if (iequals(name, source.name)) present = !value.empty();
      }
    } else {
      if (!parsed) {
        params = parse_query(query);
        parsed = true;
      }
      for (const auto& [name, value] : params) {
        if (name == source.name) present = !value.empty();
      }
    }
    if (!present) return source.expression();
  }
  return std::nullopt;
}

std::string method_arn(std::string_view region, std::string_view account_id,
                       std::string_view api_id, std::string_view stage,
                       std::string_view route_key) {
  std::string arn = "arn:aws:execute-api:";
  arn.append(region).append(":").append(account_id).append(":").append(api_id);
  arn.append("/").append(stage).append("/").append(route_key);
  return arn;
}

bool arn_matches(std::string_view pattern, std::string_view arn) {
  // Iterative wildcard matching with one backtrack point for the last '*'.
  std::size_t p = 0;
  std::size_t a = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_a = 0;
  while (a < arn.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == arn[a])) {
      ++p;
      ++a;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_a = a;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      a = ++star_a;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

const char* to_string(AuthorizerOutcome outcome) {
  switch (outcome) {
    case AuthorizerOutcome::allow:
      return "allow";
    case AuthorizerOutcome::deny:
      return "deny";
    case AuthorizerOutcome::not_allowed:
      return "not_allowed";
    case AuthorizerOutcome::unauthorized:
      return "unauthorized";
    case AuthorizerOutcome::error:
      return "error";
  }
  return "error";
}

AuthorizerDecision read_authorizer_answer(int http_status, std::string_view body,
                                          std::string_view arn) {
  if (http_status == 401) return failed(AuthorizerOutcome::unauthorized, "HTTP 401");
  if (http_status < 200 || http_status > 299) {
    return failed(AuthorizerOutcome::error, "HTTP " + std::to_string(http_status));
  }
  Scratch& s = scratch();
  s.padded.assign(body);
  s.padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  simdjson::dom::object object;
  if (s.parser.parse(s.padded.data(), body.size(), false).get(root) != simdjson::SUCCESS ||
      root.get_object().get(object) != simdjson::SUCCESS) {
    return failed(AuthorizerOutcome::error, "the answer is not a JSON object");
  }
  simdjson::dom::element value;
  if (object.at_key("errorMessage").get(value) == simdjson::SUCCESS) {
    const std::string_view message = value.is_string() ? value.get_string().value_unsafe() : "";
    if (message == "Unauthorized") {
      return failed(AuthorizerOutcome::unauthorized, "errorMessage \"Unauthorized\"");
    }
    return failed(AuthorizerOutcome::error, "errorMessage " + simdjson::minify(value));
  }

  AuthorizerDecision decision;
  if (object.at_key("principalId").get(value) != simdjson::SUCCESS || !value.is_string()) {
    return failed(AuthorizerOutcome::error, "no principalId string");
  }
  decision.principal_id = std::string(value.get_string().value_unsafe());

  simdjson::dom::object context;
  if (object.at_key("context").get(value) == simdjson::SUCCESS && !value.is_null()) {
    if (value.get_object().get(context) != simdjson::SUCCESS) {
      return failed(AuthorizerOutcome::error, "context is not an object");
    }
    for (auto [key, item] : context) {
      switch (item.type()) {
        case simdjson::dom::element_type::STRING:
          decision.context.emplace_back(key, item.get_string().value_unsafe());
          break;
        case simdjson::dom::element_type::INT64:
        case simdjson::dom::element_type::UINT64:
        case simdjson::dom::element_type::DOUBLE:
        case simdjson::dom::element_type::BOOL:
          decision.context.emplace_back(key, simdjson::minify(item));
          break;
        default:
          return failed(AuthorizerOutcome::error,
                        "context." + std::string(key) + " is not a string, number or boolean");
      }
    }
  }

  simdjson::dom::object policy;
  if (object.at_key("policyDocument").get_object().get(policy) != simdjson::SUCCESS) {
    return failed(AuthorizerOutcome::error, "no policyDocument object");
  }
  std::vector<simdjson::dom::object> statements;
  simdjson::dom::element statement_value;
  if (policy.at_key("Statement").get(statement_value) != simdjson::SUCCESS) {
    return failed(AuthorizerOutcome::error, "no policyDocument.Statement");
  }
  simdjson::dom::object one;
  simdjson::dom::array many;
  if (statement_value.get_object().get(one) == simdjson::SUCCESS) {
    statements.push_back(one);
  } else if (statement_value.get_array().get(many) == simdjson::SUCCESS) {
    for (simdjson::dom::element item : many) {
      if (item.get_object().get(one) != simdjson::SUCCESS) {
        return failed(AuthorizerOutcome::error, "a Statement is not an object");
      }
      statements.push_back(one);
    }
  } else {
    return failed(AuthorizerOutcome::error, "policyDocument.Statement is not an object or array");
  }

  bool allowed = false;
  bool denied = false;
  for (simdjson::dom::object statement : statements) {
    std::string_view effect;
    if (statement.at_key("Effect").get_string().get(effect) != simdjson::SUCCESS ||
        (effect != "Allow" && effect != "Deny")) {
      return failed(AuthorizerOutcome::error, "a Statement's Effect is not \"Allow\" or \"Deny\"");
    }
    std::optional<std::vector<std::string_view>> actions;
    std::optional<std::vector<std::string_view>> resources;
    if (statement.at_key("Action").get(value) == simdjson::SUCCESS) actions = strings_of(value);
    if (statement.at_key("Resource").get(value) == simdjson::SUCCESS) resources = strings_of(value);
    if (!actions || !resources) {
      return failed(AuthorizerOutcome::error,
                    "a Statement's Action or Resource is not a string or an array of strings");
    }
    const bool applies =
        std::any_of(actions->begin(), actions->end(), action_applies) &&
        std::any_of(resources->begin(), resources->end(),
                    [arn](std::string_view resource) { return arn_matches(resource, arn); });
    if (!applies) continue;
    (effect == "Deny" ? denied : allowed) = true;
  }
  if (denied) {
    decision.outcome = AuthorizerOutcome::deny;
    decision.reason = "a Deny statement matches " + std::string(arn);
  } else if (allowed) {
    decision.outcome = AuthorizerOutcome::allow;
  } else {
    decision.outcome = AuthorizerOutcome::not_allowed;
    decision.reason = "no Allow statement matches " + std::string(arn);
  }
  return decision;
}

AuthorizerRefusal authorizer_refusal(AuthorizerOutcome outcome) {
  switch (outcome) {
    case AuthorizerOutcome::unauthorized:
      return {401, R"({"message":"Unauthorized"})"};
    case AuthorizerOutcome::deny:
      return {
          403,
          R"({"message":"User is not authorized to access this resource with an explicit deny"})"};
    case AuthorizerOutcome::not_allowed:
      return {403, R"({"message":"User is not authorized to access this resource"})"};
    case AuthorizerOutcome::allow:
    case AuthorizerOutcome::error:
      break;
  }
  return {500, R"({"message":null})"};
}

}  // namespace hibiki::apps::gateway

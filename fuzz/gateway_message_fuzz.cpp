// Fuzzes what a gateway client sends: route selection on a message (RouteSelector::parse on a
// fuzzed expression, select_route against fixed route tables, checked against a DOM reading of
// the message), and the Lambda-proxy MESSAGE and CONNECT events built from the fuzzed bytes as
// body, headers, query, user agent and connection id, which must always parse as JSON and give
// back what went in.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apps/gateway/base64.hpp"
#include "apps/gateway/headers.hpp"
#include "apps/gateway/lambda_event.hpp"
#include "apps/gateway/route_selection.hpp"
#include "apps/gateway/url_encoding.hpp"
#include "fuzz_support.hpp"

namespace {

namespace gw = hibiki::apps::gateway;
using hibiki::fuzz::check;

bool is_utf8(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

simdjson::dom::parser& json_parser() {
  static simdjson::dom::parser parser;
  return parser;
}

std::string_view string_at(simdjson::dom::element element, std::string_view key, const char* what) {
  std::string_view value;
  check(element[key].get_string().get(value) == simdjson::SUCCESS, what);
  return value;
}

// What the selector's path holds in `message` as a DOM reads it: a string's text, "true" or
// "false", or for a number its value (the caller compares it with what select_route wrote).
struct DomValue {
  std::optional<std::string> text;
  std::optional<double> number;
};

DomValue dom_value(const gw::RouteSelector& selector, std::string_view message) {
  DomValue out;
  if (selector.path().empty()) return out;
  simdjson::dom::parser parser;
  simdjson::dom::element current;
  if (parser.parse(message).get(current) != simdjson::SUCCESS) return out;
  for (const std::string& key : selector.path()) {
    simdjson::dom::object object;
    if (current.get_object().get(object) != simdjson::SUCCESS ||
        object.at_key(key).get(current) != simdjson::SUCCESS) {
      return out;
    }
  }
  switch (current.type()) {
    case simdjson::dom::element_type::STRING:
      out.text = std::string(current.get_string().value_unsafe());
      break;
    case simdjson::dom::element_type::BOOL:
      out.text = current.get_bool().value_unsafe() ? "true" : "false";
      break;
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      out.number = current.get_double().value_unsafe();
      break;
    default:
      break;
  }
  return out;
}

void check_route(const gw::RouteSelector& selector, std::string_view message, bool binary) {
  static const gw::RouteTable with_default(
      {"$connect", "$disconnect", "$default", "sendmessage", "join", "3", "true", "", "$"});
  static const gw::RouteTable without_default({"$connect", "$disconnect", "sendmessage", "1.50"});
  const DomValue expected = binary ? DomValue{} : dom_value(selector, message);

  for (const gw::RouteTable* table : {&with_default, &without_default}) {
    const gw::RouteChoice choice = gw::select_route(selector, message, *table, binary);
    switch (choice.outcome) {
      case gw::RouteChoice::Outcome::matched:
        check(!binary, "a binary message matched a route");
        check(choice.route_key == choice.selected && table->contains(choice.route_key),
              "matched a route that is not the selected key");
        check(choice.route_key != gw::kConnectRoute && choice.route_key != gw::kDisconnectRoute,
              "a message chose a lifecycle route");
        break;
      case gw::RouteChoice::Outcome::defaulted:
        check(choice.route_key == gw::kDefaultRoute && table->contains(gw::kDefaultRoute),
              "defaulted to something else than $default");
        break;
      case gw::RouteChoice::Outcome::no_route:
        check(choice.route_key.empty() && !table->contains(gw::kDefaultRoute),
              "no route although there is a $default");
        break;
    }
    if (binary) check(choice.selected.empty(), "a binary message selected a value");
    if (expected.text) {
      check(choice.selected == *expected.text, "selected value differs from the message's");
    } else if (expected.number) {
      // The number's text as written must be that same number.
      simdjson::dom::parser parser;
      double written = 0;
      check(!choice.selected.empty() &&
                parser.parse(choice.selected).get_double().get(written) == simdjson::SUCCESS,
            "a number in the message selected no number");
      check(written == *expected.number, "selected number differs from the message's");
    } else {
      check(choice.selected.empty(), "selected a value the message does not have");
    }
  }
}

gw::EventContext context(std::string_view connection_id, std::string_view source_ip,
                         std::string_view user_agent, std::string_view route_key) {
  gw::EventContext c;
  c.connection_id = connection_id;
  c.route_key = route_key;
  c.stage = "dev";
  c.api_id = "local";
  c.domain_name = "localhost:8080";
  c.connected_at_ms = 1764086258123;
  c.request_time_ms = 1764086282007;
  c.request_id = "Bx0Ct1e2xQ0Fbzw=";
  c.extended_request_id = "Bx0Ct1e2xQ0Fbzw=";
  c.source_ip = source_ip;
  c.user_agent = user_agent;
  return c;
}

void check_context(simdjson::dom::element root, std::string_view connection_id,
                   std::string_view source_ip, std::string_view user_agent) {
  simdjson::dom::element rc;
  check(root["requestContext"].get(rc) == simdjson::SUCCESS, "event without requestContext");
  const std::string_view id = string_at(rc, "connectionId", "event without connectionId");
  const std::string_view ip = string_at(rc["identity"], "sourceIp", "event without sourceIp");
  if (is_utf8(connection_id)) check(id == connection_id, "connectionId does not round-trip");
  if (is_utf8(source_ip)) check(ip == source_ip, "sourceIp does not round-trip");
  simdjson::dom::element agent;
  check(rc["identity"]["userAgent"].get(agent) == simdjson::SUCCESS, "event without userAgent");
  if (user_agent.empty()) {
    check(agent.is_null(), "an empty user agent is not null");
  } else if (is_utf8(user_agent)) {
    check(agent.is_string() && agent.get_string().value_unsafe() == user_agent,
          "userAgent does not round-trip");
  }
}

void check_message_event(std::string_view body, bool binary, std::string_view connection_id,
                         std::string_view source_ip, std::string_view user_agent) {
  gw::MessageEvent event;
  event.context = context(connection_id, source_ip, user_agent, "sendmessage");
  event.message_id = "Bx0Ct1e2xQ0Fbzw=";
  event.body = body;
  event.binary = binary;
  const std::string json = gw::message_event_json(event);
  simdjson::dom::element root;
  check(json_parser().parse(json).get(root) == simdjson::SUCCESS, "MESSAGE event is not JSON");
  bool base64 = !binary;
  check(root["isBase64Encoded"].get_bool().get(base64) == simdjson::SUCCESS && base64 == binary,
        "MESSAGE isBase64Encoded is not the message's kind");
  const std::string_view sent = string_at(root, "body", "MESSAGE event without body");
  if (binary) {
    const std::optional<std::string> decoded = gw::base64_decode(sent);
    check(decoded.has_value() && *decoded == body, "binary body does not base64-decode back");
  } else if (is_utf8(body)) {
    check(sent == body, "text body does not round-trip");
  }
  check_context(root, connection_id, source_ip, user_agent);
}

bool all_utf8(const std::vector<std::pair<std::string, std::string>>& pairs) {
  for (const auto& [name, value] : pairs) {
    if (!is_utf8(name) || !is_utf8(value)) return false;
  }
  return true;
}

// `single` holds each name's last value, `multi` all of them in order; names are grouped with
// `same`, under the first spelling seen.
template <typename Same>
void check_groups(simdjson::dom::element root, const char* single, const char* multi,
                  const std::vector<std::pair<std::string, std::string>>& pairs, Same same) {
  simdjson::dom::object singles;
  simdjson::dom::object multis;
  check(root[single].get_object().get(singles) == simdjson::SUCCESS, "event without a map");
  check(root[multi].get_object().get(multis) == simdjson::SUCCESS, "event without a multi map");
  if (!all_utf8(pairs)) return;
  std::vector<std::string> names;  // first spellings, in order
  for (const auto& [name, value] : pairs) {
    bool seen = false;
    for (const std::string& n : names)
      seen = seen || same(n, name);
    if (!seen) names.push_back(name);
  }
  check(singles.size() == names.size() && multis.size() == names.size(),
        "a map does not have one key per name");
  std::size_t index = 0;
  for (auto [key, value] : singles) {
    check(key == names[index], "a map's keys are not the first spellings in order");
    std::string_view last;
    for (const auto& [name, v] : pairs) {
      if (same(name, names[index])) last = v;
    }
    check(value.is_string() && value.get_string().value_unsafe() == last,
          "a map does not hold a name's last value");
    simdjson::dom::array all;
    check(multis[key].get_array().get(all) == simdjson::SUCCESS, "a multi map misses a name");
    std::size_t at = 0;
    for (const auto& [name, v] : pairs) {
      if (!same(name, names[index])) continue;
      check(at < all.size() && all.at(at).get_string().value_unsafe() == v,
            "a multi map does not hold every value in order");
      ++at;
    }
    check(at == all.size(), "a multi map holds extra values");
    ++index;
  }
}

void check_connect_event(const std::vector<std::pair<std::string, std::string>>& headers,
                         std::string_view query, std::string_view connection_id,
                         std::string_view source_ip, std::string_view user_agent) {
  gw::ConnectEvent event;
  event.context = context(connection_id, source_ip, user_agent, "$connect");
  event.headers = headers;
  event.query = query;
  const std::string json = gw::connect_event_json(event);
  simdjson::dom::element root;
  check(json_parser().parse(json).get(root) == simdjson::SUCCESS, "CONNECT event is not JSON");
  check_groups(root, "headers", "multiValueHeaders", headers,
               [](std::string_view a, std::string_view b) { return gw::iequals(a, b); });
  const auto params = gw::parse_query(query);
  simdjson::dom::element ignored;
  const bool has_query = root["queryStringParameters"].get(ignored) == simdjson::SUCCESS;
  check(has_query == !params.empty(), "queryStringParameters present iff there are parameters");
  if (has_query) {
    check_groups(root, "queryStringParameters", "multiValueQueryStringParameters", params,
                 [](std::string_view a, std::string_view b) { return a == b; });
  }
  check_context(root, connection_id, source_ip, user_agent);
}

std::pair<std::string_view, std::string_view> split_at(std::string_view text, char separator) {
  const std::size_t at = text.find(separator);
  if (at == std::string_view::npos) return {text, {}};
  return {text.substr(0, at), text.substr(at + 1)};
}

}  // namespace

// Layout: [flags][expression]\n[message]. Flags: bit 0 binary message, bit 1 the default
// selector instead of the expression. The expression is also the query string, connection id
// and source IP; the message's first line is the user agent and each further line a header
// "name:value" of the CONNECT event.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::vector<char> copy = hibiki::fuzz::exact_copy<char>({data + 1, size - 1});
  const std::string_view input(copy.data(), copy.size());
  const bool binary = (data[0] & 1) != 0;
  const auto [expression, message] = split_at(input, '\n');

  std::string error;
  const std::optional<gw::RouteSelector> parsed = gw::RouteSelector::parse(expression, error);
  if (parsed) {
    check(parsed->expression() == expression && !parsed->path().empty(),
          "a parsed selector lost its expression or has no path");
    std::string joined = "$request.body.";
    for (std::size_t i = 0; i < parsed->path().size(); ++i) {
      check(!parsed->path()[i].empty(), "a selector key is empty");
      joined += (i == 0 ? "" : ".") + parsed->path()[i];
    }
    check(joined == expression, "the selector's keys do not spell the expression");
  } else {
    check(!error.empty(), "a refused expression without an error");
  }
  const gw::RouteSelector selector =
      parsed && (data[0] & 2) == 0 ? *parsed : gw::default_route_selector();
  check_route(selector, message, binary);
  check_route(gw::RouteSelector{}, message, binary);

  const auto [user_agent, header_lines] = split_at(message, '\n');
  check_message_event(message, binary, expression, expression, user_agent);

  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view rest = header_lines;
  while (!rest.empty() && headers.size() < 64) {
    const auto [line, after] = split_at(rest, '\n');
    const auto [name, value] = split_at(line, ':');
    headers.emplace_back(std::string(name), std::string(value));
    rest = after;
  }
  check_connect_event(headers, expression, expression, expression, user_agent);
  return 0;
}

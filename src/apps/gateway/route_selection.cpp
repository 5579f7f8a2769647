// Route selection with simdjson: the DOM parser validates the whole message, and for a number
// the on-demand parser finds the same value again to read its text as written (the DOM keeps
// only the parsed number). Numbers as route keys are rare, so that second pass is too.
#include "apps/gateway/route_selection.hpp"

#include <simdjson.h>

#include <algorithm>
#include <utility>

namespace hibiki::apps::gateway {
namespace {

constexpr std::string_view kBodyPrefix = "$request.body.";

bool is_key_char(char ch) {
  const auto byte = static_cast<unsigned char>(ch);
  return byte > 0x20 && byte != 0x7F &&
         std::string_view("[]'\"${}.").find(ch) == std::string_view::npos;
}

// Padded copies of the message and parsers, one set per thread, reused across calls.
struct Scratch {
  simdjson::dom::parser dom;
  simdjson::ondemand::parser on_demand;
  std::string padded;
};

Scratch& scratch() {
  thread_local Scratch instance;
  return instance;
}

std::string_view trim_trailing_space(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n' ||
                           text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// The value of the first field of `object` whose key, unescaped, is `key`: the one the DOM's
// at_key finds. (On-demand's find_field compares keys as written, so "\u0061ction" would not
// be "action" there, and a later plain "action" would be found instead.)
bool first_field(simdjson::ondemand::object object, std::string_view key,
                 simdjson::ondemand::value& out) {
  for (auto field : object) {
    std::string_view name;
    if (field.unescaped_key().get(name) != simdjson::SUCCESS) return false;
    if (name == key) return field.value().get(out) == simdjson::SUCCESS;
  }
  return false;
}

// The number at `path` as it is written in the (already validated) padded message.
std::optional<std::string> number_as_written(Scratch& s, std::size_t length,
                                             const std::vector<std::string>& path) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (s.on_demand.iterate(s.padded.data(), length, s.padded.size()).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  simdjson::ondemand::value value;
  if (!first_field(object, path.front(), value)) return std::nullopt;
  for (std::size_t i = 1; i < path.size(); ++i) {
    if (value.get_object().get(object) != simdjson::SUCCESS ||
        !first_field(object, path[i], value)) {
      return std::nullopt;
    }
  }
  return std::string(trim_trailing_space(value.raw_json_token()));
}

// The expression's value in `message`, or nothing (not JSON, missing, or not a scalar).
std::optional<std::string> evaluate(const RouteSelector& selector, std::string_view message) {
  if (selector.path().empty()) return std::nullopt;  // a default-constructed selector
  Scratch& s = scratch();
  s.padded.assign(message);
  s.padded.resize(message.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element current;
  if (s.dom.parse(s.padded.data(), message.size(), false).get(current) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  for (const std::string& key : selector.path()) {
    simdjson::dom::object object;
    if (current.get_object().get(object) != simdjson::SUCCESS ||
        object.at_key(key).get(current) != simdjson::SUCCESS) {
      return std::nullopt;
    }
  }
  switch (current.type()) {
    case simdjson::dom::element_type::STRING:
      return std::string(current.get_string().value_unsafe());
    case simdjson::dom::element_type::BOOL:
      return current.get_bool().value_unsafe() ? "true" : "false";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      return number_as_written(s, message.size(), selector.path());
    default:  // null, object, array
      return std::nullopt;
  }
}

}  // namespace

std::optional<RouteSelector> RouteSelector::parse(std::string_view expression, std::string& error) {
  const auto fail = [&error, expression](std::string why) {
    error = "\"" + std::string(expression) + "\": " + std::move(why);
    return std::nullopt;
  };
  if (expression.find("${") != std::string_view::npos) {
    return fail(
        "templates like ${request.body.action} are not supported; write the plain form "
        "$request.body.action");
  }
  if (!expression.starts_with(kBodyPrefix)) {
    return fail("only $request.body.<key>[.<key>...] is supported (e.g. $request.body.action)");
  }
  RouteSelector selector;
  selector.expression_ = std::string(expression);
  std::string_view rest = expression.substr(kBodyPrefix.size());
  while (true) {
    const std::size_t dot = rest.find('.');
    const std::string_view key = rest.substr(0, dot);
    if (key.empty()) return fail("has an empty key; keys are separated by single dots");
    if (!std::all_of(key.begin(), key.end(), is_key_char)) {
      return fail("key \"" + std::string(key) +
                  "\" may not hold spaces, control characters, brackets, quotes, '$' or braces");
    }
    selector.path_.emplace_back(key);
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  return selector;
}

RouteSelector default_route_selector() {
  std::string error;
  return *RouteSelector::parse("$request.body.action", error);
}

RouteTable::RouteTable(std::vector<std::string> keys) : keys_(std::move(keys)) {
  std::sort(keys_.begin(), keys_.end());
  keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
}

bool RouteTable::contains(std::string_view key) const {
  return std::binary_search(keys_.begin(), keys_.end(), key);
}

RouteChoice select_route(const RouteSelector& selector, std::string_view message,
                         const RouteTable& keys, bool binary) {
  RouteChoice choice;
  if (!binary) {
    if (auto value = evaluate(selector, message)) choice.selected = std::move(*value);
  }
  const bool lifecycle = choice.selected == kConnectRoute || choice.selected == kDisconnectRoute;
  if (!choice.selected.empty() && !lifecycle && keys.contains(choice.selected)) {
    choice.route_key = choice.selected;
    choice.outcome = RouteChoice::Outcome::matched;
  } else if (keys.contains(kDefaultRoute)) {
    choice.route_key = std::string(kDefaultRoute);
    choice.outcome = RouteChoice::Outcome::defaulted;
  }
  return choice;
}

}  // namespace hibiki::apps::gateway

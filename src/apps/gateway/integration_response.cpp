// Lambda-proxy results parsed with simdjson's DOM parser (see integration_response.hpp).
#include "apps/gateway/integration_response.hpp"

#include <simdjson.h>

#include <optional>
#include <utility>

#include "apps/gateway/base64.hpp"

namespace hibiki::apps::gateway {
namespace {

constexpr int kBadGateway = 502;

struct Scratch {
  simdjson::dom::parser parser;
  std::string padded;
};

Scratch& scratch() {
  thread_local Scratch instance;
  return instance;
}

// A JSON scalar as header text: strings unquoted, numbers and booleans as written by simdjson.
// Nothing for null, objects and arrays.
std::optional<std::string> header_text(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::STRING:
      return std::string(value.get_string().value_unsafe());
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
    case simdjson::dom::element_type::BOOL:
      return simdjson::minify(value);
    default:
      return std::nullopt;
  }
}

IntegrationResult unusable() {
  return IntegrationResult{.status = kBadGateway, .body = {}, .headers = {}};
}

}  // namespace

IntegrationResult parse_integration_response(int http_status, std::string_view body) {
  IntegrationResult plain{.status = http_status, .body = std::string(body), .headers = {}};
  if (http_status < 200 || http_status > 299) return plain;

  Scratch& s = scratch();
  s.padded.assign(body);
  s.padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  simdjson::dom::object object;
  simdjson::dom::element status_code;
  if (s.parser.parse(s.padded.data(), body.size(), false).get(root) != simdjson::SUCCESS ||
      root.get_object().get(object) != simdjson::SUCCESS ||
      object.at_key("statusCode").get(status_code) != simdjson::SUCCESS ||
      !status_code.is_number()) {
    return plain;
  }

  IntegrationResult result;
  std::int64_t status = 0;
  if (status_code.get_int64().get(status) != simdjson::SUCCESS || status < 100 || status > 599) {
    return unusable();
  }
  result.status = static_cast<int>(status);

  simdjson::dom::element value;
  if (object.at_key("body").get(value) == simdjson::SUCCESS && !value.is_null()) {
    result.body = value.is_string() ? std::string(value.get_string().value_unsafe())
                                    : simdjson::minify(value);
  }
  bool base64 = false;
  if (object.at_key("isBase64Encoded").get(value) == simdjson::SUCCESS &&
      value.get_bool().get(base64) == simdjson::SUCCESS && base64) {
    auto decoded = base64_decode(result.body);
    if (!decoded) return unusable();
    result.body = std::move(*decoded);
  }

  simdjson::dom::object headers;
  if (object.at_key("headers").get_object().get(headers) == simdjson::SUCCESS) {
    for (auto [name, header] : headers) {
      if (auto text = header_text(header)) result.headers.emplace_back(name, std::move(*text));
    }
  }
  if (object.at_key("multiValueHeaders").get_object().get(headers) == simdjson::SUCCESS) {
    for (auto [name, values] : headers) {
      simdjson::dom::array list;
      if (values.get_array().get(list) != simdjson::SUCCESS) continue;
      for (simdjson::dom::element header : list) {
        if (auto text = header_text(header)) result.headers.emplace_back(name, std::move(*text));
      }
    }
  }
  return result;
}

}  // namespace hibiki::apps::gateway

// Fuzzes the gateway's management API inputs: parse_management_request on a fuzzed method, path
// and stage; percent_decode, uri_encode and parse_query on the path and query; SigV4
// (parse_sigv4_authorization on a fuzzed header, check_sigv4 on fuzzed headers and body, and a
// request signed with the exposed steps must verify); parse_integration_response on a fuzzed
// status and body.
#include <simdjson.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apps/gateway/headers.hpp"
#include "apps/gateway/integration_response.hpp"
#include "apps/gateway/management_api.hpp"
#include "apps/gateway/sigv4.hpp"
#include "apps/gateway/url_encoding.hpp"
#include "fuzz_support.hpp"

namespace {

namespace gw = hibiki::apps::gateway;
using hibiki::fuzz::check;

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

bool is_hex_lower(std::string_view text) {
  for (char ch : text) {
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  }
  return true;
}

// Takes the text up to the next '\n' off `rest` (all of it when there is none).
std::string_view take_line(std::string_view& rest) {
  const std::size_t at = rest.find('\n');
  const std::string_view line = rest.substr(0, at);
  rest = at == std::string_view::npos ? std::string_view() : rest.substr(at + 1);
  return line;
}

void check_percent(std::string_view text) {
  for (const gw::PlusMeans plus : {gw::PlusMeans::plus, gw::PlusMeans::space}) {
    const std::optional<std::string> decoded = gw::percent_decode(text, plus);
    if (decoded) {
      check(decoded->size() <= text.size(), "decoding made the text longer");
      if (text.find('%') == std::string_view::npos) {
        std::string expected(text);
        if (plus == gw::PlusMeans::space) {
          for (char& ch : expected) {
            if (ch == '+') ch = ' ';
          }
        }
        check(*decoded == expected, "text without escapes did not decode to itself");
      }
      // Encoding the decoded bytes gives only unreserved characters and escapes, and decodes
      // back to the same bytes.
      const std::string encoded = gw::uri_encode(*decoded, false);
      for (char ch : encoded) {
        check(std::isalnum(static_cast<unsigned char>(ch)) != 0 ||
                  std::string_view("-_.~%").find(ch) != std::string_view::npos,
              "uri_encode left a reserved character");
      }
      const std::optional<std::string> again = gw::percent_decode(encoded, plus);
      check(again && *again == *decoded, "uri_encode does not decode back");
    } else {
      check(text.find('%') != std::string_view::npos, "a text without '%' failed to decode");
    }
    const std::string raw_encoded = gw::uri_encode(text, true);
    const std::optional<std::string> raw_back = gw::percent_decode(raw_encoded, plus);
    check(raw_back && *raw_back == text, "uri_encode (slashes kept) does not decode back");
  }
}

void check_query(std::string_view query) {
  const auto params = gw::parse_query(query);
  std::string rebuilt;
  for (const auto& [name, value] : params) {
    if (!rebuilt.empty()) rebuilt += '&';
    rebuilt += gw::uri_encode(name, false) + "=" + gw::uri_encode(value, false);
  }
  check(gw::parse_query(rebuilt) == params, "a re-encoded query parses differently");
  if (query.find_first_of("%+") == std::string_view::npos) {
    for (const auto& [name, value] : params) {
      check(
          query.find(name) != std::string_view::npos && query.find(value) != std::string_view::npos,
          "a parameter without escapes is not a piece of the query");
    }
  }
}

void check_aws_error(gw::AwsErrorKind kind, std::string_view message) {
  const gw::AwsError error = gw::aws_error(kind, message);
  check(error.status >= 400 && error.status <= 599, "an AWS error status outside 400-599");
  check(!error.error_type.empty(), "an AWS error without a type");
  if (error.body.empty()) return;
  static simdjson::dom::parser parser;
  std::string_view text;
  check(parser.parse(error.body)["message"].get_string().get(text) == simdjson::SUCCESS,
        "an AWS error body is not {\"message\":…}");
}

void check_management(std::string_view method, std::string_view path, std::string_view stage) {
  const gw::ManagementRequest request = gw::parse_management_request(method, path, stage);
  if (request.kind == gw::ManagementAction::invalid) {
    check(request.error_status == gw::aws_error(request.error).status,
          "error_status is not the error's status");
    check_aws_error(request.error, request.error_message);
    return;
  }
  const int status = gw::success_status(request.kind);
  check(status == 200 || status == 204, "a success status other than 200 or 204");
  const bool has_id = request.kind != gw::ManagementAction::publish_topic;
  const bool has_topic = request.kind == gw::ManagementAction::publish_topic ||
                         request.kind == gw::ManagementAction::subscribe_topic ||
                         request.kind == gw::ManagementAction::unsubscribe_topic;
  check(has_id == !request.connection_id.empty(), "a connection id where none belongs");
  check(has_topic == !request.topic.empty(), "a topic where none belongs");

  // The same request with every segment encoded afresh must parse to the same thing: decoded
  // values come only from the path's bytes and escapes.
  std::string rebuilt = "/" + gw::uri_encode(stage, false);
  if (has_topic) rebuilt += "/@topics/" + gw::uri_encode(request.topic, false);
  if (has_id) rebuilt += "/@connections/" + gw::uri_encode(request.connection_id, false);
  const gw::ManagementRequest again = gw::parse_management_request(method, rebuilt, stage);
  check(again.kind == request.kind && again.connection_id == request.connection_id &&
            again.topic == request.topic,
        "a re-encoded management path parses differently");
}

void check_authorization(std::string_view header) {
  const std::optional<gw::SigV4Authorization> auth = gw::parse_sigv4_authorization(header);
  if (!auth) return;
  check(gw::is_sigv4_authorization(header), "parsed a header is_sigv4_authorization refuses");
  check(auth->signature.size() == 64 && is_hex_lower(auth->signature),
        "a signature that is not 64 lowercase hex characters");
  for (const std::string& name : auth->signed_headers) {
    for (char ch : name)
      check(!(ch >= 'A' && ch <= 'Z'), "a signed header name that is not lowercase");
  }
}

// Signs the request with the exposed steps; check_sigv4 must then accept it, and must refuse
// it with another body.
void check_signed(std::string_view method, std::string_view path, std::string_view query,
                  const gw::HeaderList& extra, std::string_view body) {
  const std::string amz_date = "20260115T123600Z";
  gw::HeaderList headers = {{"Host", "localhost:8081"}, {"X-Amz-Date", amz_date}};
  std::vector<std::string> signed_headers = {"host", "x-amz-date"};
  for (const auto& [name, value] : extra) {
    if (gw::iequals(name, "authorization") || gw::iequals(name, "x-amz-date") ||
        gw::iequals(name, "x-amz-content-sha256")) {
      continue;
    }
    headers.emplace_back(name, value);
    bool plain = !name.empty();
    for (char ch : name)
      plain = plain && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-');
    bool listed = false;
    for (const std::string& s : signed_headers)
      listed = listed || s == name;
    if (plain && !listed) signed_headers.push_back(name);
  }
  const auto canonical = gw::sigv4_canonical_request(method, path, query, headers, signed_headers,
                                                     gw::sha256_hex(body));
  check(canonical.has_value(), "a canonical request misses a header the request has");
  const std::string signature = gw::sigv4_signature(
      kSecret, "20260115", "us-east-1", "execute-api",
      gw::sigv4_string_to_sign(amz_date, "20260115", "us-east-1", "execute-api", *canonical));
  std::string list;
  for (const std::string& s : signed_headers)
    list += (list.empty() ? "" : ";") + s;
  headers.emplace_back("Authorization",
                       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260115/us-east-1/execute-api/"
                       "aws4_request, SignedHeaders=" +
                           list + ", Signature=" + signature);
  const gw::SigV4Status status = gw::check_sigv4(method, path, query, headers, body, kSecret);
  check(status == gw::SigV4Status::ok, "a request signed with the exposed steps does not verify");
  const std::string other_body = std::string(body) + "x";
  check(!gw::verify_sigv4(method, path, query, headers, other_body, kSecret),
        "a signature verifies another body");
  check(!gw::verify_sigv4(method, path, query, headers, body, "another secret"),
        "a signature verifies with another secret");
}

void check_integration(int http_status, std::string_view body) {
  const gw::IntegrationResult result = gw::parse_integration_response(http_status, body);
  if (http_status < 200 || http_status > 299) {
    check(result.status == http_status && result.body == body && result.headers.empty(),
          "a non-2xx answer was not passed on as is");
    return;
  }
  check(result.status >= 100 && result.status <= 599, "a status outside 100-599");
  if (result.status == 502 && result.body.empty()) return;  // unusable Lambda-proxy result
  static simdjson::dom::parser parser;
  simdjson::dom::object object;
  simdjson::dom::element code;
  const bool proxy = parser.parse(body).get_object().get(object) == simdjson::SUCCESS &&
                     object["statusCode"].get(code) == simdjson::SUCCESS && code.is_number();
  if (!proxy) {
    check(result.status == http_status && result.body == body && result.headers.empty(),
          "a plain 2xx answer was not passed on as is");
  }
}

}  // namespace

// Layout, one field a line: method, path, stage, Authorization header, query, a status line of
// digits (the integration's HTTP status), then "name:value" header lines up to an empty line,
// and the rest is the body (of the signed request and of the integration's answer).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<char> copy = hibiki::fuzz::exact_copy<char>({data, size});
  std::string_view rest(copy.data(), copy.size());
  const std::string_view method = take_line(rest);
  const std::string_view path = take_line(rest);
  const std::string_view stage = take_line(rest);
  const std::string_view authorization = take_line(rest);
  const std::string_view query = take_line(rest);
  const std::string_view status_line = take_line(rest);
  gw::HeaderList headers;
  while (!rest.empty()) {
    const std::string_view line = take_line(rest);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    headers.emplace_back(
        std::string(line.substr(0, colon)),
        colon == std::string_view::npos ? "" : std::string(line.substr(colon + 1)));
  }
  const std::string_view body = rest;

  check_management(method, path, stage);
  check_percent(path);
  check_percent(query);
  check_query(query);
  check_authorization(authorization);

  gw::HeaderList with_authorization = headers;
  with_authorization.emplace_back("Authorization", std::string(authorization));
  const gw::SigV4Status status =
      gw::check_sigv4(method, path, query, with_authorization, body, kSecret);
  check(std::string_view(gw::to_string(status)) != "unknown", "a SigV4 status without a name");
  (void)gw::check_sigv4(method, path, query, headers, body, kSecret);
  if (const auto date = gw::find_header(headers, "x-amz-date")) {
    (void)gw::sigv4_date_within(*date, 1768480560);
  }
  check_signed(method, path, query, headers, body);

  int http_status = 0;
  for (char ch : status_line.substr(0, 4)) {
    http_status = http_status * 10 + (ch >= '0' && ch <= '9' ? ch - '0' : 0);
  }
  check_integration(http_status, body);
  return 0;
}

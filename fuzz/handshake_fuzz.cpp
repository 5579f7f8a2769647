// Fuzzes the opening handshake: a parsed request through check_upgrade with and without an
// origin list, then the accept key, the subprotocol list, the permessage-deflate negotiation
// and the response heads built from it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "protocol/handshake.hpp"
#include "protocol/http_request.hpp"
#include "protocol/permessage_deflate.hpp"

namespace {

using hibiki::fuzz::check;
using hibiki::protocol::HandshakeCheck;
using hibiki::protocol::HandshakeError;
using hibiki::protocol::HttpRequest;

const std::array<std::string, 2> kOrigins = {"http://localhost:8080", "https://example.com"};
// The server's default, a strict one that answers every option unasked, and off.
const std::array<hibiki::protocol::DeflatePolicy, 3> kPolicies = {
    hibiki::protocol::DeflatePolicy{},
    hibiki::protocol::DeflatePolicy{.server_context_takeover = false,
                                    .max_server_window_bits = 10,
                                    .request_client_no_context_takeover = true,
                                    .max_client_window_bits = 12},
    hibiki::protocol::DeflatePolicy{.enabled = false}};

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// The list split the slow way: cut at every comma, trim, drop empty elements.
std::vector<std::string_view> reference_split(std::string_view value) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i != value.size() && value[i] != ',') continue;
    std::string_view element = value.substr(start, i - start);
    while (!element.empty() && is_ows(element.front()))
      element.remove_prefix(1);
    while (!element.empty() && is_ows(element.back()))
      element.remove_suffix(1);
    if (!element.empty()) out.push_back(element);
    start = i + 1;
  }
  return out;
}

void check_protocols(std::string_view value) {
  const std::vector<std::string_view> got = hibiki::protocol::split_protocols(value);
  check(got == reference_split(value), "split_protocols differs from the reference split");
}

// 20 SHA-1 bytes in base64: 27 alphabet characters and one '=' of padding, always.
void check_accept_key(std::string_view key) {
  const hibiki::protocol::AcceptKey accept = hibiki::protocol::compute_accept_key(key);
  for (std::size_t i = 0; i + 1 < accept.size(); ++i) {
    check(is_base64_char(accept[i]), "accept key character outside base64");
  }
  check(accept.back() == '=', "accept key without its padding");
  check(accept == hibiki::protocol::compute_accept_key(key), "accept key not deterministic");
}

// RFC 7692 §7: an accepted offer answers one extension, with parameters the policy allows.
void check_negotiation(const hibiki::protocol::DeflateNegotiation& n,
                       const hibiki::protocol::DeflatePolicy& policy) {
  if (!n.accepted) {
    check(n.response.empty(), "declined offer with a response");
    return;
  }
  check(policy.enabled, "accepted an offer with deflate disabled");
  check(n.response.starts_with("permessage-deflate"), "response is not permessage-deflate");
  check(n.response.find(',') == std::string::npos, "response lists more than one extension");
  for (char c : n.response) {
    const auto u = static_cast<unsigned char>(c);
    check(u >= 0x20 && u < 0x7F, "response is not a printable header value");
  }
  const hibiki::protocol::DeflateParams& p = n.params;
  for (std::uint8_t bits : {p.server_max_window_bits, p.client_max_window_bits}) {
    check(bits >= hibiki::protocol::kMinWindowBits && bits <= hibiki::protocol::kMaxWindowBits,
          "window bits outside 8..15");
  }
  check(p.server_max_window_bits <= policy.max_server_window_bits,
        "server window larger than the policy allows");
  check(policy.server_context_takeover || p.server_no_context_takeover,
        "server context takeover against the policy");
  check(!policy.request_client_no_context_takeover || p.client_no_context_takeover,
        "client_no_context_takeover not requested");
  check(p.server_no_context_takeover ==
            (n.response.find("server_no_context_takeover") != std::string::npos),
        "server_no_context_takeover and the response disagree");
  check(p.client_no_context_takeover ==
            (n.response.find("client_no_context_takeover") != std::string::npos),
        "client_no_context_takeover and the response disagree");
}

void check_error(HandshakeError error) {
  const int status = hibiki::protocol::http_status_for(error);
  check(status == 400 || status == 403 || status == 405 || status == 426,
        "handshake error maps to a bad status");
  check(std::string_view(hibiki::protocol::to_string(error)) != "unknown",
        "handshake error without a name");
  const std::string response = hibiki::protocol::build_error_response(status);
  check(response.starts_with("HTTP/1.1 " + std::to_string(status) + " "),
        "error response with the wrong status line");
  const std::size_t head_end = response.find("\r\n\r\n");
  check(head_end != std::string::npos, "error response without a blank line");
  const std::string length =
      "Content-Length: " + std::to_string(response.size() - head_end - 4) + "\r\n";
  check(response.find(length) < head_end, "error response with a wrong Content-Length");
}

void check_accepted(const HttpRequest& request, const HandshakeCheck& accepted) {
  const hibiki::protocol::UpgradeRequest& up = accepted.upgrade;
  check(request.method == "GET" && request.version_minor >= 1, "accepted a non-GET or HTTP/1.0");
  check(hibiki::protocol::wants_websocket(request), "accepted without Upgrade: websocket");
  check(up.key.size() == 24 && up.key.ends_with("=="), "accepted a key of the wrong shape");
  for (std::size_t i = 0; i < 22; ++i) {
    check(is_base64_char(up.key[i]), "accepted a key outside base64");
  }
  check(request.header("Sec-WebSocket-Key") == up.key, "key is not the header's value");
  check(request.header("Sec-WebSocket-Version") == "13", "accepted a version other than 13");

  const std::vector<std::string_view> protocols = hibiki::protocol::split_protocols(up.protocols);
  const std::string_view chosen = protocols.empty() ? std::string_view{} : protocols.front();
  const std::string response = hibiki::protocol::build_upgrade_response(up.key, chosen);
  const hibiki::protocol::AcceptKey accept = hibiki::protocol::compute_accept_key(up.key);
  check(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n") &&
            response.ends_with("\r\n\r\n") &&
            response.find("Sec-WebSocket-Accept: " + std::string(accept.data(), accept.size()) +
                          "\r\n") != std::string::npos,
        "malformed 101 response");
}

}  // namespace

// Layout: the request bytes as a client sends them.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<char> copy = hibiki::fuzz::exact_copy<char>({data, size});
  const std::string_view buffer(copy.data(), copy.size());

  // Whatever the bytes, the helpers that take header values must hold up on them.
  check_accept_key(buffer);
  check_protocols(buffer);
  for (const auto& policy : kPolicies) {
    check_negotiation(hibiki::protocol::negotiate_permessage_deflate(buffer, policy), policy);
  }

  std::array<hibiki::protocol::HttpHeader, 64> headers{};
  HttpRequest request;
  const hibiki::protocol::HttpParseResult parsed =
      hibiki::protocol::parse_http_request(buffer, request, headers);
  if (parsed.status != hibiki::protocol::HttpParseStatus::complete) return 0;

  for (const auto& policy : kPolicies) {
    const auto from_request = hibiki::protocol::negotiate_permessage_deflate(request, policy);
    check_negotiation(from_request, policy);
    // One Sec-WebSocket-Extensions header: the request and its value negotiate alike.
    if (request.header_count("Sec-WebSocket-Extensions") == 1) {
      const auto from_value = hibiki::protocol::negotiate_permessage_deflate(
          *request.header("Sec-WebSocket-Extensions"), policy);
      check(from_value.accepted == from_request.accepted &&
                from_value.response == from_request.response,
            "negotiating the request and its header value disagree");
    }
  }

  const HandshakeCheck any_origin = hibiki::protocol::check_upgrade(request);
  const HandshakeCheck some_origins =
      hibiki::protocol::check_upgrade(request, {.allowed_origins = kOrigins});
  check_error(any_origin.error);
  check_error(some_origins.error);

  // The origin check is the last one: before it both calls must agree.
  if (any_origin.error != HandshakeError::none) {
    check(some_origins.error == any_origin.error, "origin list changed an earlier verdict");
    return 0;
  }
  check_accepted(request, any_origin);
  check_accept_key(any_origin.upgrade.key);
  check_protocols(any_origin.upgrade.protocols);
  check(any_origin.upgrade.origin == request.header("Origin").value_or(std::string_view{}),
        "origin is not the header's value");

  const auto origin = request.header("Origin");
  bool listed = false;
  for (const std::string& allowed : kOrigins) {
    listed = listed || (origin && hibiki::protocol::iequals(allowed, *origin));
  }
  if (listed) {
    check(some_origins.error == HandshakeError::none, "refused a listed origin");
    check_accepted(request, some_origins);
  } else {
    check(some_origins.error == HandshakeError::origin_not_allowed, "accepted an unlisted origin");
  }
  return 0;
}

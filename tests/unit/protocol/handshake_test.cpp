// Tests for the RFC 6455 §4.2 server handshake: request checks, accept key and responses.
#include "protocol/handshake.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace hibiki::protocol {
namespace {

struct Request {
  std::string text;
  HttpRequest request;
  std::array<HttpHeader, 64> storage{};
};

// Parses a request head; the returned object owns the buffer the views point into.
std::unique_ptr<Request> make_request(std::string_view request_line,
                                      const std::vector<std::string>& headers) {
  auto r = std::make_unique<Request>();
  r->text = std::string(request_line) + "\r\n";
  for (const std::string& h : headers)
    r->text += h + "\r\n";
  r->text += "\r\n";
  const HttpParseResult result = parse_http_request(r->text, r->request, r->storage);
  EXPECT_EQ(result.status, HttpParseStatus::complete) << r->text;
  return r;
}

const std::vector<std::string> kGoodHeaders = {
    "Host: example.com:8080",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    "Origin: https://Example.com",
    "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
};

// The good headers with the ones named `drop` removed and `add` appended.
std::vector<std::string> headers_with(std::vector<std::string> add,
                                      std::initializer_list<std::string_view> drop = {}) {
  std::vector<std::string> out;
  for (const std::string& h : kGoodHeaders) {
    bool dropped = false;
    for (std::string_view name : drop) {
      if (h.size() > name.size() && iequals(std::string_view(h).substr(0, name.size()), name) &&
          h[name.size()] == ':') {
        dropped = true;
      }
    }
    if (!dropped) out.push_back(h);
  }
  out.insert(out.end(), add.begin(), add.end());
  return out;
}

HandshakeError check(std::string_view request_line, const std::vector<std::string>& headers,
                     const HandshakeOptions& options = {}) {
  const auto r = make_request(request_line, headers);
  return check_upgrade(r->request, options).error;
}

HandshakeError check_headers(const std::vector<std::string>& headers,
                             const HandshakeOptions& options = {}) {
  return check("GET /chat HTTP/1.1", headers, options);
}

TEST(Handshake, rfc_6455_accept_key_vector) {
  const AcceptKey key = compute_accept_key("dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(std::string_view(key.data(), key.size()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, accepts_a_valid_upgrade_and_exposes_its_fields) {
  const auto r = make_request("GET /chat HTTP/1.1", kGoodHeaders);
  const HandshakeCheck result = check_upgrade(r->request);
  EXPECT_EQ(result.error, HandshakeError::none);
  EXPECT_EQ(result.upgrade.key, "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(result.upgrade.origin, "https://Example.com");
  EXPECT_EQ(result.upgrade.protocols, "chat, superchat");
  EXPECT_EQ(result.upgrade.extensions, "permessage-deflate; client_max_window_bits");
}

TEST(Handshake, optional_fields_are_empty_when_absent) {
  const auto r = make_request(
      "GET / HTTP/1.1",
      headers_with({}, {"Origin", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"}));
  const HandshakeCheck result = check_upgrade(r->request);
  EXPECT_EQ(result.error, HandshakeError::none);
  EXPECT_TRUE(result.upgrade.origin.empty());
  EXPECT_TRUE(result.upgrade.protocols.empty());
  EXPECT_TRUE(result.upgrade.extensions.empty());
}

TEST(Handshake, accepts_case_variants_and_token_lists) {
  EXPECT_EQ(check_headers(headers_with({"upgrade: WebSocket", "connection: keep-alive, Upgrade"},
                                       {"Upgrade", "Connection"})),
            HandshakeError::none);
  // Repeated Connection fields form one list (RFC 9110 §5.3).
  EXPECT_EQ(check_headers(
                headers_with({"Connection: keep-alive", "Connection: upgrade"}, {"Connection"})),
            HandshakeError::none);
}

TEST(Handshake, rejects_non_get_with_405) {
  EXPECT_EQ(check("POST /chat HTTP/1.1", kGoodHeaders), HandshakeError::not_get);
  EXPECT_EQ(check("get /chat HTTP/1.1", kGoodHeaders), HandshakeError::not_get);
  EXPECT_EQ(check("POST /chat HTTP/1.0", {}), HandshakeError::not_get);  // checked first
  EXPECT_EQ(http_status_for(HandshakeError::not_get), 405);
}

TEST(Handshake, rejects_http_1_0_with_400) {
  EXPECT_EQ(check("GET /chat HTTP/1.0", kGoodHeaders), HandshakeError::bad_http_version);
  EXPECT_EQ(http_status_for(HandshakeError::bad_http_version), 400);
}

TEST(Handshake, rejects_missing_or_repeated_host_with_400) {
  EXPECT_EQ(check_headers(headers_with({}, {"Host"})), HandshakeError::missing_host);
  EXPECT_EQ(check_headers(headers_with({"Host: other.example"})), HandshakeError::missing_host);
  EXPECT_EQ(check_headers(headers_with({"Host:"}, {"Host"})), HandshakeError::missing_host);
  EXPECT_EQ(http_status_for(HandshakeError::missing_host), 400);
}

TEST(Handshake, rejects_missing_upgrade_with_400) {
  EXPECT_EQ(check_headers(headers_with({}, {"Upgrade"})), HandshakeError::missing_upgrade);
  EXPECT_EQ(check_headers(headers_with({"Upgrade: h2c"}, {"Upgrade"})),
            HandshakeError::missing_upgrade);
  EXPECT_EQ(check_headers(headers_with({"Upgrade: websockets"}, {"Upgrade"})),
            HandshakeError::missing_upgrade);
  EXPECT_EQ(http_status_for(HandshakeError::missing_upgrade), 400);
}

TEST(Handshake, rejects_missing_connection_upgrade_with_400) {
  EXPECT_EQ(check_headers(headers_with({}, {"Connection"})), HandshakeError::missing_connection);
  EXPECT_EQ(check_headers(headers_with({"Connection: keep-alive"}, {"Connection"})),
            HandshakeError::missing_connection);
  EXPECT_EQ(http_status_for(HandshakeError::missing_connection), 400);
}

TEST(Handshake, rejects_bad_keys_with_400) {
  EXPECT_EQ(check_headers(headers_with({}, {"Sec-WebSocket-Key"})), HandshakeError::bad_key);
  EXPECT_EQ(check_headers(headers_with({"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="})),
            HandshakeError::bad_key);  // repeated
  for (std::string key :
       {"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===", "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZQAA", "dGhlIHNhbXBsZSBub25jZ===", "dGhlIHNhbXBsZSBub2*jZQ==",
        "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    EXPECT_EQ(check_headers(headers_with({"Sec-WebSocket-Key: " + key}, {"Sec-WebSocket-Key"})),
              HandshakeError::bad_key)
        << key;
  }
  // Any 16 bytes are fine.
  EXPECT_EQ(check_headers(headers_with({"Sec-WebSocket-Key: +/+/AAAAzzzz9999++++/w=="},
                                       {"Sec-WebSocket-Key"})),
            HandshakeError::none);
  EXPECT_EQ(http_status_for(HandshakeError::bad_key), 400);
}

TEST(Handshake, rejects_unsupported_versions_with_426) {
  EXPECT_EQ(check_headers(headers_with({}, {"Sec-WebSocket-Version"})),
            HandshakeError::unsupported_version);
  for (std::string version : {"8", "12", "14", "13, 8", "013", ""}) {
    EXPECT_EQ(check_headers(
                  headers_with({"Sec-WebSocket-Version: " + version}, {"Sec-WebSocket-Version"})),
              HandshakeError::unsupported_version)
        << version;
  }
  EXPECT_EQ(check_headers(headers_with({"Sec-WebSocket-Version: 13"})),
            HandshakeError::unsupported_version);  // repeated
  EXPECT_EQ(http_status_for(HandshakeError::unsupported_version), 426);
}

TEST(Handshake, checks_key_before_version) {
  EXPECT_EQ(check_headers(headers_with({"Sec-WebSocket-Version: 8"},
                                       {"Sec-WebSocket-Key", "Sec-WebSocket-Version"})),
            HandshakeError::bad_key);
}

TEST(Handshake, origin_policy) {
  const std::vector<std::string> allowed = {"https://example.com", "http://localhost:8080"};
  const HandshakeOptions options{.allowed_origins = allowed};
  EXPECT_EQ(check_headers(kGoodHeaders, options), HandshakeError::none);  // case-insensitive
  EXPECT_EQ(check_headers(headers_with({"Origin: http://LOCALHOST:8080"}, {"Origin"}), options),
            HandshakeError::none);
  EXPECT_EQ(check_headers(headers_with({"Origin: https://evil.example"}, {"Origin"}), options),
            HandshakeError::origin_not_allowed);
  EXPECT_EQ(check_headers(headers_with({"Origin: https://example.com:443"}, {"Origin"}), options),
            HandshakeError::origin_not_allowed);
  EXPECT_EQ(check_headers(headers_with({}, {"Origin"}), options),
            HandshakeError::origin_not_allowed);
  // Without a policy every origin, and none, is fine.
  EXPECT_EQ(check_headers(headers_with({"Origin: https://evil.example"}, {"Origin"})),
            HandshakeError::none);
  EXPECT_EQ(check_headers(headers_with({}, {"Origin"})), HandshakeError::none);
  EXPECT_EQ(http_status_for(HandshakeError::origin_not_allowed), 403);
}

TEST(Handshake, wants_websocket_looks_at_upgrade_only) {
  EXPECT_TRUE(wants_websocket(make_request("GET / HTTP/1.1", {"Upgrade: WebSocket"})->request));
  EXPECT_TRUE(
      wants_websocket(make_request("POST / HTTP/1.0", {"Upgrade: foo, websocket"})->request));
  EXPECT_FALSE(wants_websocket(make_request("GET / HTTP/1.1", {"Host: a"})->request));
  EXPECT_FALSE(wants_websocket(make_request("GET / HTTP/1.1", {"Upgrade: h2c"})->request));
}

TEST(Handshake, split_protocols_trims_elements) {
  EXPECT_EQ(split_protocols(" chat ,superchat,,\tv2.json "),
            (std::vector<std::string_view>{"chat", "superchat", "v2.json"}));
  EXPECT_TRUE(split_protocols("").empty());
  EXPECT_TRUE(split_protocols(" , ").empty());
}

TEST(Handshake, upgrade_response_bytes) {
  EXPECT_EQ(build_upgrade_response("dGhlIHNhbXBsZSBub25jZQ=="),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
  EXPECT_EQ(build_upgrade_response("dGhlIHNhbXBsZSBub25jZQ==", "chat",
                                   "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: chat\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
            "\r\n");
}

TEST(Handshake, error_response_bytes) {
  EXPECT_EQ(build_error_response(400),
            "HTTP/1.1 400 Bad Request\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 12\r\n"
            "Connection: close\r\n"
            "\r\n"
            "Bad Request\n");
  EXPECT_EQ(build_error_response(426),
            "HTTP/1.1 426 Upgrade Required\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 17\r\n"
            "Connection: close\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n"
            "Upgrade Required\n");
  EXPECT_EQ(build_error_response(405, "use GET"),
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 7\r\n"
            "Connection: close\r\n"
            "Allow: GET\r\n"
            "\r\n"
            "use GET");
  EXPECT_EQ(build_error_response(599),
            "HTTP/1.1 599 Unknown\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 8\r\n"
            "Connection: close\r\n"
            "\r\n"
            "Unknown\n");
}

TEST(Handshake, reason_phrases) {
  const std::pair<int, std::string_view> expected[] = {
      {101, "Switching Protocols"},
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {304, "Not Modified"},
      {400, "Bad Request"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {426, "Upgrade Required"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"},
      {0, "Unknown"},
      {418, "Unknown"},
  };
  for (const auto& [status, phrase] : expected)
    EXPECT_EQ(reason_phrase(status), phrase) << status;
}

TEST(Handshake, error_names) {
  EXPECT_STREQ(to_string(HandshakeError::none), "none");
  EXPECT_STREQ(to_string(HandshakeError::not_get), "not_get");
  EXPECT_STREQ(to_string(HandshakeError::bad_http_version), "bad_http_version");
  EXPECT_STREQ(to_string(HandshakeError::missing_host), "missing_host");
  EXPECT_STREQ(to_string(HandshakeError::missing_upgrade), "missing_upgrade");
  EXPECT_STREQ(to_string(HandshakeError::missing_connection), "missing_connection");
  EXPECT_STREQ(to_string(HandshakeError::bad_key), "bad_key");
  EXPECT_STREQ(to_string(HandshakeError::unsupported_version), "unsupported_version");
  EXPECT_STREQ(to_string(HandshakeError::origin_not_allowed), "origin_not_allowed");
}

}  // namespace
}  // namespace hibiki::protocol

// Tests for the bounded HTTP/1.1 request-head parser and the header list helpers.
#include "protocol/http_request.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace hibiki::protocol {
namespace {

using namespace std::string_view_literals;

const std::string kChromeRequest =
    "GET /chat?room=lobby&x=1 HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://localhost:8080\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

struct Parsed {
  std::string text;  // own copy of the input: the request's views point into it
  HttpParseResult result;
  HttpRequest request;
  std::array<HttpHeader, 64> storage{};
};

// Heap-allocated so views stay valid when returned.
std::unique_ptr<Parsed> parse(std::string_view buffer, const HttpLimits& limits = {},
                              std::size_t storage_size = 64) {
  auto p = std::make_unique<Parsed>();
  p->text = std::string(buffer);
  p->result =
      parse_http_request(p->text, p->request, std::span(p->storage).first(storage_size), limits);
  return p;
}

HttpError error_of(std::string_view buffer, const HttpLimits& limits = {}) {
  const auto p = parse(buffer, limits);
  EXPECT_EQ(p->result.status, HttpParseStatus::error) << buffer;
  return p->result.error;
}

std::string request_with(std::string_view first_line, std::string_view headers = "Host: a\r\n") {
  return std::string(first_line) + "\r\n" + std::string(headers) + "\r\n";
}

TEST(HttpRequest, a_bad_request_line_gets_400_however_the_oversized_head_is_split) {
  // Found by http_request_fuzz: the whole head used to get 431 (size checked first) while the
  // same bytes arriving in two reads got 400 (request line checked first).
  const HttpLimits limits{.max_head_bytes = 64};
  const std::string head = "NOT A REQUEST LINE\r\nX-Filler: " + std::string(100, 'a') + "\r\n\r\n";
  EXPECT_EQ(error_of(head, limits), HttpError::bad_request_line);
  for (std::size_t split = 20; split < head.size(); ++split) {
    Parsed first;
    first.text = head.substr(0, split);
    first.result = parse_http_request(first.text, first.request, first.storage, limits);
    if (first.result.status == HttpParseStatus::error) {
      EXPECT_EQ(first.result.error, HttpError::bad_request_line) << "split at " << split;
      continue;
    }
    Parsed whole;
    whole.text = head;
    whole.result = parse_http_request(whole.text, whole.request, whole.storage, limits, split);
    EXPECT_EQ(whole.result.error, HttpError::bad_request_line) << "split at " << split;
  }
}

TEST(HttpRequest, parses_a_chrome_upgrade_request) {
  const auto p = parse(kChromeRequest);
  ASSERT_EQ(p->result.status, HttpParseStatus::complete);
  EXPECT_EQ(p->result.error, HttpError::none);
  EXPECT_EQ(p->result.head_bytes, kChromeRequest.size());
  const HttpRequest& r = p->request;
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/chat?room=lobby&x=1");
  EXPECT_EQ(r.path, "/chat");
  EXPECT_EQ(r.query, "room=lobby&x=1");
  EXPECT_EQ(r.version_minor, 1);
  ASSERT_EQ(r.headers.size(), 12u);
  EXPECT_EQ(r.headers[0].name, "Host");
  EXPECT_EQ(r.headers[0].value, "localhost:8080");
  EXPECT_EQ(r.header("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(r.header("SEC-WEBSOCKET-EXTENSIONS"), "permessage-deflate; client_max_window_bits");
  EXPECT_EQ(r.header("Accept-Language"), "en-US,en;q=0.9");
  EXPECT_FALSE(r.header("Cookie").has_value());
}

TEST(HttpRequest, head_bytes_excludes_data_after_the_head) {
  const std::string buffer = kChromeRequest +
                             "\x81\x85"
                             "extra";
  const auto p = parse(buffer);
  ASSERT_EQ(p->result.status, HttpParseStatus::complete);
  EXPECT_EQ(p->result.head_bytes, kChromeRequest.size());
}

TEST(HttpRequest, every_split_point_needs_more_until_complete) {
  for (std::size_t n = 0; n < kChromeRequest.size(); ++n) {
    const auto p = parse(std::string_view(kChromeRequest).substr(0, n));
    ASSERT_EQ(p->result.status, HttpParseStatus::need_more) << n;
  }
  EXPECT_EQ(parse(kChromeRequest)->result.status, HttpParseStatus::complete);
}

TEST(HttpRequest, resuming_with_scanned_finds_a_terminator_straddling_reads) {
  // Feed in growing prefixes, passing the previous size as `scanned` each time.
  for (std::size_t step : {1u, 2u, 3u, 5u, 17u}) {
    std::size_t scanned = 0;
    HttpParseResult result;
    std::array<HttpHeader, 64> storage{};
    HttpRequest request;
    for (std::size_t n = step;; n += step) {
      n = std::min(n, kChromeRequest.size());
      result = parse_http_request(std::string_view(kChromeRequest).substr(0, n), request, storage,
                                  {}, scanned);
      if (result.status != HttpParseStatus::need_more) break;
      scanned = n;
      ASSERT_LT(n, kChromeRequest.size());
    }
    ASSERT_EQ(result.status, HttpParseStatus::complete) << step;
    EXPECT_EQ(result.head_bytes, kChromeRequest.size());
    EXPECT_EQ(request.header("Upgrade"), "websocket");
  }
}

TEST(HttpRequest, parses_http_1_0_and_targets_without_query) {
  const auto p = parse("GET /index.html HTTP/1.0\r\n\r\n");
  ASSERT_EQ(p->result.status, HttpParseStatus::complete);
  EXPECT_EQ(p->request.version_minor, 0);
  EXPECT_EQ(p->request.path, "/index.html");
  EXPECT_TRUE(p->request.query.empty());
  EXPECT_TRUE(p->request.headers.empty());

  const auto q = parse(request_with("OPTIONS * HTTP/1.1"));
  ASSERT_EQ(q->result.status, HttpParseStatus::complete);
  EXPECT_EQ(q->request.method, "OPTIONS");
  EXPECT_EQ(q->request.target, "*");

  const auto empty_query = parse(request_with("GET /p? HTTP/1.1"));
  ASSERT_EQ(empty_query->result.status, HttpParseStatus::complete);
  EXPECT_EQ(empty_query->request.path, "/p");
  EXPECT_EQ(empty_query->request.query, "");
}

TEST(HttpRequest, trims_values_and_allows_tabs_and_obs_text) {
  const auto p = parse(request_with("GET / HTTP/1.1",
                                    "A:   spaced \t \r\n"
                                    "B:\tin\tside\t\r\n"
                                    "C:\r\n"
                                    "D: caf\xC3\xA9 \xFF\r\n"
                                    "E: a:b:c\r\n"));
  ASSERT_EQ(p->result.status, HttpParseStatus::complete);
  EXPECT_EQ(p->request.header("a"), "spaced");
  EXPECT_EQ(p->request.header("b"), "in\tside");
  EXPECT_EQ(p->request.header("c"), "");
  EXPECT_EQ(p->request.header("d"), "caf\xC3\xA9 \xFF");
  EXPECT_EQ(p->request.header("e"), "a:b:c");
}

TEST(HttpRequest, header_lookup_is_case_insensitive_and_counts_duplicates) {
  const auto p = parse(request_with("GET / HTTP/1.1",
                                    "X-Dup: one\r\n"
                                    "x-dup: two\r\n"
                                    "X-DUP: three\r\n"
                                    "Other: y\r\n"));
  ASSERT_EQ(p->result.status, HttpParseStatus::complete);
  EXPECT_EQ(p->request.header("x-Dup"), "one");
  EXPECT_EQ(p->request.header_count("X-DUP"), 3u);
  EXPECT_EQ(p->request.header_count("other"), 1u);
  EXPECT_EQ(p->request.header_count("missing"), 0u);
}

TEST(HttpRequest, rejects_malformed_request_lines_with_400) {
  for (std::string_view line :
       {"GET /", "GET", "GET  / HTTP/1.1", "GET / HTTP/1.1 ", " GET / HTTP/1.1", "G@T / HTTP/1.1",
        "GET / http/1.1", "GET / HTTP/1.10", "GET / HTTP/11", "GET / HTTP/1.x", "GET / HTTP/",
        "GET /a\x01 HTTP/1.1", "GET /a\x7F HTTP/1.1", "", "GET\t/ HTTP/1.1", "GET / HTTP/1.1\r"}) {
    EXPECT_EQ(error_of(request_with(line)), HttpError::bad_request_line) << line;
  }
  EXPECT_EQ(http_status_for(HttpError::bad_request_line), 400);
}

TEST(HttpRequest, rejects_other_http_versions_with_505) {
  for (std::string_view line :
       {"GET / HTTP/2.0", "GET / HTTP/1.2", "GET / HTTP/0.9", "GET / HTTP/1.9", "GET / HTTP/3.1"}) {
    EXPECT_EQ(error_of(request_with(line)), HttpError::bad_version) << line;
  }
  EXPECT_EQ(http_status_for(HttpError::bad_version), 505);
}

TEST(HttpRequest, rejects_bad_headers_with_400) {
  for (std::string_view headers : {
           "NoColon\r\n"sv,
           "Host : a\r\n"sv,  // whitespace before the colon (RFC 9112 §5.1)
           ": empty-name\r\n"sv,
           "Bad Name: x\r\n"sv,
           "Bad@Name: x\r\n"sv,
           "Host: a\r\n folded\r\n"sv,  // obs-fold
           "Host: a\r\n\tfolded\r\n"sv,
           "X: nul\x00here\r\n"sv,
           "X: bare\rcr\r\n"sv,
           "X: bare\nlf\r\n"sv,
           "X: del\x7F\r\n"sv,
           "X: esc\x1B\r\n"sv,
       }) {
    const std::string request = request_with("GET / HTTP/1.1", headers);
    EXPECT_EQ(error_of(request), HttpError::bad_header) << headers;
  }
  EXPECT_EQ(http_status_for(HttpError::bad_header), 400);
}

TEST(HttpRequest, rejects_bare_lf_line_endings_early) {
  // Neither a CRLF CRLF terminator nor a valid first line: fails without waiting for more.
  EXPECT_EQ(error_of("GET / HTTP/1.1\nHost: a\n\n"), HttpError::bad_request_line);
  EXPECT_EQ(error_of("\n"), HttpError::bad_request_line);
}

TEST(HttpRequest, rejects_garbage_request_line_before_the_head_is_complete) {
  EXPECT_EQ(error_of("\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03\r\n"sv),
            HttpError::bad_request_line);
  EXPECT_EQ(error_of("GET / HTTP/2.0\r\nHost: a\r\n"), HttpError::bad_version);
  // A valid first line alone is just incomplete.
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n")->result.status, HttpParseStatus::need_more);
}

TEST(HttpRequest, head_size_limit_exact_and_one_past) {
  const std::string base = "GET / HTTP/1.1\r\nX: ";
  const std::size_t limit = 200;
  // Head of exactly `limit` bytes.
  std::string exact = base + std::string(limit - base.size() - 4, 'v') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), limit);
  const HttpLimits limits{.max_head_bytes = limit};
  EXPECT_EQ(parse(exact, limits)->result.status, HttpParseStatus::complete);
  // One byte more.
  std::string over = base + std::string(limit - base.size() - 3, 'v') + "\r\n\r\n";
  EXPECT_EQ(error_of(over, limits), HttpError::head_too_large);
  EXPECT_EQ(http_status_for(HttpError::head_too_large), 431);
  // Incomplete: waiting is fine up to the limit, an error one past it.
  const std::string partial = base + std::string(limit - base.size(), 'v');
  ASSERT_EQ(partial.size(), limit);
  EXPECT_EQ(parse(partial, limits)->result.status, HttpParseStatus::need_more);
  EXPECT_EQ(error_of(partial + "v", limits), HttpError::head_too_large);
}

TEST(HttpRequest, header_count_limit_exact_and_one_past) {
  auto headers = [](int n) {
    std::string out;
    for (int i = 0; i < n; ++i)
      out += "H" + std::to_string(i) + ": v\r\n";
    return out;
  };
  const HttpLimits limits{.max_headers = 5};
  EXPECT_EQ(parse(request_with("GET / HTTP/1.1", headers(5)), limits)->result.status,
            HttpParseStatus::complete);
  EXPECT_EQ(error_of(request_with("GET / HTTP/1.1", headers(6)), limits),
            HttpError::too_many_headers);
  EXPECT_EQ(http_status_for(HttpError::too_many_headers), 431);
  // The storage span bounds the count too.
  const auto small = parse(request_with("GET / HTTP/1.1", headers(4)), {}, 3);
  EXPECT_EQ(small->result.status, HttpParseStatus::error);
  EXPECT_EQ(small->result.error, HttpError::too_many_headers);
  EXPECT_EQ(parse(request_with("GET / HTTP/1.1", headers(3)), {}, 3)->result.status,
            HttpParseStatus::complete);
}

TEST(HttpRequest, iequals_is_ascii_case_insensitive) {
  EXPECT_TRUE(iequals("Upgrade", "uPGRADE"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("Upgrade", "Upgrades"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_FALSE(iequals("[", "{"));  // not a letter pair: 0x5B vs 0x7B
}

TEST(HttpRequest, has_token_handles_lists_case_and_params) {
  EXPECT_TRUE(has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(has_token("Upgrade", "upgrade"));
  EXPECT_TRUE(has_token("  websocket  ", "WebSocket"));
  EXPECT_TRUE(has_token("foo,\twebsocket;q=1 , bar", "websocket"));
  EXPECT_TRUE(has_token("websocket ;x=y", "websocket"));
  EXPECT_TRUE(has_token(",,upgrade,,", "upgrade"));
  EXPECT_FALSE(has_token("keep-alive", "upgrade"));
  EXPECT_FALSE(has_token("upgraded, x-upgrade", "upgrade"));
  EXPECT_FALSE(has_token("", "upgrade"));
  EXPECT_FALSE(has_token("up grade", "upgrade"));
}

TEST(HttpRequest, for_each_list_element_trims_and_skips_empty) {
  std::vector<std::string_view> seen;
  for_each_list_element(" a ,b,, \t,c d ,", [&](std::string_view e) { seen.push_back(e); });
  EXPECT_EQ(seen, (std::vector<std::string_view>{"a", "b", "c d"}));
}

TEST(HttpRequest, error_names) {
  EXPECT_STREQ(to_string(HttpError::none), "none");
  EXPECT_STREQ(to_string(HttpError::bad_request_line), "bad_request_line");
  EXPECT_STREQ(to_string(HttpError::bad_version), "bad_version");
  EXPECT_STREQ(to_string(HttpError::bad_header), "bad_header");
  EXPECT_STREQ(to_string(HttpError::head_too_large), "head_too_large");
  EXPECT_STREQ(to_string(HttpError::too_many_headers), "too_many_headers");
}

}  // namespace
}  // namespace hibiki::protocol

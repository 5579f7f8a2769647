// Fuzzes parse_http_request: the request head whole and resumed in two pieces at a split the
// first input byte picks must get the same verdict, and a complete head must obey the grammar.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "protocol/http_request.hpp"

namespace {

using hibiki::fuzz::check;
using hibiki::protocol::HttpError;
using hibiki::protocol::HttpHeader;
using hibiki::protocol::HttpLimits;
using hibiki::protocol::HttpParseResult;
using hibiki::protocol::HttpParseStatus;
using hibiki::protocol::HttpRequest;

// The server's defaults, and limits small enough for the fuzzer to cross with short inputs.
constexpr std::array<HttpLimits, 2> kLimits = {HttpLimits{},
                                               HttpLimits{.max_head_bytes = 200, .max_headers = 3}};
constexpr std::size_t kMaxHeaders = 64;

bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// True when `view` lies inside `buffer` (the parser returns views, never copies).
bool inside(std::string_view view, std::string_view buffer) {
  return view.empty() || (view.data() >= buffer.data() &&
                          view.data() + view.size() <= buffer.data() + buffer.size());
}

struct Verdict {
  HttpParseResult result;
  HttpRequest request;
};

bool same_request(const HttpRequest& a, const HttpRequest& b) {
  if (a.method != b.method || a.target != b.target || a.path != b.path || a.query != b.query ||
      a.version_minor != b.version_minor || a.headers.size() != b.headers.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
      return false;
    }
  }
  return true;
}

bool same_verdict(const Verdict& a, const Verdict& b) {
  if (a.result.status != b.result.status || a.result.error != b.result.error) return false;
  if (a.result.status != HttpParseStatus::complete) return true;
  return a.result.head_bytes == b.result.head_bytes && same_request(a.request, b.request);
}

// RFC 9112 §2-§5 as the parser documents it, checked on a complete head.
void check_complete(const Verdict& v, std::string_view buffer, const HttpLimits& limits) {
  const std::size_t head_bytes = v.result.head_bytes;
  check(v.result.error == HttpError::none, "complete with an error");
  check(head_bytes >= 4 && head_bytes <= buffer.size(), "head_bytes outside the buffer");
  check(head_bytes <= limits.max_head_bytes, "head larger than max_head_bytes");
  const std::string_view head = buffer.substr(0, head_bytes);
  check(head.find("\r\n\r\n") == head_bytes - 4, "head does not end at the first blank line");

  const HttpRequest& r = v.request;
  check(is_token(r.method), "method is not a token");
  check(!r.target.empty(), "empty target");
  for (char c : r.target) {
    const auto u = static_cast<unsigned char>(c);
    check(u > 0x20 && u != 0x7F, "target holds a space or control character");
  }
  const std::size_t question = r.target.find('?');
  check(r.path == r.target.substr(0, question), "path is not the target up to '?'");
  check(question == std::string_view::npos ? r.query.empty()
                                           : r.query == r.target.substr(question + 1),
        "query is not the target after '?'");
  check(r.version_minor == 0 || r.version_minor == 1, "version is not HTTP/1.0 or HTTP/1.1");
  check(head.starts_with(r.method) && head[r.method.size()] == ' ', "method is not first");
  check(r.headers.size() <= limits.max_headers, "more headers than max_headers");
  for (std::string_view view : {r.method, r.target, r.path, r.query}) {
    check(inside(view, head), "request-line view outside the head");
  }

  for (const HttpHeader& h : r.headers) {
    check(inside(h.name, head) && inside(h.value, head), "header view outside the head");
    check(is_token(h.name), "header name is not a token");
    for (char c : h.value) {
      const auto u = static_cast<unsigned char>(c);
      check(u >= 0x20 ? u != 0x7F : c == '\t', "control character in a header value");
    }
    check(h.value.empty() || (!is_ows(h.value.front()) && !is_ows(h.value.back())),
          "header value not trimmed");
    // header() returns the first match and header_count() counts them all.
    const auto first = r.header(h.name);
    check(first.has_value() && r.header_count(h.name) >= 1, "header lookup misses a header");
    for (const HttpHeader& other : r.headers) {
      if (hibiki::protocol::iequals(other.name, h.name)) {
        check(first->data() == other.value.data(), "header() is not the first match");
        break;
      }
    }
    // The list helpers must hand out trimmed, non-empty, comma-free elements.
    hibiki::protocol::for_each_list_element(h.value, [&h](std::string_view element) {
      check(!element.empty() && element.find(',') == std::string_view::npos &&
                !is_ows(element.front()) && !is_ows(element.back()),
            "list element not trimmed or holds a comma");
      check(element.find(';') != std::string_view::npos ||
                hibiki::protocol::has_token(h.value, element),
            "has_token misses an element of its own list");
    });
  }
}

Verdict parse(std::string_view buffer, const HttpLimits& limits, std::span<HttpHeader> storage,
              std::size_t scanned) {
  Verdict v;
  v.result = hibiki::protocol::parse_http_request(buffer, v.request, storage, limits, scanned);
  check(v.result.status != HttpParseStatus::error || v.result.error != HttpError::none,
        "error without an error code");
  if (v.result.status == HttpParseStatus::error) {
    const int status = hibiki::protocol::http_status_for(v.result.error);
    check(status == 400 || status == 431 || status == 505, "parse error maps to a bad status");
    check(std::string_view(hibiki::protocol::to_string(v.result.error)) != "unknown",
          "parse error without a name");
  }
  return v;
}

}  // namespace

// Layout: [split selector][request bytes]. The split is at selector/255 of the request.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> request(data + 1, size - 1);
  const std::size_t split = request.size() * data[0] / 255;
  // Exact-size heap copies: a read past the end of either piece is an ASan report.
  const std::vector<char> whole = hibiki::fuzz::exact_copy<char>(request);
  const std::vector<char> prefix = hibiki::fuzz::exact_copy<char>(request.first(split));
  const std::string_view whole_view(whole.data(), whole.size());
  const std::string_view prefix_view(prefix.data(), prefix.size());

  for (const HttpLimits& limits : kLimits) {
    std::array<HttpHeader, kMaxHeaders> storage_a{};
    std::array<HttpHeader, kMaxHeaders> storage_b{};
    const auto headers_a = std::span(storage_a).first(limits.max_headers);
    const auto headers_b = std::span(storage_b).first(limits.max_headers);

    const Verdict at_once = parse(whole_view, limits, headers_a, 0);
    if (at_once.result.status == HttpParseStatus::complete) {
      check_complete(at_once, whole_view, limits);
    }

    // As the server resumes: everything received so far, and how much was already scanned.
    Verdict in_two = parse(prefix_view, limits, headers_b, 0);
    if (in_two.result.status == HttpParseStatus::need_more) {
      in_two = parse(whole_view, limits, headers_b, split);
    } else if (in_two.result.status == HttpParseStatus::complete) {
      check_complete(in_two, prefix_view, limits);
    }
    check(same_verdict(at_once, in_two), "whole and two-piece parses disagree");
  }
  return 0;
}

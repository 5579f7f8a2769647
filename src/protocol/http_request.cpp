// Bounded, allocation-free HTTP/1.1 request-head parser (RFC 9112 §2-§5) and header helpers.
#include "protocol/http_request.hpp"

#include <algorithm>
#include <array>

namespace hibiki::protocol {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kHeadEnd = "\r\n\r\n";

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c)
    t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c)
    t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c)
    t[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~"))
    t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return kTchar[static_cast<unsigned char>(c)]; });
}

constexpr bool is_ctl(unsigned char c) {
  return c < 0x20 || c == 0x7F;
}
constexpr bool is_ows(char c) {
  return c == ' ' || c == '\t';
}
constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back()))
    s.remove_suffix(1);
  return s;
}

// RFC 9112 §3: request-line = method SP request-target SP HTTP-version, single spaces.
HttpError parse_request_line(std::string_view line, HttpRequest& out) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return HttpError::bad_request_line;
  const std::string_view method = line.substr(0, sp1);
  if (!is_token(method)) return HttpError::bad_request_line;

  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return HttpError::bad_request_line;
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target.empty()) return HttpError::bad_request_line;
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u == ' ' || is_ctl(u)) return HttpError::bad_request_line;
  }

  // RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
  const std::string_view version = line.substr(sp2 + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    return HttpError::bad_request_line;
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return HttpError::bad_version;
  }

  out.method = method;
  out.target = target;
  const std::size_t question = target.find('?');
  out.path = target.substr(0, question);
  out.query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  out.version_minor = version[7] - '0';
  return HttpError::none;
}

// RFC 9112 §5: field-line = field-name ":" OWS field-value OWS.
HttpError parse_header_line(std::string_view line, HttpHeader& out) {
  // §5.2: obs-fold (a line starting with whitespace) is rejected rather than unfolded.
  if (!line.empty() && is_ows(line.front())) return HttpError::bad_header;
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return HttpError::bad_header;
  // §5.1: no whitespace is allowed between the name and the colon; it must be a 400.
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return HttpError::bad_header;
  const std::string_view value = trim_ows(line.substr(colon + 1));
  // RFC 9110 §5.5: field values are VCHAR, SP, HTAB and obs-text; CR, LF and NUL in
  // particular must not be passed on.
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (is_ctl(u) && c != '\t') return HttpError::bad_header;
  }
  out.name = name;
  out.value = value;
  return HttpError::none;
}

HttpParseResult error_result(HttpError error) {
  return HttpParseResult{HttpParseStatus::error, error, 0};
}

}  // namespace

int http_status_for(HttpError error) {
  switch (error) {
    case HttpError::bad_version:
      return 505;
    case HttpError::head_too_large:
    case HttpError::too_many_headers:
      return 431;  // RFC 6585 §5
    default:
      return 400;
  }
}

const char* to_string(HttpError error) {
  switch (error) {
    case HttpError::none:
      return "none";
    case HttpError::bad_request_line:
      return "bad_request_line";
    case HttpError::bad_version:
      return "bad_version";
    case HttpError::bad_header:
      return "bad_header";
    case HttpError::head_too_large:
      return "head_too_large";
    case HttpError::too_many_headers:
      return "too_many_headers";
  }
  return "unknown";
}

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::size_t HttpRequest::header_count(std::string_view name) const {
  std::size_t count = 0;
  for (const HttpHeader& h : headers) {
    if (iequals(h.name, name)) ++count;
  }
  return count;
}

HttpParseResult parse_http_request(std::string_view buffer, HttpRequest& out,
                                   std::span<HttpHeader> header_storage, const HttpLimits& limits,
                                   std::size_t scanned) {
  // The terminator may straddle the end of what was scanned before: back up 3 bytes.
  const std::size_t from = scanned >= 3 ? std::min(scanned - 3, buffer.size()) : 0;
  const std::size_t end = buffer.find(kHeadEnd, from);
  // Reject a malformed request line without waiting for the rest of the head. Errors come in
  // the order bytes arriving one at a time would reveal them, so every split of the stream
  // gets the same answer: the request line once its LF is in, unless the size limit was
  // crossed before that LF; then the size limit; then the headers.
  const std::size_t first_lf = buffer.find('\n');
  if (first_lf != std::string_view::npos && first_lf <= limits.max_head_bytes) {
    if (first_lf == 0 || buffer[first_lf - 1] != '\r') {
      return error_result(HttpError::bad_request_line);
    }
    HttpRequest scratch;
    const HttpError error = parse_request_line(buffer.substr(0, first_lf - 1), scratch);
    if (error != HttpError::none) return error_result(error);
  }
  if (end == std::string_view::npos) {
    if (buffer.size() > limits.max_head_bytes) return error_result(HttpError::head_too_large);
    return HttpParseResult{};
  }
  const std::size_t head_bytes = end + kHeadEnd.size();
  if (head_bytes > limits.max_head_bytes) return error_result(HttpError::head_too_large);

  // Every line, the request line included, ends in CRLF; the first empty line is at `end + 2`.
  std::size_t line_end = buffer.find(kCrlf);
  const HttpError line_error = parse_request_line(buffer.substr(0, line_end), out);
  if (line_error != HttpError::none) return error_result(line_error);

  const std::size_t max_headers = std::min(limits.max_headers, header_storage.size());
  std::size_t count = 0;
  std::size_t pos = line_end + kCrlf.size();
  while (pos < head_bytes - kCrlf.size()) {
    line_end = buffer.find(kCrlf, pos);
    if (count == max_headers) return error_result(HttpError::too_many_headers);
    const HttpError error =
        parse_header_line(buffer.substr(pos, line_end - pos), header_storage[count]);
    if (error != HttpError::none) return error_result(error);
    ++count;
    pos = line_end + kCrlf.size();
  }
  out.headers = header_storage.first(count);
  return HttpParseResult{HttpParseStatus::complete, HttpError::none, head_bytes};
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

bool has_token(std::string_view value, std::string_view token) {
  bool found = false;
  for_each_list_element(value, [&](std::string_view element) {
    if (found) return;
    // RFC 9110 §5.6.6: parameters follow the element after ';'.
    const std::size_t semicolon = element.find(';');
    if (semicolon != std::string_view::npos) element = trim_ows(element.substr(0, semicolon));
    if (iequals(element, token)) found = true;
  });
  return found;
}

}  // namespace hibiki::protocol

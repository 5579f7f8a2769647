// RFC 7692 permessage-deflate negotiation: Sec-WebSocket-Extensions offer parsing and the
// server's answer (§5, §7.1; syntax from RFC 6455 §9.1 and RFC 9110 §5.6).
#include "protocol/permessage_deflate.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace hibiki::protocol {
namespace {

constexpr std::string_view kExtensionName = "permessage-deflate";
constexpr std::string_view kServerNoContextTakeover = "server_no_context_takeover";
constexpr std::string_view kClientNoContextTakeover = "client_no_context_takeover";
constexpr std::string_view kServerMaxWindowBits = "server_max_window_bits";
constexpr std::string_view kClientMaxWindowBits = "client_max_window_bits";

// RFC 9110 §5.6.2 tchar.
constexpr bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

constexpr bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// RFC 9110 §5.6.4: qdtext, and what may follow a backslash in a quoted-pair.
constexpr bool is_qdtext(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) ||
         (c >= 0x5D && c <= 0x7E) || c >= 0x80;
}
constexpr bool is_quoted_pair_char(unsigned char c) {
  return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7E) || c >= 0x80;
}

// A parameter value after unquoting. Window bits have at most two digits, so only the first
// three characters are kept; `size` still counts them all.
struct ParamValue {
  bool present = false;
  std::array<char, 3> chars{};
  std::size_t size = 0;

  void push(char c) {
    if (size < chars.size()) chars[size] = c;
    ++size;
  }
};

// §7.1.2.1/§7.1.2.2: "a decimal integer value without leading zeroes between 8 to 15,
// inclusive". RFC 6455 §9.1: a quoted value must be a token once unquoted, which this implies.
// Returns 0 when the value is not one.
std::uint8_t window_bits_value(const ParamValue& value) {
  if (value.size == 1 && (value.chars[0] == '8' || value.chars[0] == '9')) {
    return static_cast<std::uint8_t>(value.chars[0] - '0');
  }
  if (value.size == 2 && value.chars[0] == '1' && value.chars[1] >= '0' && value.chars[1] <= '5') {
    return static_cast<std::uint8_t>(10 + (value.chars[1] - '0'));
  }
  return 0;
}

enum OfferParam : std::uint8_t {
  kSeenServerNoContextTakeover = 1,
  kSeenClientNoContextTakeover = 2,
  kSeenServerMaxWindowBits = 4,
  kSeenClientMaxWindowBits = 8,
};

struct Offer {
  bool is_deflate = false;  // the extension named is permessage-deflate
  bool acceptable = true;   // well-formed, only known parameters, each once, valid values
  std::uint8_t seen = 0;    // OfferParam bits
  std::uint8_t server_max_window_bits = 0;  // when seen
  std::uint8_t client_max_window_bits = 0;  // 0 when seen without a value
};

// Walks a Sec-WebSocket-Extensions value one offer at a time. A syntax error makes the offer
// unacceptable and resumes after the next comma outside a quoted-string.
class OfferReader {
 public:
  explicit OfferReader(std::string_view text) : text_(text) {}

  // Skips whitespace and empty list elements (RFC 9110 §5.6.1); true at the end.
  bool at_end() {
    while (pos_ < text_.size() && (is_ows(text_[pos_]) || text_[pos_] == ','))
      ++pos_;
    return pos_ == text_.size();
  }

  Offer next() {
    Offer offer;
    const std::string_view name = token();
    if (name.empty()) return give_up(offer, false);
    offer.is_deflate = iequals(name, kExtensionName);
    for (;;) {
      skip_ows();
      if (pos_ == text_.size()) return offer;
      if (text_[pos_] == ',') {
        ++pos_;
        return offer;
      }
      if (text_[pos_] != ';') return give_up(offer, false);
      ++pos_;
      skip_ows();
      const std::string_view param = token();
      if (param.empty()) return give_up(offer, false);
      skip_ows();
      ParamValue value;
      if (pos_ < text_.size() && text_[pos_] == '=') {
        ++pos_;
        skip_ows();
        bool in_quotes = false;
        if (!read_value(value, in_quotes)) return give_up(offer, in_quotes);
      }
      if (offer.is_deflate && offer.acceptable) apply(offer, param, value);
    }
  }

 private:
  void skip_ows() {
    while (pos_ < text_.size() && is_ows(text_[pos_]))
      ++pos_;
  }

  std::string_view token() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && is_tchar(text_[pos_]))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // token / quoted-string. On a syntax error inside quotes, in_quotes tells the recovery.
  bool read_value(ParamValue& value, bool& in_quotes) {
    value.present = true;
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      in_quotes = true;
      while (pos_ < text_.size()) {
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c == '"') {
          ++pos_;
          in_quotes = false;
          return true;
        }
        if (c == '\\') {
          if (pos_ + 1 == text_.size() ||
              !is_quoted_pair_char(static_cast<unsigned char>(text_[pos_ + 1]))) {
            return false;
          }
          value.push(text_[pos_ + 1]);
          pos_ += 2;
          continue;
        }
        if (!is_qdtext(c)) return false;
        value.push(static_cast<char>(c));
        ++pos_;
      }
      return false;  // unterminated
    }
    const std::string_view t = token();
    for (char c : t)
      value.push(c);
    return !t.empty();
  }

  Offer give_up(Offer& offer, bool in_quotes) {
    offer.acceptable = false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (in_quotes) {
        if (c == '\\' && pos_ < text_.size()) {
          ++pos_;
        } else if (c == '"') {
          in_quotes = false;
        }
      } else if (c == '"') {
        in_quotes = true;
      } else if (c == ',') {
        break;
      }
    }
    return offer;
  }

  // §7: an unknown parameter, a repeated one or an invalid value makes the offer unacceptable.
  static void apply(Offer& offer, std::string_view name, const ParamValue& value) {
    std::uint8_t bit = 0;
    bool valid = false;
    if (iequals(name, kServerNoContextTakeover)) {
      bit = kSeenServerNoContextTakeover;
      valid = !value.present;  // §7.1.1.1: no value
    } else if (iequals(name, kClientNoContextTakeover)) {
      bit = kSeenClientNoContextTakeover;
      valid = !value.present;  // §7.1.1.2
    } else if (iequals(name, kServerMaxWindowBits)) {
      bit = kSeenServerMaxWindowBits;
      offer.server_max_window_bits = window_bits_value(value);  // §7.1.2.1: a value is required
      valid = offer.server_max_window_bits != 0;
    } else if (iequals(name, kClientMaxWindowBits)) {
      bit = kSeenClientMaxWindowBits;
      // §7.1.2.2: without a value the client only says it supports the parameter.
      offer.client_max_window_bits = value.present ? window_bits_value(value) : 0;
      valid = !value.present || offer.client_max_window_bits != 0;
    }
    if (!valid || (offer.seen & bit) != 0) {
      offer.acceptable = false;
      return;
    }
    offer.seen |= bit;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

DeflateNegotiation accept(const Offer& offer, const DeflatePolicy& policy) {
  const std::uint8_t server_limit = clamp_window_bits(policy.max_server_window_bits);
  const std::uint8_t client_limit = clamp_window_bits(policy.max_client_window_bits);
  DeflateNegotiation result;
  result.accepted = true;
  DeflateParams& params = result.params;

  // §7.1.1.1: an offered server_no_context_takeover must be answered; the server may also
  // answer it unasked.
  params.server_no_context_takeover =
      (offer.seen & kSeenServerNoContextTakeover) != 0 || !policy.server_context_takeover;
  // §7.1.1.2: the client resets its window if it offered this or the server answers it. Echoing
  // an offered one lets the inflater reset too.
  params.client_no_context_takeover =
      (offer.seen & kSeenClientNoContextTakeover) != 0 || policy.request_client_no_context_takeover;
  // §7.1.2.1: an offered server_max_window_bits=N is accepted only by answering a value <= N;
  // the server may also answer a limit unasked.
  const bool offered_server_window = (offer.seen & kSeenServerMaxWindowBits) != 0;
  params.server_max_window_bits =
      offered_server_window ? std::min(offer.server_max_window_bits, server_limit) : server_limit;
  const bool answer_server_window = offered_server_window || server_limit < kMaxWindowBits;
  // §7.1.2.2: client_max_window_bits may be answered only if offered, with a value <= the
  // offered one if it had one. A client that did not offer it may use a 15-bit window.
  bool answer_client_window = false;
  if ((offer.seen & kSeenClientMaxWindowBits) != 0) {
    const std::uint8_t offered =
        offer.client_max_window_bits != 0 ? offer.client_max_window_bits : kMaxWindowBits;
    params.client_max_window_bits = std::min(offered, client_limit);
    answer_client_window = params.client_max_window_bits < kMaxWindowBits;
  }

  std::string& out = result.response;
  out.reserve(128);
  out.append(kExtensionName);
  if (params.server_no_context_takeover) {
    out.append("; ");
    out.append(kServerNoContextTakeover);
  }
  if (params.client_no_context_takeover) {
    out.append("; ");
    out.append(kClientNoContextTakeover);
  }
  if (answer_server_window) {
    out.append("; ");
    out.append(kServerMaxWindowBits);
    out.push_back('=');
    out.append(std::to_string(params.server_max_window_bits));
  }
  if (answer_client_window) {
    out.append("; ");
    out.append(kClientMaxWindowBits);
    out.push_back('=');
    out.append(std::to_string(params.client_max_window_bits));
  }
  return result;
}

// Finds the first acceptable permessage-deflate offer in one header value.
bool find_offer(std::string_view extensions, Offer& found) {
  OfferReader reader(extensions);
  while (!reader.at_end()) {
    const Offer offer = reader.next();
    if (offer.is_deflate && offer.acceptable) {
      found = offer;
      return true;
    }
  }
  return false;
}

}  // namespace

DeflateNegotiation negotiate_permessage_deflate(std::string_view extensions,
                                                const DeflatePolicy& policy) {
  Offer offer;
  if (!policy.enabled || !find_offer(extensions, offer)) return {};
  return accept(offer, policy);
}

DeflateNegotiation negotiate_permessage_deflate(const HttpRequest& request,
                                                const DeflatePolicy& policy) {
  if (!policy.enabled) return {};
  for (const HttpHeader& header : request.headers) {
    Offer offer;
    if (iequals(header.name, "Sec-WebSocket-Extensions") && find_offer(header.value, offer)) {
      return accept(offer, policy);
    }
  }
  return {};
}

}  // namespace hibiki::protocol

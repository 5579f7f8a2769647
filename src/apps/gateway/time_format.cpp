// UTC formatting with <chrono>'s civil calendar (see time_format.hpp).
#include "apps/gateway/time_format.hpp"

#include <array>
#include <chrono>
#include <cstdio>

namespace hibiki::apps::gateway {
namespace {

using std::chrono::days;
using std::chrono::milliseconds;

struct Civil {
  int year = 0;
  unsigned month = 0;  // 1-12
  unsigned day = 0;
  long long hour = 0, minute = 0, second = 0, millis = 0;
};

Civil to_civil(std::int64_t epoch_ms) {
  const std::chrono::sys_time<milliseconds> time{milliseconds(epoch_ms)};
  const auto day_start = std::chrono::floor<days>(time);
  const std::chrono::year_month_day date{day_start};
  const std::chrono::hh_mm_ss clock{time - day_start};
  return Civil{static_cast<int>(date.year()),     static_cast<unsigned>(date.month()),
               static_cast<unsigned>(date.day()), clock.hours().count(),
               clock.minutes().count(),           clock.seconds().count(),
               clock.subseconds().count()};
}

bool all_digits(std::string_view text) {
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
  }
  return true;
}

int number(std::string_view digits) {
  int value = 0;
  for (char ch : digits)
    value = value * 10 + (ch - '0');
  return value;
}

}  // namespace

std::string format_request_time(std::int64_t epoch_ms) {
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const Civil c = to_civil(epoch_ms);
  std::array<char, 40> text{};
  std::snprintf(text.data(), text.size(), "%02u/%s/%04d:%02lld:%02lld:%02lld +0000", c.day,
                kMonths[c.month - 1], c.year, c.hour, c.minute, c.second);
  return text.data();
}

std::string format_iso8601_ms(std::int64_t epoch_ms) {
  const Civil c = to_civil(epoch_ms);
  std::array<char, 40> text{};
  std::snprintf(text.data(), text.size(), "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", c.year,
                c.month, c.day, c.hour, c.minute, c.second, c.millis);
  return text.data();
}

std::optional<std::int64_t> parse_amz_date(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z' || !all_digits(text.substr(0, 8)) ||
      !all_digits(text.substr(9, 6))) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(number(text.substr(0, 4))),
                                         std::chrono::month(number(text.substr(4, 2))),
                                         std::chrono::day(number(text.substr(6, 2)))};
  const int hour = number(text.substr(9, 2));
  const int minute = number(text.substr(11, 2));
  const int second = number(text.substr(13, 2));
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  const auto since_epoch = std::chrono::sys_days(date).time_since_epoch();
  return std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count() + hour * 3600 +
         minute * 60 + second;
}

}  // namespace hibiki::apps::gateway

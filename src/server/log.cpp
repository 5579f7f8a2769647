// Leveled logging to stderr, one write(2) per line so lines from a crash or a signal never mix.
#include "hibiki/log.hpp"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <string>

namespace hibiki {
namespace {

std::atomic<LogLevel> current_level{LogLevel::info};

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "DEBUG";
    case LogLevel::info:
      return "INFO ";
    case LogLevel::warn:
      return "WARN ";
    case LogLevel::error:
      return "ERROR";
    case LogLevel::off:
      break;
  }
  return "";
}

}  // namespace

void set_log_level(LogLevel level) {
  current_level.store(level, std::memory_order_relaxed);
}

LogLevel log_level() {
  return current_level.load(std::memory_order_relaxed);
}

namespace {

void write_line(LogLevel level, std::string_view message) {
  timeval now{};
  ::gettimeofday(&now, nullptr);
  tm utc{};
  ::gmtime_r(&now.tv_sec, &utc);
  std::array<char, 40> stamp{};
  const int stamp_size =
      std::snprintf(stamp.data(), stamp.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ",
                    utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                    utc.tm_sec, static_cast<int>(now.tv_usec / 1000));
  std::string line;
  line.reserve(static_cast<std::size_t>(stamp_size) + 7 + message.size());
  line.append(stamp.data(), static_cast<std::size_t>(stamp_size));
  line.append(level_name(level));
  line.push_back(' ');
  line.append(message);
  line.push_back('\n');
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace

void log(LogLevel level, std::string_view message) {
  if (level < log_level() || level == LogLevel::off) return;
  write_line(level, message);
}

void log_notice(std::string_view message) {
  if (log_level() == LogLevel::off) return;
  write_line(LogLevel::info, message);
}

}  // namespace hibiki

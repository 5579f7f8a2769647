// Line-oriented logging to stderr with a level, used by the server and applications.
#pragma once

#include <string_view>

#include "hibiki/options.hpp"

namespace hibiki {

void set_log_level(LogLevel level);
[[nodiscard]] LogLevel log_level();
// Writes "2026-11-25T12:00:00.123Z LEVEL message\n" to stderr in one write(2).
void log(LogLevel level, std::string_view message);
// A line operators and scripts rely on (where the server listens, that it stopped): written at
// every level but off, tagged INFO.
void log_notice(std::string_view message);

}  // namespace hibiki

// Command-line options shared by every `hibiki` job, mapped onto hibiki::ServerOptions.
#pragma once

#include <CLI/CLI.hpp>

#include "hibiki/options.hpp"

namespace hibiki::cli {

// Registers --host, --port, limits, timeouts, origins and logging on `command`, writing into
// `options` (whose current values are shown as defaults in --help).
void add_server_options(CLI::App& command, ServerOptions& options);
// Registers --log-level alone (jobs whose other options come from a config file).
void add_log_level_option(CLI::App& command, LogLevel& level);

}  // namespace hibiki::cli

// Command-line options shared by every `hibiki` job, mapped onto hibiki::ServerOptions.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string_view>

#include "hibiki/options.hpp"

namespace hibiki::cli {

// Registers --host, --port, limits, timeouts, origins and logging on `command`, writing into
// `options` (whose current values are shown as defaults in --help).
void add_server_options(CLI::App& command, ServerOptions& options);
// Registers --io: auto, epoll or io_uring (ServerOptions::io).
void add_io_option(CLI::App& command, IoBackend& io);
// "auto", "epoll", "io_uring" to the backend; nullopt for anything else.
std::optional<IoBackend> io_backend_named(std::string_view name);
// Registers --log-level alone (jobs whose other options come from a config file).
void add_log_level_option(CLI::App& command, LogLevel& level);
// Registers --log-format: text or json (hibiki/log.hpp).
void add_log_format_option(CLI::App& command, LogFormat& format);
// Registers --config FILE and --print-config (cli/config.hpp applies them after parsing).
void add_config_options(CLI::App& command, std::string& config_path, bool& print_config);

// --redis: a URL parse_redis_url accepts; the error says what is wrong with it.
CLI::Validator redis_url_validator();
// --node-id and --redis-prefix: 1-64 characters of letters, digits, '.', '_', ':' and '-'
// (they become parts of Redis key names).
CLI::Validator node_id_validator();

}  // namespace hibiki::cli

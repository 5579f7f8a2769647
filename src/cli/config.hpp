// Settings of `hibiki chat` and `hibiki echo` from four layers: flag > environment
// (HIBIKI_<OPTION>) > TOML file (--config) > default. The options registered on the CLI11
// command are the only list of settings: a file key or an environment variable is an option's
// long name, and its value goes through that option's own conversion and validators.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hibiki::cli {

// Looks an environment variable up: its value, or nullopt when it is not set.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment (getenv).
Environment process_environment();

// "max-message" -> "HIBIKI_MAX_MESSAGE".
std::string environment_name(std::string_view key);

// Where each setting's value came from, by key: "flag", "env HIBIKI_PORT", "FILE:LINE".
// Keys missing from it have their default.
using ConfigSources = std::map<std::string, std::string>;

// The options a file or the environment may set: every option of `command` with a long name,
// but --help, --config and --print-config.
std::vector<CLI::Option*> configurable_options(CLI::App& command);

// Call after CLI11 parsed the command line into `command`. Applies the TOML text of
// `file_name` (when given) and then the environment to every configurable option, each value
// converted and validated by its option, and the command line's values again on top. Returns
// an empty string and fills `sources`, or one line naming the place, the key and what is
// wrong: "FILE:LINE: KEY: ...", "environment HIBIKI_X: KEY: ...".
std::string apply_config(CLI::App& command, const std::optional<std::string>& file_name,
                         std::string_view file_text, const Environment& environment,
                         ConfigSources& sources);

// The settings in effect as a TOML file, one `key = value  # source` line each ("default" for
// those nobody set; options without a value are listed as comments).
std::string describe_config(CLI::App& command, const ConfigSources& sources);

// Reads `path` into `text`; false with `error` ("PATH: cannot be read (...)") when it cannot.
bool read_config_file(const std::string& path, std::string& text, std::string& error);

}  // namespace hibiki::cli

// Server options on the command line.
#include "cli/options.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "hibiki/cluster.hpp"

namespace hibiki::cli {
namespace {

// "10", "0.5": the shortest text that reads back as the same number of seconds.
std::string seconds_text(std::uint32_t ms) {
  std::array<char, 32> text{};
  const auto written = std::to_chars(text.data(), text.data() + text.size(), ms / 1000.0);
  return std::string(text.data(), written.ptr);
}

// Seconds on the command line, milliseconds inside.
void add_seconds_option(CLI::App& command, const std::string& name, std::uint32_t& target_ms,
                        const std::string& help) {
  command
      .add_option_function<double>(
          name,
          [&target_ms](double seconds) { target_ms = static_cast<std::uint32_t>(seconds * 1000); },
          help)
      ->default_str(seconds_text(target_ms))
      ->check(CLI::Range(0.0, 86400.0));
}

// One of a few named values ("off", "shared", ...) mapped onto an enum; --help lists the names.
template <typename Enum>
void add_choice_option(CLI::App& command, const std::string& name, Enum& target,
                       std::vector<std::pair<std::string, Enum>> choices, const std::string& help) {
  std::vector<std::string> names;
  std::string current;
  for (const auto& [text, value] : choices) {
    names.push_back(text);
    if (value == target) current = text;
  }
  command
      .add_option_function<std::string>(
          name,
          [&target, choices](const std::string& text) {
            for (const auto& [choice, value] : choices) {
              if (choice == text) target = value;
            }
          },
          help)
      ->check(CLI::IsMember(names))
      ->default_str(current);
}

const std::vector<std::pair<std::string, IoBackend>> kIoBackends = {
    {"auto", IoBackend::automatic}, {"epoll", IoBackend::epoll}, {"io_uring", IoBackend::io_uring}};

}  // namespace

void add_io_option(CLI::App& command, IoBackend& io) {
  add_choice_option(command, "--io", io, kIoBackends,
                    "I/O backend: io_uring (a loop turn's sends and receives in one system "
                    "call), epoll, or auto (io_uring where the kernel allows it, else epoll)");
}

std::optional<IoBackend> io_backend_named(std::string_view name) {
  for (const auto& [text, value] : kIoBackends) {
    if (text == name) return value;
  }
  return std::nullopt;
}

void add_server_options(CLI::App& command, ServerOptions& options) {
  command
      .add_option("--threads", options.threads,
                  "event loops, one per thread, sharing the port (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 256u));
  command.add_option("--host", options.host, "address to listen on")->capture_default_str();
  add_io_option(command, options.io);
  command.add_option("--port", options.port, "TCP port (0: any free port)")->capture_default_str();
  command
      .add_option("--max-message", options.max_message_bytes,
                  "largest message in bytes, over all its fragments (past it: close 1009)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 31));
  command
      .add_option("--max-buffered", options.max_buffered_bytes,
                  "unsent bytes per connection before the backpressure policy applies")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 32));
  add_choice_option(command, "--backpressure", options.backpressure_policy,
                    {{"close", BackpressurePolicy::close}, {"drop", BackpressurePolicy::drop}},
                    "what happens past --max-buffered: close (1008) or drop the message");
  command
      .add_option("--max-connections", options.max_connections,
                  "connections at once (past it: HTTP 503)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
  command
      .add_option("--max-connections-per-ip", options.max_connections_per_ip,
                  "connections at once from one IP address (past it: HTTP 503; 0: no limit)")
      ->capture_default_str();
  command
      .add_option("--max-messages-per-second", options.max_messages_per_second,
                  "messages and pings per connection per second, bursts of twice that (past it: "
                  "close 1008; 0: no limit)")
      ->capture_default_str();
  command
      .add_option("--max-header-bytes", options.max_header_bytes,
                  "HTTP request head size (past it: 431)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{256}, std::size_t{1} << 20));
  add_seconds_option(command, "--handshake-timeout", options.handshake_timeout_ms,
                     "seconds to send a complete HTTP request");
  add_seconds_option(command, "--idle-timeout", options.idle_timeout_ms,
                     "seconds of silence before a ping; as long again and the connection is closed "
                     "(0: never)");
  add_seconds_option(command, "--close-timeout", options.close_timeout_ms,
                     "seconds the peer has to finish the closing handshake");
  command.add_option("--allowed-origin", options.allowed_origins,
                     "Origin allowed to connect (repeatable; none given: any origin)");
  add_choice_option(command, "--compression", options.compression,
                    {{"off", CompressionMode::off},
                     {"shared", CompressionMode::shared},
                     {"dedicated", CompressionMode::dedicated}},
                    "permessage-deflate: off, shared (no context kept, one compressor for all) "
                    "or dedicated (a context per connection)");
  command
      .add_option("--compression-threshold", options.compression_threshold_bytes,
                  "messages shorter than this many bytes are sent uncompressed")
      ->capture_default_str();
  command
      .add_option_function<int>(
          "--compression-window-bits",
          [&options](int bits) {
            options.compression_window_bits = static_cast<std::uint8_t>(bits);
          },
          "largest deflate window, 8..15 (memory against ratio)")
      ->check(CLI::Range(8, 15))
      ->default_str(std::to_string(options.compression_window_bits));
  command
      .add_option("--tls-cert", options.tls_certificate_file,
                  "PEM certificate chain: serve https:// and wss:// (needs --tls-key)")
      ->check(CLI::ExistingFile);
  command.add_option("--tls-key", options.tls_private_key_file, "PEM private key for --tls-cert")
      ->check(CLI::ExistingFile);
  add_choice_option(command, "--http2", options.http2, {{"off", false}, {"on", true}},
                    "with --tls-cert: offer HTTP/2 (ALPN h2) besides HTTP/1.1, WebSockets over "
                    "it by RFC 8441");
  add_seconds_option(command, "--tls-handshake-timeout", options.tls_handshake_timeout_ms,
                     "seconds to complete the TLS handshake");
  add_log_level_option(command, options.log_level);
  add_log_format_option(command, options.log_format);
}

void add_config_options(CLI::App& command, std::string& config_path, bool& print_config) {
  command.add_option("--config", config_path,
                     "TOML file of settings: the flags' long names as keys, e.g. port = 8080 "
                     "(docs/OPERATIONS.md); flags and HIBIKI_* variables override it");
  command.add_flag("--print-config", print_config,
                   "print the settings in effect and where each comes from, then exit");
}

void add_log_format_option(CLI::App& command, LogFormat& format) {
  add_choice_option(command, "--log-format", format,
                    {{"text", LogFormat::text}, {"json", LogFormat::json}},
                    "text (one line for people) or json (one object per line)");
}

void add_log_level_option(CLI::App& command, LogLevel& level) {
  add_choice_option(command, "--log-level", level,
                    {{"debug", LogLevel::debug},
                     {"info", LogLevel::info},
                     {"warn", LogLevel::warn},
                     {"error", LogLevel::error},
                     {"off", LogLevel::off}},
                    "debug, info, warn, error or off");
}

CLI::Validator redis_url_validator() {
  return CLI::Validator(
      [](std::string& url) {
        std::string error;
        if (parse_redis_url(url, &error)) return std::string();
        return "not a Redis URL (redis://HOST:PORT[/DB]): " + error;
      },
      "redis://HOST:PORT[/DB]");
}

CLI::Validator node_id_validator() {
  return CLI::Validator(
      [](std::string& id) {
        const bool ok =
            !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                     c == ':' || c == '-';
            });
        return ok ? std::string()
                  : std::string("1-64 characters of letters, digits, '.', '_', ':' and '-'");
      },
      "NAME");
}

}  // namespace hibiki::cli

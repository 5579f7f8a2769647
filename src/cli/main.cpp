// The `hibiki` program: parses the command line, builds the server for the chosen job, handles
// SIGINT/SIGTERM as a graceful stop, SIGUSR2 as a stop for a successor (close 1012, see
// docs/OPERATIONS.md), and reports where it listens.
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "apps/chat/chat_app.hpp"
#include "apps/echo/echo_app.hpp"
#include "apps/gateway/gateway_app.hpp"
#include "cli/config.hpp"
#include "cli/options.hpp"
#include "hibiki/hibiki.hpp"

namespace {

std::atomic<hibiki::Server*> running_server{nullptr};

extern "C" void on_reload_signal(int) {
  // Server::reload_tls() only stores a flag and writes an eventfd: async-signal-safe.
  if (hibiki::Server* server = running_server.load()) server->reload_tls();
}

extern "C" void on_stop_signal(int) {
  // Server::stop() only stores a flag and writes an eventfd: async-signal-safe.
  if (hibiki::Server* server = running_server.load()) server->stop();
}

std::atomic<bool> handover_requested{false};

extern "C" void on_handover_signal(int) {
  // A successor takes over: clients get 1012 and reconnect at once. Asked before the server
  // runs (a successor that starts while this process does), it is done once it runs.
  handover_requested.store(true);
  if (hibiki::Server* server = running_server.load()) {
    server->stop(hibiki::close_code::kServiceRestart);
  }
}

// Each connection is a descriptor: allow as many as the hard limit permits (the soft default,
// often 1024, would cap the server long before max_connections).
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  struct sigaction reload {};
  reload.sa_handler = on_reload_signal;
  sigemptyset(&reload.sa_mask);
  ::sigaction(SIGHUP, &reload, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

std::string shown_url(std::string host, std::uint16_t port, const char* scheme = "http") {
  if (host == "0.0.0.0" || host == "::") host = "localhost";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  std::string url = scheme;
  url += "://";
  url += host;
  url += ":";
  url += std::to_string(port);
  return url;
}

// Why the program cannot go on, on stderr: "hibiki JOB: what" in text, a log line in json.
void report_failure(const std::string& job, const std::string& what) {
  if (hibiki::log_format() == hibiki::LogFormat::json) {
    hibiki::log(hibiki::LogLevel::error, "hibiki " + job + ": " + what,
                {{"job", job}, {"error", what}});
  } else {
    std::fprintf(stderr, "hibiki %s: %s\n", job.c_str(), what.c_str());
  }
}

// The server, or nullptr (reported) when its options cannot be met, e.g. io = io_uring where
// the kernel or a seccomp filter does not allow it.
std::unique_ptr<hibiki::Server> make_server(const hibiki::ServerOptions& options,
                                            const std::string& job) {
  try {
    return std::make_unique<hibiki::Server>(options);
  } catch (const std::exception& error) {
    report_failure(job, error.what());
    return nullptr;
  }
}

// Binds with `bind` (which returns what to log), then runs until SIGINT or SIGTERM.
int serve(hibiki::Server& server, const std::string& job,
          const std::function<std::string()>& bind) {
  raise_descriptor_limit();
  struct sigaction handover {};
  handover.sa_handler = on_handover_signal;
  sigemptyset(&handover.sa_mask);
  ::sigaction(SIGUSR2, &handover, nullptr);
  try {
    const std::string where = bind();
    hibiki::log_notice("hibiki " + job + " listening on " + where,
                       {{"job", job}, {"listening", where}});
  } catch (const std::exception& error) {  // bind failures, unusable TLS files
    report_failure(job, error.what());
    return 1;
  }
  running_server.store(&server);
  if (handover_requested.load()) server.stop(hibiki::close_code::kServiceRestart);
  install_signal_handlers();
  const int status = server.run();
  running_server.store(nullptr);
  hibiki::log_notice("hibiki " + job + " stopped", {{"job", job}});
  return status;
}

// Applies --config and the HIBIKI_* environment under the flags of a parsed chat or echo
// command. Returns false after writing the one-line error (exit status 2).
bool configure(CLI::App& command, const std::string& config_path,
               hibiki::cli::ConfigSources& sources) {
  std::optional<std::string> file_name;
  std::string text;
  std::string error;
  if (!config_path.empty()) {
    if (!hibiki::cli::read_config_file(config_path, text, error)) {
      std::fprintf(stderr, "hibiki %s: %s\n", command.get_name().c_str(), error.c_str());
      return false;
    }
    file_name = config_path;
  }
  error = hibiki::cli::apply_config(command, file_name, text, hibiki::cli::process_environment(),
                                    sources);
  if (!error.empty()) {
    std::fprintf(stderr, "hibiki %s: %s\n", command.get_name().c_str(), error.c_str());
    return false;
  }
  return true;
}

std::string listening_on(hibiki::Server& server, const hibiki::ServerOptions& options) {
  const std::uint16_t port = server.listen();
  return shown_url(options.host, port, options.tls_certificate_file.empty() ? "http" : "https");
}

}  // namespace

int main(int argc, char** argv) {
  // glibc returns freed memory at the top of the heap to the kernel past 128 KiB by default; a
  // server that frees and reallocates message buffers all the time then pays page faults on
  // every burst. Keep up to 32 MiB for reuse instead.
  ::mallopt(M_TRIM_THRESHOLD, 32 << 20);
  CLI::App app{"hibiki: a WebSocket server (RFC 6455)", "hibiki"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hibiki " HIBIKI_VERSION);

  hibiki::ServerOptions chat_options = hibiki::apps::chat::chat_server_defaults();
  hibiki::apps::chat::ChatOptions chat_app_options;
  CLI::App* chat = app.add_subcommand("chat", "the chat room: page and WebSocket on one port");
  hibiki::cli::add_server_options(*chat, chat_options);
  std::string chat_config_path;
  bool chat_print_config = false;
  hibiki::cli::add_config_options(*chat, chat_config_path, chat_print_config);
  chat->add_option("--web-root", chat_app_options.web_root,
                   "serve the page from this directory instead of the built-in copy")
      ->check(CLI::ExistingDirectory);
  hibiki::apps::chat::ChatLimits& limits = chat_app_options.limits;
  chat->add_option("--db", chat_app_options.db_path,
                   "SQLite file for the history (its directory is created); :memory: keeps it "
                   "until exit only")
      ->capture_default_str();
  chat->add_option("--history", limits.history,
                   "messages sent on join; also the most a reconnecting client can catch up")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, std::size_t{1000}));
  chat->add_option("--max-text", limits.max_text_chars, "characters in one chat message")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  chat->add_option("--max-rooms", limits.max_rooms, "rooms one connection may be in at once")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000}));
  chat->add_option("--rate-limit", limits.rate.rate_per_s,
                   "requests per second per connection, sustained (0: unlimited)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  chat->add_option("--rate-burst", limits.rate.burst,
                   "requests a connection may send at once after a quiet spell")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  hibiki::apps::chat::ClusterSettings cluster;
  std::string redis_url;
  chat->add_option("--redis", redis_url,
                   "run as one node of a cluster: rooms, names, presence and history in this "
                   "Redis (redis://HOST:PORT[/DB]) instead of --db")
      ->check(hibiki::cli::redis_url_validator());
  chat->add_option("--node-id", cluster.node_id,
                   "this node's name in the cluster, unique among running nodes (default: "
                   "<host name>:<port>)")
      ->check(hibiki::cli::node_id_validator());
  chat->add_option("--redis-prefix", cluster.prefix,
                   "prefix of every Redis key and channel (several clusters in one Redis)")
      ->capture_default_str()
      ->check(hibiki::cli::node_id_validator());
  chat->add_option("--keep-history", cluster.keep_history,
                   "with --redis: messages kept per room in Redis (older ones are trimmed)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));

  std::string gateway_config_path;
  std::string gateway_host;
  std::optional<std::uint16_t> gateway_port;
  std::optional<std::uint16_t> gateway_management_port;
  std::string gateway_registry;
  std::optional<std::uint32_t> gateway_threads;
  std::string gateway_redis;
  std::string gateway_node_id;
  std::string gateway_redis_prefix;
  hibiki::LogLevel gateway_log_level = hibiki::LogLevel::info;
  hibiki::LogFormat gateway_log_format = hibiki::LogFormat::text;
  CLI::App* gateway = app.add_subcommand(
      "gateway", "API Gateway's WebSocket model: events to HTTP backends, @connections API");
  gateway->add_option("--config", gateway_config_path, "the gateway's TOML file (docs/GATEWAY.md)")
      ->required()
      ->check(CLI::ExistingFile);
  gateway->add_option("--host", gateway_host, "WebSocket listen address (overrides the file)");
  gateway->add_option("--port", gateway_port, "WebSocket port, 0: any free one (overrides)");
  gateway->add_option("--management-port", gateway_management_port,
                      "management API port, 0: any free one (overrides the file)");
  gateway->add_option("--registry", gateway_registry,
                      "SQLite file of connections and calls, :memory: (overrides the file)");
  gateway
      ->add_option("--threads", gateway_threads,
                   "event loops, 0: one per core (overrides the file; default 0)")
      ->check(CLI::Range(0, 1024));
  gateway
      ->add_option("--redis", gateway_redis,
                   "several gateway nodes as one through this Redis (overrides [cluster] redis)")
      ->check(hibiki::cli::redis_url_validator());
  gateway
      ->add_option("--node-id", gateway_node_id,
                   "this node's name in the cluster (overrides [cluster] node_id; default "
                   "<host name>:<port>)")
      ->check(hibiki::cli::node_id_validator());
  gateway
      ->add_option("--redis-prefix", gateway_redis_prefix,
                   "prefix of every Redis key and channel (overrides [cluster] prefix)")
      ->check(hibiki::cli::node_id_validator());
  // The gateway's settings come from its file; --io (or HIBIKI_IO) picks the I/O backend.
  hibiki::IoBackend gateway_io = hibiki::IoBackend::automatic;
  hibiki::cli::add_io_option(*gateway, gateway_io);
  hibiki::cli::add_log_level_option(*gateway, gateway_log_level);
  hibiki::cli::add_log_format_option(*gateway, gateway_log_format);

  hibiki::ServerOptions echo_options = hibiki::apps::echo_server_defaults();
  CLI::App* echo = app.add_subcommand("echo", "echo every message back (conformance, load tests)");
  hibiki::cli::add_server_options(*echo, echo_options);
  std::string echo_config_path;
  bool echo_print_config = false;
  hibiki::cli::add_config_options(*echo, echo_config_path, echo_print_config);

  CLI11_PARSE(app, argc, argv);

  if (chat->parsed()) {
    hibiki::cli::ConfigSources sources;
    if (!configure(*chat, chat_config_path, sources)) return 2;
    if (!redis_url.empty()) {
      cluster.redis_url = redis_url;
      chat_app_options.cluster = cluster;
    } else if (chat->count("--node-id") + chat->count("--keep-history") +
                   chat->count("--redis-prefix") >
               0) {
      std::fprintf(stderr,
                   "hibiki chat: --node-id, --redis-prefix and --keep-history need --redis\n");
      return 2;
    }
    if (chat_print_config) {
      std::fputs(hibiki::cli::describe_config(*chat, sources).c_str(), stdout);
      return 0;
    }
    const std::unique_ptr<hibiki::Server> made = make_server(chat_options, "chat");
    if (!made) return 2;
    hibiki::Server& server = *made;
    std::unique_ptr<hibiki::apps::chat::MountedChat> mounted;
    try {
      mounted = hibiki::apps::chat::mount_chat(server, chat_app_options);
    } catch (const std::exception& error) {
      report_failure("chat", error.what());
      return 1;
    }
    const int status = serve(server, "chat", [&] {
      std::string url = listening_on(server, chat_options);
      mounted->start(server.port());
      return url;
    });
    mounted.reset();  // before the server: it unhooks from the server's loop
    return status;
  }
  if (gateway->parsed()) {
    namespace gw = hibiki::apps::gateway;
    std::string error;
    std::optional<gw::GatewayConfig> config =
        gw::load_gateway_config_file(gateway_config_path, error);
    if (!config) {
      std::fprintf(stderr, "hibiki gateway: %s\n", error.c_str());  // names the file
      return 1;
    }
    if (!gateway_host.empty()) config->host = gateway_host;
    if (gateway_port) config->port = *gateway_port;
    if (gateway_management_port) config->management.port = *gateway_management_port;
    if (!gateway_registry.empty()) config->registry_path = gateway_registry;
    if (gateway_threads) config->threads = *gateway_threads;
    if (!gateway_redis.empty()) {
      if (!config->cluster) config->cluster.emplace();
      config->cluster->redis_url = gateway_redis;
    }
    if (!config->cluster && (!gateway_node_id.empty() || !gateway_redis_prefix.empty())) {
      std::fprintf(stderr,
                   "hibiki gateway: --node-id and --redis-prefix need --redis or [cluster]\n");
      return 2;
    }
    if (!gateway_node_id.empty()) config->cluster->node_id = gateway_node_id;
    if (!gateway_redis_prefix.empty()) config->cluster->prefix = gateway_redis_prefix;
    hibiki::ServerOptions options = gw::gateway_server_options(*config);
    options.log_level = gateway_log_level;
    options.io = gateway_io;
    if (gateway->count("--io") == 0) {
      if (const char* variable = std::getenv("HIBIKI_IO")) {
        const std::optional<hibiki::IoBackend> named = hibiki::cli::io_backend_named(variable);
        if (!named) {
          std::fprintf(stderr,
                       "hibiki gateway: environment HIBIKI_IO: %s is not one of auto, epoll, "
                       "io_uring\n",
                       variable);
          return 2;
        }
        options.io = *named;
      }
    }
    options.log_format = gateway_log_format;
    const std::unique_ptr<hibiki::Server> made = make_server(options, "gateway");
    if (!made) return 2;
    hibiki::Server& server = *made;
    std::unique_ptr<gw::Gateway> running;
    const std::string host = config->host;
    const std::string management_host = config->management.host;
    const char* scheme = config->tls.enabled() ? "https" : "http";
    const char* management_scheme = config->management.tls.enabled() ? "https" : "http";
    try {
      running = std::make_unique<gw::Gateway>(server, std::move(*config));
    } catch (const std::exception& failure) {
      report_failure("gateway", failure.what());
      return 1;
    }
    return serve(server, "gateway", [&] {
      const auto [port, management_port] = running->listen();
      // SIGHUP (reload_tls) reloads the TLS files of both ports.
      return shown_url(host, port, scheme) + " (WebSocket and page), management API on " +
             shown_url(management_host, management_port, management_scheme);
    });
  }
  hibiki::cli::ConfigSources sources;
  if (!configure(*echo, echo_config_path, sources)) return 2;
  if (echo_print_config) {
    std::fputs(hibiki::cli::describe_config(*echo, sources).c_str(), stdout);
    return 0;
  }
  const std::unique_ptr<hibiki::Server> made = make_server(echo_options, "echo");
  if (!made) return 2;
  hibiki::Server& server = *made;
  hibiki::apps::mount_echo(server);
  return serve(server, "echo", [&] { return listening_on(server, echo_options); });
}

// Settings from flag > environment > file > default, through the options' own validators.
#include "cli/config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "cli/options.hpp"
#include "hibiki/options.hpp"

namespace hibiki::cli {
namespace {

// `hibiki echo`'s options on a command named "echo", parsed from `flags`, then layered.
struct Layered {
  ServerOptions options;
  std::string config_path;
  bool print_config = false;
  CLI::App app{"test", "echo"};
  std::map<std::string, std::string> environment;
  ConfigSources sources;

  Layered() {
    add_server_options(app, options);
    add_config_options(app, config_path, print_config);
  }

  std::string run(const std::string& flags, std::optional<std::string> file_text) {
    app.parse(flags, false);
    const Environment lookup = [this](const std::string& name) -> std::optional<std::string> {
      const auto it = environment.find(name);
      if (it == environment.end()) return std::nullopt;
      return it->second;
    };
    const std::optional<std::string> name =
        file_text ? std::optional<std::string>("hibiki.toml") : std::nullopt;
    return apply_config(app, name, file_text.value_or(""), lookup, sources);
  }
};

TEST(ConfigTest, EnvironmentNameIsUpperCaseWithUnderscores) {
  EXPECT_EQ(environment_name("max-message"), "HIBIKI_MAX_MESSAGE");
  EXPECT_EQ(environment_name("port"), "HIBIKI_PORT");
  EXPECT_EQ(environment_name("max-connections-per-ip"), "HIBIKI_MAX_CONNECTIONS_PER_IP");
}

TEST(ConfigTest, EveryOptionButHelpConfigAndPrintConfigIsConfigurable) {
  Layered l;
  std::vector<std::string> keys;
  for (CLI::Option* option : configurable_options(l.app))
    keys.push_back(option->get_single_name());
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "help"), 0);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "config"), 0);
  EXPECT_EQ(std::count(keys.begin(), keys.end(), "print-config"), 0);
  for (const char* key : {"threads", "host", "port", "max-message", "allowed-origin", "tls-cert",
                          "idle-timeout", "compression", "log-level", "log-format"}) {
    EXPECT_EQ(std::count(keys.begin(), keys.end(), key), 1) << key;
  }
}

TEST(ConfigTest, FileSetsOptionsAndSaysWhere) {
  Layered l;
  ASSERT_EQ(l.run("",
                  "# limits\nport = 8123\nmax-message = 1000\n\nhost = \"127.0.0.1\"\n"
                  "idle-timeout = 0.5\nbackpressure = \"drop\"\nlog-format = \"json\"\n"),
            "");
  EXPECT_EQ(l.options.port, 8123);
  EXPECT_EQ(l.options.max_message_bytes, 1000u);
  EXPECT_EQ(l.options.host, "127.0.0.1");
  EXPECT_EQ(l.options.idle_timeout_ms, 500u);
  EXPECT_EQ(l.options.backpressure_policy, BackpressurePolicy::drop);
  EXPECT_EQ(l.options.log_format, LogFormat::json);
  EXPECT_EQ(l.sources["port"], "hibiki.toml:2");
  EXPECT_EQ(l.sources["max-message"], "hibiki.toml:3");
  EXPECT_EQ(l.sources["host"], "hibiki.toml:5");
  EXPECT_EQ(l.sources.count("threads"), 0u);
}

TEST(ConfigTest, EnvironmentOverridesFileAndFlagOverridesBoth) {
  Layered l;
  l.environment = {{"HIBIKI_PORT", "9100"},
                   {"HIBIKI_MAX_MESSAGE", "2000"},
                   {"HIBIKI_BIN", "not an option: ignored"}};
  ASSERT_EQ(l.run("--port 9200", "port = 9000\nmax-message = 1000\nthreads = 3\n"), "");
  EXPECT_EQ(l.options.port, 9200);
  EXPECT_EQ(l.options.max_message_bytes, 2000u);
  EXPECT_EQ(l.options.threads, 3u);
  EXPECT_EQ(l.sources["port"], "flag");
  EXPECT_EQ(l.sources["max-message"], "env HIBIKI_MAX_MESSAGE");
  EXPECT_EQ(l.sources["threads"], "hibiki.toml:3");
}

TEST(ConfigTest, RepeatableOptionTakesAnArrayOrACommaSeparatedVariable) {
  Layered file;
  ASSERT_EQ(file.run("", "allowed-origin = [\"https://a.example\", \"https://b.example\"]\n"), "");
  EXPECT_EQ(file.options.allowed_origins,
            (std::vector<std::string>{"https://a.example", "https://b.example"}));
  Layered environment;
  environment.environment = {{"HIBIKI_ALLOWED_ORIGIN", "https://c.example,https://d.example"}};
  ASSERT_EQ(environment.run("", "allowed-origin = \"https://a.example\"\n"), "");
  EXPECT_EQ(environment.options.allowed_origins,
            (std::vector<std::string>{"https://c.example", "https://d.example"}));
}

TEST(ConfigTest, UnknownKeyNamesFileLineAndKey) {
  Layered l;
  EXPECT_EQ(l.run("", "port = 1\nprot = 2\n"),
            "hibiki.toml:2: prot: unknown key (keys are the long names of the flags of hibiki "
            "echo, see --help)");
}

TEST(ConfigTest, UnderscoreKeyIsUnknownWithAHint) {
  Layered l;
  EXPECT_EQ(l.run("", "max_message = 1\n"),
            "hibiki.toml:1: max_message: unknown key (did you mean max-message? keys are the "
            "flags' long names, with '-')");
}

TEST(ConfigTest, SectionIsUnknown) {
  Layered l;
  EXPECT_EQ(l.run("", "[echo]\nport = 1\n"),
            "hibiki.toml:1: echo: unknown key (the file is one flat table of the flags' long "
            "names: no sections)");
}

TEST(ConfigTest, OutOfRangeValueGoesThroughTheOptionsValidator) {
  Layered l;
  EXPECT_EQ(l.run("", "port = 1\n\nmax-message = 0\n"),
            "hibiki.toml:3: max-message: Value 0 not in range 1 to 2147483648");
}

TEST(ConfigTest, FileValueIsCheckedEvenWhenAFlagOverridesIt) {
  Layered l;
  EXPECT_EQ(l.run("--max-message 10", "max-message = 0\n"),
            "hibiki.toml:1: max-message: Value 0 not in range 1 to 2147483648");
}

TEST(ConfigTest, ValueOfTheWrongTypeIsAnError) {
  EXPECT_EQ(Layered().run("", "port = \"80\"\n"),
            "hibiki.toml:1: port: expected a number, not a string");
  EXPECT_EQ(Layered().run("", "host = 5\n"), "hibiki.toml:1: host: expected a string");
  EXPECT_EQ(Layered().run("", "threads = 1.5\n"), "hibiki.toml:1: threads: expected an integer");
  EXPECT_EQ(Layered().run("", "port = true\n"), "hibiki.toml:1: port: expected an integer");
  EXPECT_EQ(Layered().run("", "allowed-origin = 1\n"),
            "hibiki.toml:1: allowed-origin: expected a string or an array of strings");
}

TEST(ConfigTest, UnconvertibleValueIsAnError) {
  EXPECT_EQ(Layered().run("", "port = 70000\n"),
            "hibiki.toml:1: port: \"70000\" is not a valid UINT");
}

TEST(ConfigTest, ChoiceOutsideTheListIsAnError) {
  EXPECT_EQ(Layered().run("", "compression = \"zip\"\n"),
            "hibiki.toml:1: compression: zip not in {off,shared,dedicated}");
}

TEST(ConfigTest, BadEnvironmentValueNamesTheVariable) {
  Layered l;
  l.environment = {{"HIBIKI_MAX_MESSAGE", "lots"}};
  // The words of --max-message lots: CLI::Range checks before the conversion.
  EXPECT_EQ(l.run("", std::nullopt),
            "environment HIBIKI_MAX_MESSAGE: max-message: Value lots not in range 1 to 2147483648");
  Layered port;
  port.environment = {{"HIBIKI_PORT", "http"}};
  EXPECT_EQ(port.run("", std::nullopt),
            "environment HIBIKI_PORT: port: \"http\" is not a valid UINT");
  Layered range;
  range.environment = {{"HIBIKI_IDLE_TIMEOUT", "-1"}};
  EXPECT_EQ(range.run("", std::nullopt),
            "environment HIBIKI_IDLE_TIMEOUT: idle-timeout: Value -1 not in range 0.000000 to "
            "86400.000000");
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  EXPECT_EQ(Layered().run("", "port = 1\nport = 2\n").rfind("hibiki.toml:2: syntax error", 0), 0u);
}

TEST(ConfigTest, ErrorIsOneLineWhateverTheKey) {
  const std::string error = Layered().run("", "\"a\\nb\" = 1\n");
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_EQ(error.rfind("hibiki.toml:1: a\\nb: unknown key", 0), 0u);
}

TEST(ConfigTest, DescribeListsEveryOptionWithItsSource) {
  ServerOptions options{.port = 9001};
  CLI::App app{"test", "echo"};
  app.add_option("--port", options.port, "port")->capture_default_str();
  app.add_option("--host", options.host, "host")->capture_default_str();
  app.add_option("--tls-cert", options.tls_certificate_file, "cert");
  app.add_option("--allowed-origin", options.allowed_origins, "origins");
  app.add_option("--max-message", options.max_message_bytes, "max")->capture_default_str();
  app.parse("--host ::1", false);
  ConfigSources sources;
  const Environment environment = [](const std::string& name) -> std::optional<std::string> {
    if (name == "HIBIKI_MAX_MESSAGE") return "1000";
    return std::nullopt;
  };
  ASSERT_EQ(apply_config(app, "a.toml", "port = 7000\nallowed-origin = [\"x\", \"y\\\"\"]\n",
                         environment, sources),
            "");
  EXPECT_EQ(describe_config(app, sources),
            "# hibiki echo: settings in effect (flag > environment HIBIKI_* > file > default)\n"
            "port = 7000                             # a.toml:1\n"
            "host = \"::1\"                            # flag\n"
            "# tls-cert is not set                   # default\n"
            "allowed-origin = [\"x\", \"y\\\"\"]           # a.toml:2\n"
            "max-message = 1000                      # env HIBIKI_MAX_MESSAGE\n");
}

}  // namespace
}  // namespace hibiki::cli

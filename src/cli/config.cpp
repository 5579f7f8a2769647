// The layers of `hibiki chat` / `hibiki echo` settings: flag > environment > file > default.
#include "cli/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "apps/common/one_line.hpp"

namespace hibiki::cli {
namespace {

using apps::one_line;

// A value that goes to an option, and where it was written.
struct Layer {
  std::vector<std::string> values;
  std::string place;   // "FILE:LINE" or "environment HIBIKI_X"
  std::string source;  // for --print-config: "FILE:LINE" or "env HIBIKI_X"
};

// The option's value type as CLI11 names it: INT, UINT, FLOAT, TEXT...
std::string value_kind(const CLI::Option& option) {
  const std::string full = option.get_type_name();
  return full.substr(0, full.find(':'));
}

bool is_numeric(std::string_view kind) {
  return kind == "INT" || kind == "UINT" || kind == "FLOAT" || kind == "NUMBER";
}

bool is_repeatable(const CLI::Option& option) {
  return option.get_items_expected_max() > 1;
}

std::string key_of(const CLI::Option& option) {
  return option.get_single_name();
}

std::string shortest(double value) {
  std::array<char, 32> buffer{};
  const auto written = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), written.ptr);
}

// One TOML value as the text the command line would carry, or an error ("expected ...").
std::optional<std::string> scalar_text(const toml::node& node, std::string_view kind,
                                       std::string& error) {
  const bool numeric = is_numeric(kind);
  if (const auto* integer = node.as_integer()) {
    if (numeric) return std::to_string(integer->get());
  } else if (const auto* real = node.as_floating_point()) {
    if (kind == "FLOAT" || kind == "NUMBER") return shortest(real->get());
    if (numeric) {
      error = "expected an integer";
      return std::nullopt;
    }
  } else if (const auto* text = node.as_string()) {
    if (!numeric) return text->get();
    error = "expected a number, not a string";
    return std::nullopt;
  }
  error = numeric ? (kind == "FLOAT" ? "expected a number" : "expected an integer")
                  : "expected a string";
  return std::nullopt;
}

std::optional<std::vector<std::string>> file_values(const toml::node& node,
                                                    const CLI::Option& option, std::string& error) {
  const std::string kind = value_kind(option);
  std::vector<std::string> values;
  if (const auto* array = node.as_array(); array != nullptr && is_repeatable(option)) {
    for (const toml::node& item : *array) {
      std::optional<std::string> text = scalar_text(item, kind, error);
      if (!text) {
        error = "in the array: " + error;
        return std::nullopt;
      }
      values.push_back(std::move(*text));
    }
    return values;
  }
  std::optional<std::string> text = scalar_text(node, kind, error);
  if (!text) {
    if (is_repeatable(option)) error += " or an array of strings";
    return std::nullopt;
  }
  values.push_back(std::move(*text));
  return values;
}

// The values of a repeatable option in one environment variable: comma-separated.
std::vector<std::string> environment_values(const std::string& text, const CLI::Option& option) {
  if (!is_repeatable(option)) return {text};
  std::vector<std::string> values;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    values.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return values;
}

// Gives `values` to `option` as if they had been typed after its flag: its conversion and
// validators run, and its target is assigned. Returns the error, without the option's name.
std::string assign(CLI::Option& option, const std::vector<std::string>& values) {
  option.clear();
  option.add_result(values);
  try {
    option.run_callback();
  } catch (const CLI::ConversionError&) {
    std::string joined;
    for (const std::string& value : values) {
      if (!joined.empty()) joined += ", ";
      joined += value;
    }
    return "\"" + joined + "\" is not a valid " + value_kind(option);
  } catch (const CLI::Error& failure) {
    std::string message = failure.what();
    const std::string prefix = option.get_name() + ": ";
    if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
    return message;
  }
  return {};
}

// A TOML basic string.
std::string toml_string(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string toml_value(const CLI::Option& option, const std::vector<std::string>& values) {
  const bool numeric = is_numeric(value_kind(option));
  const auto one = [&](const std::string& value) { return numeric ? value : toml_string(value); };
  if (!is_repeatable(option)) return values.empty() ? std::string() : one(values.back());
  std::string out = "[";
  for (const std::string& value : values) {
    if (out.size() > 1) out += ", ";
    out += one(value);
  }
  return out + "]";
}

// The configurable option spelled like `key` with '_' for '-', if any (a likely slip).
std::string hyphenated_match(CLI::App& command, std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  for (CLI::Option* option : configurable_options(command)) {
    if (key_of(*option) == key) return key;
  }
  return {};
}

}  // namespace

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::string environment_name(std::string_view key) {
  std::string name = "HIBIKI_";
  for (const char ch : key) {
    name += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return name;
}

std::vector<CLI::Option*> configurable_options(CLI::App& command) {
  return command.get_options([](CLI::Option* option) {
    const std::string& key = option->get_single_name();
    return !option->get_lnames().empty() && key != "help" && key != "config" &&
           key != "print-config";
  });
}

std::string apply_config(CLI::App& command, const std::optional<std::string>& file_name,
                         std::string_view file_text, const Environment& environment,
                         ConfigSources& sources) {
  const std::vector<CLI::Option*> options = configurable_options(command);
  std::map<std::string, CLI::Option*> by_key;
  for (CLI::Option* option : options)
    by_key[key_of(*option)] = option;

  // The file: syntax, then every key known and of the right type, in the file's order.
  std::map<std::string, Layer> from_file;
  if (file_name) {
    toml::table root;
    try {
      root = toml::parse(file_text, std::string_view(*file_name));
    } catch (const toml::parse_error& failure) {
      return one_line(*file_name + ":" + std::to_string(failure.source().begin.line) +
                      ": syntax error at column " + std::to_string(failure.source().begin.column) +
                      ": " + std::string(failure.description()));
    }
    std::vector<std::pair<std::size_t, std::string>> keys;  // in the file's order
    for (const auto& [key, node] : root)
      keys.emplace_back(key.source().begin.line, std::string(key.str()));
    std::sort(keys.begin(), keys.end());
    for (const auto& [line, key] : keys) {
      const std::string place = *file_name + ":" + std::to_string(line);
      const auto found = by_key.find(key);
      if (found == by_key.end()) {
        std::string error = place + ": " + key + ": unknown key";
        if (const std::string match = hyphenated_match(command, key); !match.empty()) {
          error += " (did you mean " + match + "? keys are the flags' long names, with '-')";
        } else if (root.get(key)->is_table()) {
          error += " (the file is one flat table of the flags' long names: no sections)";
        } else {
          error += " (keys are the long names of the flags of hibiki " + command.get_name() +
                   ", see --help)";
        }
        return one_line(error);
      }
      std::string error;
      std::optional<std::vector<std::string>> values =
          file_values(*root.get(key), *found->second, error);
      if (!values) return one_line(place + ": " + key + ": " + error);
      from_file[key] = Layer{std::move(*values), place, place};
    }
  }

  for (CLI::Option* option : options) {
    const std::string key = key_of(*option);
    const bool given = option->count() > 0;
    const std::vector<std::string> flag_values = option->results();
    std::vector<Layer> layers;
    if (const auto file = from_file.find(key); file != from_file.end()) {
      layers.push_back(file->second);
    }
    const std::string variable = environment_name(key);
    if (std::optional<std::string> text = environment(variable)) {
      layers.push_back(
          Layer{environment_values(*text, *option), "environment " + variable, "env " + variable});
    }
    for (const Layer& layer : layers) {
      const std::string error = assign(*option, layer.values);
      if (!error.empty()) return one_line(layer.place + ": " + key + ": " + error);
      sources[key] = layer.source;
    }
    if (given) {
      if (!layers.empty()) {
        if (const std::string error = assign(*option, flag_values); !error.empty()) {
          return one_line("--" + key + ": " + error);
        }
      }
      sources[key] = "flag";
    }
  }
  return {};
}

std::string describe_config(CLI::App& command, const ConfigSources& sources) {
  constexpr std::size_t kColumn = 40;
  std::string out = "# hibiki " + command.get_name() +
                    ": settings in effect (flag > environment HIBIKI_* > file > default)\n";
  for (CLI::Option* option : configurable_options(command)) {
    const std::string key = key_of(*option);
    const auto source = sources.find(key);
    std::vector<std::string> values;
    if (source != sources.end()) {
      values = option->results();
    } else if (!option->get_default_str().empty()) {
      values.push_back(option->get_default_str());
    }
    std::string line =
        values.empty() ? "# " + key + " is not set" : key + " = " + toml_value(*option, values);
    line.append(line.size() < kColumn ? kColumn - line.size() : 1, ' ');
    line += "# ";
    line += source != sources.end() ? source->second : "default";
    out += line;
    out += '\n';
  }
  return out;
}

bool read_config_file(const std::string& path, std::string& text, std::string& error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = one_line(path + ": cannot be read (" + std::strerror(errno) + ")");
    return false;
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  text = contents.str();
  return true;
}

}  // namespace hibiki::cli

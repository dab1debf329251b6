#include "cli/subcommand.h"

#include <algorithm>

#include "base/exit_status.h"

namespace lastcall {
namespace {

std::string GroupOf(const std::string& key) {
  if (key.rfind("readiness.", 0) == 0) return "Readiness";
  if (key.rfind("shutdown.drain.trigger.", 0) == 0) return "Drain trigger (the app's drain call)";
  if (key.rfind("shutdown.drain.monitor.", 0) == 0) return "Drain monitor (is the app drained?)";
  if (key.rfind("shutdown.", 0) == 0) return "Shutdown";
  if (key.rfind("log.", 0) == 0) return "Logging";
  return "Endpoints";
}

}  // namespace

std::string Wrap(std::string_view text, std::size_t width) {
  std::string out;
  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    std::size_t column = 0;
    while (!line.empty()) {
      std::size_t space = line.find(' ');
      std::string_view word = line.substr(0, space);
      line.remove_prefix(space == std::string_view::npos ? line.size() : space + 1);
      if (column > 0 && column + 1 + word.size() > width) {
        out += '\n';
        column = 0;
      } else if (column > 0) {
        out += ' ';
        ++column;
      }
      out += word;
      column += word.size();
    }
    if (!text.empty()) out += '\n';
  }
  return out;
}

ConfigFlags AddConfigFlags(CLI::App* app, const std::vector<std::string>& skip) {
  ConfigFlags out;
  out.config_file = app->add_option("-c,--config")
                        ->description("YAML config file\n(env LASTCALL_CONFIG; default none)")
                        ->type_name("FILE")
                        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  for (const ConfigKey& key : ConfigKeys()) {
    if (std::find(skip.begin(), skip.end(), key.flag) != skip.end()) continue;
    std::string description = key.help + "\n(env " + key.env + "; default " + key.default_text;
    if (key.is_bool) description += "; --" + key.flag + "=false turns it off";
    description += ")";
    // Name-only overloads: CLI11's (name, std::string&) overloads bind the string as the
    // option's *variable*, not its description.
    CLI::Option* option = key.is_bool ? app->add_flag("--" + key.flag)
                                      : app->add_option("--" + key.flag)->type_name(key.value_name);
    option->description(Wrap(description, kHelpTextWidth));
    // Keep every occurrence: LoadConfig applies "last wins" to values and joins list items.
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(GroupOf(key.key));
    out.flags.emplace_back(option, key.flag);
  }
  return out;
}

void CollectConfigSources(const ConfigFlags& flags, const Env& env, ConfigSources* sources) {
  for (const auto& [name, value] : env) {
    if (name.rfind("LASTCALL_", 0) == 0) sources->env[name] = value;
  }
  if (flags.config_file->count() > 0) {
    sources->yaml_path = flags.config_file->results().back();
  } else if (auto it = env.find(std::string(kConfigFileEnv)); it != env.end()) {
    sources->yaml_path = it->second;
  }
  for (const auto& [option, name] : flags.flags) {
    for (const std::string& value : option->results()) sources->flags.push_back({name, value});
  }
}

std::optional<Picked> Pick(const CLI::Option* option, const Env& env, std::string_view env_name) {
  if (option->count() > 0) return Picked{option->results().back(), "flag " + option->get_name()};
  auto it = env.find(std::string(env_name));
  if (it != env.end()) return Picked{it->second, "environment " + it->first};
  return std::nullopt;
}

std::optional<LoadedConfig> LoadConfigOrExplain(ConfigSources* sources, std::string_view who,
                                                std::ostream& err) {
  try {
    ReadConfigSources(sources);
    return LoadConfig(*sources);
  } catch (const ConfigError& e) {
    err << who << ": configuration error:\n";
    for (const auto& problem : e.problems()) err << "  " << problem << "\n";
    return std::nullopt;
  }
}

Finish ThenRun(Finish read, SubcommandAction action) {
  return [read = std::move(read), action = std::move(action)](ParsedCommand* out) {
    out->command = Command::kSubcommand;
    out->action = action;
    if (read) read(out);
  };
}

void SetUsageError(ParsedCommand* out, const std::string& subcommand, const std::string& problem) {
  out->command = Command::kUsageError;
  out->action = nullptr;
  out->exit_code = kExitUsage;
  out->output = "lastcall " + subcommand + ": " + problem + "\nRun 'lastcall " + subcommand +
                " --help' for usage.\n";
}

}  // namespace lastcall

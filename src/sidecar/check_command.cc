#include "sidecar/check_command.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "base/exit_status.h"
#include "config/budget.h"
#include "config/config_keys.h"

namespace lastcall {
namespace {

// Comments start at this column at the latest; longer lines get theirs two spaces after.
constexpr size_t kCommentColumn = 48;

std::vector<std::string> SplitKey(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    parts.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(key.substr(start));
  return parts;
}

// What a value means when that is not obvious from the value itself.
std::string Note(const std::string& key, const Config& config) {
  if (key == "shutdown.recover_after" && config.shutdown.recover_after.count() < 0) {
    return " (grace_period + 2s = " + FormatDuration(config.EffectiveRecoverAfter()) + ")";
  }
  if (key == "shutdown.drain.monitor.url" && !config.shutdown.drain.monitor.url &&
      config.shutdown.drain.trigger.url) {
    return " (polls the trigger URL)";
  }
  if (key == "shutdown.drain.trigger.url" && !config.shutdown.drain.trigger.url) {
    return " (no drain call)";
  }
  if (key == "token_file" && !config.token_file.empty()) return " (re-read when it changes)";
  if (key == "state_file" && config.state_file.empty()) {
    const std::string path = config.EffectiveStateFile();
    return path.empty() ? " (none: control is not a Unix socket, so a restarted lastcall cannot "
                          "resume a sequence)"
                        : " (" + path + ", in a directory lastcall creates mode 0700)";
  }
  return "";
}

Finish DefineCheck(CLI::App* app, const Env& env, ConfigSources* sources) {
  ConfigFlags flags = AddConfigFlags(app);
  app->footer(std::string(kConfigFooter) +
              "Takes the same flags as run; set --grace-period to the pod's\n"
              "terminationGracePeriodSeconds.\n"
              "Exit codes: 0 valid and the timing budget fits, 2 invalid or it does not fit.");
  return
      [flags, &env, sources](ParsedCommand* /*out*/) { CollectConfigSources(flags, env, sources); };
}

}  // namespace

std::string FormatCheckReport(const LoadedConfig& loaded) {
  const Config& config = loaded.config;
  std::vector<std::pair<std::string, std::string>> lines;  // text, comment ("" for headings)
  std::vector<std::string> open;                           // sections of the previous key
  for (const ConfigKey& key : ConfigKeys()) {
    std::vector<std::string> parts = SplitKey(key.key);
    std::string name = parts.back();
    parts.pop_back();
    size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common]) {
      ++common;
    }
    for (size_t depth = common; depth < parts.size(); ++depth) {
      lines.emplace_back(std::string(2 * depth, ' ') + parts[depth] + ":", "");
    }
    open = parts;

    ValueSource source =
        loaded.sources.count(key.key) != 0 ? loaded.sources.at(key.key) : ValueSource::kDefault;
    std::string comment = "# " + std::string(ToString(source));
    if (auto origin = loaded.origins.find(key.key); origin != loaded.origins.end()) {
      comment += " " + origin->second;
    }
    comment += Note(key.key, config);
    lines.emplace_back(std::string(2 * parts.size(), ' ') + name + ": " +
                           FormatLoadedValue(loaded, key.key, /*redact_secrets=*/true),
                       comment);
  }

  size_t column = 0;
  for (const auto& [text, comment] : lines) {
    if (!comment.empty() && text.size() < kCommentColumn) column = std::max(column, text.size());
  }
  std::string out =
      "# lastcall: the effective configuration; after each value, where it came "
      "from\n";
  for (const auto& [text, comment] : lines) {
    out += text;
    if (!comment.empty()) {
      out += std::string(text.size() < column ? column - text.size() : 0, ' ') + "  " + comment;
    }
    out += "\n";
  }

  Budget budget = ComputeBudget(config);
  out += "\n# Timing budget: the sequence must end inside the pod's grace period.\n";
  out += "#   " + FormatBudget(budget) + "\n";
  if (!loaded.warnings.empty()) {
    out += "\n# Warnings:\n";
    for (const std::string& warning : loaded.warnings) out += "#   " + warning + "\n";
  }
  return out;
}

int RunCheck(const LoadedConfig& loaded, std::ostream& out) {
  out << FormatCheckReport(loaded);
  return ComputeBudget(loaded.config).fits() ? kExitDrained : kExitUsage;
}

Subcommand CheckSubcommand(ConfigSources* sources) {
  return {"check", "Validate and print the configuration and the timing budget",
          [sources](CLI::App* app, const Env& env) {
            return ThenRun(DefineCheck(app, env, sources), [sources](const CommandIo& io) {
              ConfigSources read = *sources;
              const std::optional<LoadedConfig> loaded =
                  LoadConfigOrExplain(&read, "lastcall", io.err);
              return loaded ? RunCheck(*loaded, io.out) : kExitUsage;
            });
          }};
}

}  // namespace lastcall

#include "config/budget.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "base/exit_status.h"

namespace lastcall {
namespace {

constexpr const char* kLessOrEqual = "\xE2\x89\xA4";  // U+2264

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

}  // namespace

long long Budget::MinimumGraceSeconds() const { return (total.count() + 999) / 1000; }

Budget ComputeBudget(const Config& config) {
  Budget budget;
  budget.lb_delay = config.shutdown.LbBound();
  budget.lb_auto = config.shutdown.lb_auto.enabled;
  budget.drain_timeout = config.shutdown.drain.timeout;
  budget.exit_delay = config.shutdown.exit_delay;
  budget.margin = Config::kBudgetMargin;
  budget.total = config.shutdown.Budget() + budget.margin;
  budget.grace_period = config.shutdown.grace_period;
  return budget;
}

std::string FormatBudget(const Budget& budget) {
  std::string sum = (budget.lb_auto ? "lb_delay auto (max " + FormatDuration(budget.lb_delay) + ")"
                                    : "lb_delay " + FormatDuration(budget.lb_delay)) +
                    " + drain.timeout " + FormatDuration(budget.drain_timeout) + " + exit_delay " +
                    FormatDuration(budget.exit_delay) + " + margin " +
                    FormatDuration(budget.margin) + " = " + FormatDuration(budget.total);
  std::string grace = "grace_period " + FormatDuration(budget.grace_period);
  if (budget.fits()) {
    return sum + " " + kLessOrEqual + " " + grace + ": fits (" + FormatDuration(budget.spare()) +
           " spare)";
  }
  std::string out = sum + " > " + grace +
                    ": does not fit: raise terminationGracePeriodSeconds to at least " +
                    std::to_string(budget.MinimumGraceSeconds());
  const Millis drain_room = budget.drain_room();
  if (drain_room.count() > 0)
    return out + " or lower drain.timeout to at most " + FormatDuration(drain_room);
  return out + " or lower lb_delay and drain.timeout";
}

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
                           FormatConfigValue(config, key.key, /*redact_secrets=*/true),
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

}  // namespace lastcall

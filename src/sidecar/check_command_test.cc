#include "sidecar/check_command.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "base/exit_status.h"
#include "config/budget.h"

namespace lastcall {
namespace {

using std::chrono::seconds;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

ConfigSources Sources(std::string yaml) {
  ConfigSources sources;
  sources.yaml_text = std::move(yaml);
  sources.yaml_path = "lastcall.yaml";
  return sources;
}

TEST_CASE("the check report lists every key with its source") {
  ConfigSources sources = Sources(
      "shutdown:\n  lb_delay: 10s\n  drain:\n    trigger:\n      headers: {Authorization: "
      "\"Bearer s3cret\", X-Drain: \"1\"}\n");
  sources.env = {{"LASTCALL_EXIT_DELAY", "1s"}};
  sources.flags = {{"drain-timeout", "15s"}};
  LoadedConfig loaded = LoadConfig(sources);
  std::string report = FormatCheckReport(loaded);
  CAPTURE(report);
  std::vector<std::string> lines = Lines(report);

  // Every key appears exactly once, as "name: value", with a source comment.
  for (const ConfigKey& key : ConfigKeys()) {
    std::string name =
        key.key.substr(key.key.rfind('.') == std::string::npos ? 0 : key.key.rfind('.') + 1);
    std::string value = FormatConfigValue(loaded.config, key.key, true);
    std::string indent(2 * static_cast<size_t>(std::count(key.key.begin(), key.key.end(), '.')),
                       ' ');
    int found = 0;
    for (const std::string& line : lines) {
      if (line.rfind(indent + name + ": " + value + " ", 0) == 0 && Contains(line, "  # ")) {
        ++found;
      }
    }
    CAPTURE(key.key);
    CHECK(found >= 1);
  }
  CHECK(Contains(report, "\n  lb_delay: 10s"));
  CHECK(Contains(report, "# file lastcall.yaml:2:3\n"));
  CHECK(Contains(report, "exit_delay: 1s"));
  CHECK(Contains(report, "# env LASTCALL_EXIT_DELAY\n"));
  CHECK(Contains(report, "# flag --drain-timeout\n"));
  CHECK(Contains(report, "  grace_period: 30s"));
  CHECK(Contains(report, "# default\n"));
  CHECK(Contains(report, "recover_after: auto"));
  CHECK(Contains(report, "# default (grace_period + 2s = 32s)\n"));
  CHECK(Contains(report, "# default (polls the trigger URL)\n"));
  // Credentials stay out of CI logs.
  CHECK_FALSE(Contains(report, "s3cret"));
  CHECK(Contains(report, "{\"Authorization\": \"<redacted>\", \"X-Drain\": \"1\"}"));
  // The budget.
  CHECK(Contains(report,
                 "#   lb_delay 10s + drain.timeout 15s + exit_delay 1s + margin 2s = 28s "
                 "\xE2\x89\xA4 grace_period 30s: fits (2s spare)\n"));
  // Comments of short lines line up.
  size_t column = std::string::npos;
  for (const std::string& line : lines) {
    size_t hash = line.find("  # ");
    if (line.empty() || line[0] == '#' || hash == std::string::npos || hash > 40) continue;
    if (column == std::string::npos) column = hash;
    CHECK(hash == column);
  }
}

TEST_CASE("the check report is itself a config file that loads to the same values") {
  ConfigSources sources = Sources(
      "listen: 127.0.0.1:9911\nshutdown:\n  signals: [HUP]\n  drain:\n    monitor:\n      kind: "
      "json\n      url: http://127.0.0.1:8080/stats\n      drained_at: 1.5\n  recover_after: "
      "1m\nlog: {format: json}\n");
  sources.flags = {{"drain-header", "X-Drain: 1"}, {"lb-delay", "0s"}};
  LoadedConfig first = LoadConfig(sources);
  std::string report = FormatCheckReport(first);
  CAPTURE(report);
  CHECK(Contains(report, "# Warnings:\n#   shutdown.lb_delay is 0s"));
  LoadedConfig second = LoadConfig(Sources(report));
  for (const ConfigKey& key : ConfigKeys()) {
    CAPTURE(key.key);
    CHECK(FormatConfigValue(second.config, key.key) == FormatConfigValue(first.config, key.key));
  }
}

TEST_CASE("the check report shows lb_auto's settings as set, beside a fixed lb_delay too") {
  // Auto in the file, a fixed delay from a flag: the bounds do nothing, but they were set.
  ConfigSources sources = Sources("shutdown:\n  lb_delay: auto\n  lb_auto: {min: 2s, max: 9s}\n");
  sources.flags = {{"lb-delay", "4s"}};
  const LoadedConfig fixed = LoadConfig(sources);
  const std::string report = FormatCheckReport(fixed);
  CAPTURE(report);
  CHECK(Contains(report, "\n  lb_delay: 4s    "));
  CHECK(Contains(report, "\n  lb_auto:\n    min: 2s    "));
  CHECK(Contains(report, "# file lastcall.yaml:3:13\n    max: 9s    "));
  CHECK(Contains(report, "\n    quiet: 1s    "));
  CHECK(Contains(report, "#   lb_delay 4s + drain.timeout 20s"));
  // Read back, the report is the same configuration: fixed, with the same unused bounds.
  const LoadedConfig second = LoadConfig(Sources(report));
  CHECK(second.config.shutdown.lb_delay == fixed.config.shutdown.lb_delay);
  CHECK(second.lb_auto_given == fixed.lb_auto_given);

  sources.flags = {{"lb-delay", "auto"}};
  const std::string automatic = FormatCheckReport(LoadConfig(sources));
  CAPTURE(automatic);
  CHECK(Contains(automatic, "\n  lb_delay: auto    "));
  CHECK(Contains(automatic, "\n  lb_auto:\n    min: 2s    "));
  CHECK(Contains(automatic, "#   lb_delay auto (max 9s) + drain.timeout 20s"));
}

TEST_CASE("RunCheck exits 0 when the budget fits and 2 when it does not") {
  std::ostringstream fits_out;
  CHECK(RunCheck(LoadConfig(ConfigSources{}), fits_out) == kExitDrained);
  CHECK(Contains(fits_out.str(), ": fits (3s spare)"));

  ConfigSources tight;
  tight.flags = {{"grace-period", "20s"}};
  std::ostringstream tight_out;
  CHECK(RunCheck(LoadConfig(tight), tight_out) == kExitUsage);
  CHECK(Contains(tight_out.str(),
                 "does not fit: raise terminationGracePeriodSeconds to at least "
                 "27 or lower drain.timeout to at most 13s"));
  CHECK(Contains(tight_out.str(), "grace_period: 20s"));
}

}  // namespace
}  // namespace lastcall

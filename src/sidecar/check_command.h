#pragma once

#include <ostream>
#include <string>

#include "cli/subcommand.h"
#include "config/config_loader.h"

// `lastcall check`: validates the configuration `run` would start with, without starting it, and
// prints it with where each value came from and the timing budget.
namespace lastcall {

// The report: every key as YAML ("key: value   # default", "# file f.yaml:3:5",
// "# env LASTCALL_X", "# flag --x"), so the output is itself a valid config file; then the
// budget and any warnings as comments. Credential-looking drain headers are redacted.
std::string FormatCheckReport(const LoadedConfig& loaded);

// Prints the report to `out` and returns the exit code of `lastcall check`: kExitDrained (0) when
// the budget fits, kExitUsage (2) when it does not.
int RunCheck(const LoadedConfig& loaded, std::ostream& out);

// The `check` subcommand: run's flags fill *sources; its action loads the configuration (exit 2
// naming every problem, as run does) and runs RunCheck on stdout.
// REQUIRES: *sources outlives the parse and the action.
Subcommand CheckSubcommand(ConfigSources* sources);

}  // namespace lastcall

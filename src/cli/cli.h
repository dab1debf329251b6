#pragma once

#include <map>
#include <string>
#include <vector>

#include "cli/subcommand.h"

// lastcall's command line: the subcommands main lists, their flags and help. Pure: parsing reads
// no file and no process environment (both are passed in), so every case is a unit test.
// Only main and the CLI include this header; a subcommand's module defines a Subcommand
// (subcommand.h).
namespace lastcall {

// The subcommands the CLI defines itself: `run` (the sidecar), `check` (validate, print the
// effective config and the timing budget) and `version`.
Subcommand RunSubcommand();
Subcommand CheckSubcommand();
Subcommand VersionSubcommand();

// Parses argv (argv[0] is the program) against `subcommands`, listed in help in that order.
// `env` is the process environment (only LASTCALL_* names are used). Never throws and never
// exits: errors come back as kUsageError.
ParsedCommand ParseCommandLine(int argc, const char* const* argv,
                               const std::map<std::string, std::string>& env,
                               const std::vector<Subcommand>& subcommands);

// The LASTCALL_* entries of an environ-style array ("NAME=value", null-terminated).
std::map<std::string, std::string> LastcallEnvironment(const char* const* envp);

}  // namespace lastcall

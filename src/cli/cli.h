#pragma once

#include <map>
#include <string>
#include <vector>

#include "cli/subcommand.h"

// lastcall's command line: parses argv against the subcommands main lists, with their flags and
// help. It knows no subcommand by name: each one's module defines its Subcommand
// (subcommand.h), and only `lastcall help [SUBCOMMAND]` and `--version` are the parser's own.
// Pure: parsing reads no file and no process environment (both are passed in), so every case is
// a unit test. Only main and the CLI include this header.
namespace lastcall {

// Parses argv (argv[0] is the program) against `subcommands`, listed in help in that order.
// `env` is the process environment (only LASTCALL_* names are used). Never throws and never
// exits: errors come back as kUsageError. `--version` prints VersionLine() (version_command.h).
ParsedCommand ParseCommandLine(int argc, const char* const* argv,
                               const std::map<std::string, std::string>& env,
                               const std::vector<Subcommand>& subcommands);

// The LASTCALL_* entries of an environ-style array ("NAME=value", null-terminated).
std::map<std::string, std::string> LastcallEnvironment(const char* const* envp);

}  // namespace lastcall

// lastcall: parse the command line, run the subcommand, exit. Each subcommand's module defines
// it (its flags, its start-up, its action); this file lists them. The one file that sees every
// wing (cmake/CheckLayers.cmake).
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include "base/exit_status.h"
#include "cli/cli.h"
#include "cli/version_command.h"
#include "inject_command.h"
#include "install_command.h"
#include "prestop/prestop_command.h"
#ifndef LASTCALL_WITHOUT_REHEARSE
#include "rehearse_command.h"
#endif
#include "sidecar/check_command.h"
#include "sidecar/run_command.h"
#include "uninject_command.h"

extern char** environ;

namespace lastcall {
namespace {

int Main(int argc, char** argv) {
  // What each subcommand's flags parse into; its action reads it.
  ConfigSources run;
  ConfigSources check;
  PrestopOptions prestop;
  InstallOptions install;
  InjectOptions inject;
  UninjectOptions uninject;
  std::vector<Subcommand> subcommands{RunSubcommand(&run), CheckSubcommand(&check),
                                      PrestopSubcommand(&prestop)};
#ifndef LASTCALL_WITHOUT_REHEARSE
  // The development simulator; a sidecar-only build (the lastcall_sidecar_only target, to
  // measure what rehearse costs the binary every pod carries) leaves it out.
  RehearseOptions rehearse;
  subcommands.push_back(RehearseSubcommand(&rehearse));
#endif
  subcommands.insert(subcommands.end(), {VersionSubcommand(), InstallSubcommand(&install),
                                         InjectSubcommand(&inject), UninjectSubcommand(&uninject)});

  const ParsedCommand parsed =
      ParseCommandLine(argc, argv, LastcallEnvironment(environ), subcommands);
  switch (parsed.command) {
    case Command::kHelp:
    case Command::kPrintVersion:
      std::cout << parsed.output;
      return kExitDrained;
    case Command::kUsageError:
      std::cerr << parsed.output;
      return parsed.exit_code;
    case Command::kSubcommand:
      return parsed.action(CommandIo{std::cin, std::cout, std::cerr, isatty(STDERR_FILENO) == 1});
  }
  return kExitUsage;
}

}  // namespace
}  // namespace lastcall

int main(int argc, char** argv) {
  try {
    return lastcall::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lastcall: fatal: %s\n", e.what());
    return lastcall::kExitRuntimeError;
  }
}

// lastcall: parse the command line, load the configuration, run the subcommand, exit.
// The one file that sees every wing: it lists the subcommands (cmake/CheckLayers.cmake).
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include "base/exit_status.h"
#include "base/logging.h"
#include "cli/cli.h"
#include "config/budget.h"
#include "config/config_loader.h"
#include "install_command.h"
#include "prestop/prestop_command.h"
#include "sidecar/run_command.h"
#ifndef LASTCALL_SIDECAR_BUILD
#include "inject_command.h"
#include "rehearse_command.h"
#include "uninject_command.h"
#endif

extern char** environ;

namespace lastcall {
namespace {

// run and check share this: configuration errors are exceptions at start-up, caught once here.
std::optional<LoadedConfig> Load(ConfigSources sources) {
  try {
    ReadConfigSources(&sources);
    return LoadConfig(sources);
  } catch (const ConfigError& e) {
    std::cerr << "lastcall: configuration error:\n";
    for (const auto& problem : e.problems()) std::cerr << "  " << problem << "\n";
    return std::nullopt;
  }
}

int Run(const ConfigSources& sources) {
  const auto loaded = Load(sources);
  if (!loaded) return kExitUsage;
  const Config& config = loaded->config;
  const Budget budget = ComputeBudget(config);
  if (budget.drain_room() <= Millis{0}) {
    // The sequence would spend the whole grace period waiting and never call or poll the app:
    // refuse, as `check` does, with the numbers.
    std::cerr << "lastcall: configuration error:\n  the timing budget leaves the draining phase no "
                 "time: "
              << FormatBudget(budget) << "\n";
    return kExitUsage;
  }
  std::optional<std::string> token;
  std::vector<std::string> warnings = loaded->warnings;
  InitLogging(config.log.format, config.log.level);
  try {
    if (!config.token_file.empty()) token = ReadTokenFile(config.token_file, &warnings);
  } catch (const std::exception& e) {
    std::cerr << "lastcall: configuration error:\n  " << e.what() << "\n";
    return kExitUsage;
  }
  for (const auto& warning : warnings) LogWarn(warning);
  if (!budget.fits()) {
    // `check` refuses this; `run` goes on, because the sequence cuts itself short before the
    // grace period ends anyway, but says so loudly.
    LogWarn("the timing budget does not fit the grace period", {{"budget", FormatBudget(budget)}});
  }
  return RunSidecar(config, token);
}

#ifdef LASTCALL_SIDECAR_BUILD
// The sidecar build (the container image's /lastcall, CMakeLists.txt's lastcall_sidecar) leaves
// the laptop tools out, so that a pod's resident memory holds none of their code. Asking it for
// one is a usage error that says where the tool is.
Subcommand NotInSidecarBuild(const std::string& name) {
  return {name, "Not in this sidecar build: in the full lastcall binary",
          [name](CLI::App* app, const Env&) -> Finish {
            app->allow_extras();
            return [name](ParsedCommand* out) {
              SetUsageError(out, name,
                            "not in this binary: it is the sidecar build the container image "
                            "carries (run, check, prestop, install, version); `" +
                                name +
                                "` is in the full lastcall binary (a release download, or "
                                "scripts/build-static.sh's lastcall.stripped)");
            };
          }};
}
#endif

int Main(int argc, char** argv) {
  PrestopOptions prestop;
  InstallOptions install;
  std::vector<Subcommand> subcommands{RunSubcommand(), CheckSubcommand(),
                                      PrestopSubcommand(&prestop)};
#ifndef LASTCALL_SIDECAR_BUILD
  RehearseOptions rehearse;
  InjectOptions inject;
  UninjectOptions uninject;
  subcommands.push_back(RehearseSubcommand(&rehearse));
  subcommands.insert(subcommands.end(), {VersionSubcommand(), InstallSubcommand(&install),
                                         InjectSubcommand(&inject), UninjectSubcommand(&uninject)});
#else
  subcommands.insert(subcommands.end(), {NotInSidecarBuild("rehearse"), VersionSubcommand(),
                                         InstallSubcommand(&install), NotInSidecarBuild("inject"),
                                         NotInSidecarBuild("uninject")});
#endif
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
    case Command::kRun:
      return Run(parsed.config);
    case Command::kCheck: {
      const auto loaded = Load(parsed.config);
      return loaded ? RunCheck(*loaded, std::cout) : kExitUsage;
    }
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

#pragma once

#include <map>
#include <optional>
#include <string>

#include "config.h"
#include "config_loader.h"
#include "inject_command.h"
#include "install_command.h"
#include "prestop_then.h"
#include "rehearse_options.h"
#include "uninject_command.h"

// lastcall's command line: subcommands, their flags and help. Pure: parsing reads no file and no
// process environment (both are passed in), so every case is a unit test.
namespace lastcall {

enum class Command {
  kRun,         // the sidecar
  kCheck,       // validate, print the effective config and the timing budget
  kPrestop,     // for exec preStop hooks: start the sequence and wait for its end
  kInstall,     // copy the binary into a shared volume (init container)
  kInject,      // add lastcall to Kubernetes manifests
  kUninject,    // remove what inject added
  kRehearse,    // rehearse a pod's termination locally, under load, with a report
  kVersion,     // print `output` ("lastcall 0.1.0\n") on stdout, exit 0
  kHelp,        // print `output` on stdout, exit 0
  kUsageError,  // print `output` on stderr, exit kExitUsage
};

// `lastcall prestop`'s inputs, each from its flag, else its environment twin, else the default.
struct PrestopOptions {
  std::string control = Config{}.control;  // --control, LASTCALL_CONTROL
  std::string token_file;                  // --token-file, LASTCALL_TOKEN_FILE; "" sends none
  std::optional<Millis> timeout;  // --timeout, LASTCALL_PRESTOP_TIMEOUT; unset: until it ends
  bool quiet = false;             // --quiet, LASTCALL_QUIET: print only the outcome
  ThenAction then;  // --then -- CMD..., --then-get URL: the hook that was there, after the drain
};

struct ParsedCommand {
  Command command = Command::kUsageError;
  // run, check: the flags and LASTCALL_* environment. yaml_path is the file from -c or
  // LASTCALL_CONFIG ("" for none); yaml_text is empty until ReadConfigSources fills it.
  ConfigSources config;
  PrestopOptions prestop;    // prestop
  RehearseOptions rehearse;  // rehearse (its `config` holds the sources for the rehearsed lastcall)
  InstallOptions install;    // install
  InjectOptions inject;      // inject
  UninjectOptions uninject;  // uninject
  std::string output;        // kHelp: the help text; kUsageError: the message, ending in "\n"
  int exit_code = 0;         // the exit code for kHelp (0) and kUsageError (kExitUsage)
};

// Parses argv (argv[0] is the program). `env` is the process environment (only LASTCALL_*
// names are used). Never throws and never exits: errors come back as kUsageError.
ParsedCommand ParseCommandLine(int argc, const char* const* argv,
                               const std::map<std::string, std::string>& env);

// The LASTCALL_* entries of an environ-style array ("NAME=value", null-terminated).
std::map<std::string, std::string> LastcallEnvironment(const char* const* envp);

// Reads sources->yaml_path into sources->yaml_text when a path is set. Throws ConfigError naming
// the file when it cannot be read.
void ReadConfigSources(ConfigSources* sources);

}  // namespace lastcall

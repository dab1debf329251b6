#pragma once

#include <functional>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/cli11.h"
#include "config/config_loader.h"

// How a subcommand joins lastcall's command line. Its own module defines it (name, summary, flags,
// what it runs) and main lists it; the parser (cli.h) knows none of them. This header is what
// subcommand modules include; only main and the CLI include cli.h.
namespace lastcall {

using Env = std::map<std::string, std::string>;

// The process's standard streams, handed to a subcommand's action.
struct CommandIo {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  bool err_is_terminal = false;  // progress on err may be a live line
};

// What a parsed subcommand does; returns the process's exit code (exit_status.h).
using SubcommandAction = std::function<int(const CommandIo& io)>;

enum class Command {
  kSubcommand,    // a subcommand parsed: main runs `action`
  kPrintVersion,  // --version: print `output` ("lastcall 0.1.0 (commit ...)\n") on stdout, exit 0
  kHelp,          // print `output` on stdout, exit 0
  kUsageError,    // print `output` on stderr, exit kExitUsage
};

struct ParsedCommand {
  Command command = Command::kUsageError;
  std::string subcommand;   // the name of the subcommand parsed ("" for none)
  SubcommandAction action;  // kSubcommand
  std::string output;       // kHelp: the help text; kUsageError: the message, ending in "\n"
  int exit_code = 0;        // the exit code for kHelp (0) and kUsageError (kExitUsage)
};

// Runs after a successful parse of its subcommand's flags and fills in `out`: the command and its
// action, or a usage error (SetUsageError).
using Finish = std::function<void(ParsedCommand* out)>;

struct Subcommand {
  std::string name;
  std::string summary;  // its one line in `lastcall --help`
  // Adds the flags to `app` (the subcommand's own CLI::App, help layout already set) and returns
  // what reads them after the parse. `env` (the LASTCALL_* environment) outlives the parse.
  std::function<Finish(CLI::App* app, const Env& env)> define;
};

// ---- helpers for defining a subcommand --------------------------------------------------------

// The help column layout: flag names up to kHelpColumn, descriptions wrapped at kHelpTextWidth,
// so help fits 100 columns.
inline constexpr std::size_t kHelpColumn = 34;
inline constexpr std::size_t kHelpTextWidth = 64;

// Wraps each line of `text` at word boundaries to at most `width` characters.
std::string Wrap(std::string_view text, std::size_t width = kHelpTextWidth);

// A subcommand that reads the configuration's flags (run, check, rehearse) shows this footer.
inline constexpr const char* kConfigFooter =
    "Precedence: flags > LASTCALL_* environment > config file > defaults.\n"
    "Durations: 250ms, 5s, 1m30s. Lists: repeat the flag or separate values with commas\n"
    "(environment: commas; --drain-header: one 'Name: value' per line).\n";

// Every configuration key's flag (ConfigKeys()), grouped for help, and -c/--config.
struct ConfigFlags {
  CLI::Option* config_file = nullptr;
  std::vector<std::pair<CLI::Option*, std::string>> flags;  // option, flag name without dashes
};

// `skip`: flags (without dashes) the subcommand sets itself.
ConfigFlags AddConfigFlags(CLI::App* app, const std::vector<std::string>& skip = {});

// Fills `sources` from the parsed flags and the LASTCALL_* environment: yaml_path is the file
// from -c, else LASTCALL_CONFIG ("" for none); yaml_text stays empty (LoadConfigOrExplain reads
// it).
void CollectConfigSources(const ConfigFlags& flags, const Env& env, ConfigSources* sources);

// Start-up for a subcommand that runs on the configuration (run, check, rehearse): reads the
// config file `sources` names into sources->yaml_text and loads the configuration. Configuration
// errors are start-up's exceptions (ConfigError), caught here and nowhere else: each problem is
// printed to `err` under "WHO: configuration error:", and the result is nullopt (the caller
// exits kExitUsage).
std::optional<LoadedConfig> LoadConfigOrExplain(ConfigSources* sources, std::string_view who,
                                                std::ostream& err);

// An input that has a flag and an environment twin: the flag's value, else the environment's,
// with where it came from.
struct Picked {
  std::string value;
  std::string where;  // "flag --timeout" or "environment LASTCALL_PRESTOP_TIMEOUT"
};
std::optional<Picked> Pick(const CLI::Option* option, const Env& env, std::string_view env_name);

// A finish that sets `out` to run `action`, then lets `read` read the flags (which may turn it into
// a usage error).
Finish ThenRun(Finish read, SubcommandAction action);

// Sets `out` to the usage error "lastcall SUBCOMMAND: PROBLEM" with the hint to --help.
void SetUsageError(ParsedCommand* out, const std::string& subcommand, const std::string& problem);

}  // namespace lastcall

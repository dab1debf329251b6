#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/text.h"
#include "config/config.h"
#include "config/config_keys.h"

// Builds the effective Config from its four sources, in rising precedence: defaults (config.h),
// the YAML file, LASTCALL_* environment variables, command-line flags. Every value is validated
// here, at start-up, so the rest of lastcall can trust the Config it gets. Parsing is pure:
// reading files is left to ReadConfigFile and ReadTokenFile.
namespace lastcall {

// One occurrence of a command-line flag, in command-line order. `name` has no dashes
// ("lb-delay"). Repeating a flag replaces single values (the last wins) and adds to lists.
struct FlagValue {
  std::string name;
  std::string value;
};

struct ConfigSources {
  std::string yaml_text;  // the config file's contents; "" (or only comments) means no settings
  std::string yaml_path;  // the file's name, for messages; "" when there is no file
  std::map<std::string, std::string> env;  // the environment; only LASTCALL_* names are read
  std::vector<FlagValue> flags;
};

struct LoadedConfig {
  Config config;
  // Every key of ConfigKeys(), dotted ("shutdown.lb_delay"), with where its value came from.
  std::map<std::string, ValueSource> sources;
  // For keys not at their default: the place that set them, for people: "lastcall.yaml:3:13",
  // "LASTCALL_LB_DELAY" or "--lb-delay".
  std::map<std::string, std::string> origins;
  // Valid but questionable settings (a poll interval longer than the drain timeout, ...).
  std::vector<std::string> warnings;
  // shutdown.lb_auto.* as the sources set them (or their defaults). The same as
  // config.shutdown.lb_delay's auto settings when it is auto; beside a fixed lb_delay they are
  // accepted and unused, and the Config has no place for them, but `check` still shows them.
  LbDelay::Auto lb_auto_given;
};

// FormatConfigValue for a loaded configuration: the same, except that the shutdown.lb_auto.* keys
// show what the sources set (lb_auto_given) even when lb_delay is fixed.
// REQUIRES: key is one of ConfigKeys().
std::string FormatLoadedValue(const LoadedConfig& loaded, std::string_view key,
                              bool redact_secrets = false);

// Every problem found in the configuration, one sentence each, each starting with where it is:
//   lastcall.yaml:3:13: shutdown.lb_delay: missing unit after "5" (units: h, m, s, ms) (got "5")
//   environment LASTCALL_LB_DELAY: ...
//   flag --lb-delay: ...
// what() joins them with newlines. main reports it and exits with kExitUsage.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::string problem);
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Merges and validates the sources. Throws ConfigError listing every problem found: unknown keys,
// variables and flags, values of the wrong shape or out of range, and settings that contradict
// each other. Does no I/O (token_file is checked for syntax only; see ReadTokenFile).
LoadedConfig LoadConfig(const ConfigSources& sources);

// Reads the YAML config file (a regular file of at most 1 MiB; a FIFO or device is refused, never
// waited on). Throws ConfigError naming the path and the reason when it cannot.
std::string ReadConfigFile(const std::string& path);

// Reads sources->yaml_path into sources->yaml_text when a path is set. Throws ConfigError naming
// the file when it cannot be read.
void ReadConfigSources(ConfigSources* sources);

// Reads the bearer token for /prestop (token_file.h): the file's contents without a byte order
// mark and surrounding whitespace (secret files often end in a newline). Throws ConfigError when
// the file is missing or unreadable, empty, longer than kMaxTokenBytes, or contains control
// characters (they could split an HTTP header). A file others can read only adds a sentence to
// *warnings (Kubernetes mounts secrets 0644 unless told otherwise).
inline constexpr size_t kMaxTokenBytes = 4096;
std::string ReadTokenFile(const std::string& path, std::vector<std::string>* warnings = nullptr);

// LASTCALL_* variables that are not config keys. LoadConfig accepts them without complaint: one
// container's environment serves both `lastcall run` and its own `lastcall prestop` hook.
inline constexpr std::string_view kConfigFileEnv = "LASTCALL_CONFIG";               // same as -c
inline constexpr std::string_view kPrestopTimeoutEnv = "LASTCALL_PRESTOP_TIMEOUT";  // prestop
inline constexpr std::string_view kQuietEnv = "LASTCALL_QUIET";  // prestop --quiet
// rehearse: the bundled example app to rehearse (default: examples/drainable_app beside lastcall).
inline constexpr std::string_view kExampleAppEnv = "LASTCALL_EXAMPLE_APP";

}  // namespace lastcall

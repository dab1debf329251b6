#pragma once

#include <optional>
#include <string>

#include "cli/subcommand.h"
#include "config/config.h"
#include "config/config_loader.h"

namespace lastcall {

// The `run` subcommand (the sidecar): every configuration flag (subcommand.h's ConfigFlags) fills
// *sources; its action loads the configuration (exit 2 naming every problem), refuses a budget
// that leaves the drain no time (exit 2), starts logging, reads the token file (exit 2 when it
// cannot), warns when the budget does not fit the grace period, and returns RunSidecar's exit
// status. REQUIRES: *sources outlives the parse and the action.
Subcommand RunSubcommand(ConfigSources* sources);

// `lastcall run`: wires the listeners, the signal watcher and the coordinator, and blocks until
// the process should exit. Returns the exit status (exit_status.h). REQUIRES: `config` was
// validated; logging is initialised; no other thread has been started yet (signals are blocked
// here for every thread to come). `token` is the control token read at start, when one is
// configured; the control endpoint then re-reads config.token_file whenever it changes.
int RunSidecar(const Config& config, const std::optional<std::string>& token);

}  // namespace lastcall

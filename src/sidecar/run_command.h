#pragma once

#include <optional>
#include <string>

#include "config/config.h"

namespace lastcall {

// `lastcall run`: wires the listeners, the signal watcher and the coordinator, and blocks until
// the process should exit. Returns the exit status (exit_status.h). REQUIRES: `config` was
// validated; logging is initialised; no other thread has been started yet (signals are blocked
// here for every thread to come). `token` is the control token read at start, when one is
// configured; the control endpoint then re-reads config.token_file whenever it changes.
int RunSidecar(const Config& config, const std::optional<std::string>& token);

}  // namespace lastcall

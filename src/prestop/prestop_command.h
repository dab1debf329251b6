#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "cli/subcommand.h"
#include "config/config.h"
#include "prestop/prestop_then.h"

namespace lastcall {

// `lastcall prestop`'s inputs, each from its flag, else its environment twin, else the default.
struct PrestopOptions {
  std::string control = Config{}.control.text;  // --control, LASTCALL_CONTROL
  std::string token_file;                       // --token-file, LASTCALL_TOKEN_FILE; "" sends none
  std::optional<Millis> timeout;  // --timeout, LASTCALL_PRESTOP_TIMEOUT; unset: until it ends
  bool quiet = false;             // --quiet, LASTCALL_QUIET: print only the outcome
  ThenAction then;  // --then -- CMD..., --then-get URL: the hook that was there, after the drain
};

inline constexpr Millis kPreStopMargin{5000};
// Used when the sidecar cannot tell its budget (it always can; this is a floor).
inline constexpr Millis kPreStopFallbackTimeout{60000};

// `lastcall prestop`: starts the sequence through the control endpoint, prints each phase as it
// happens (a live line on a terminal), and returns 0 drained, 1 timed out, 3 when the sidecar
// cannot be reached or goes away mid-call. Never hangs: every call has a deadline.
int RunPreStop(const PrestopOptions& options, std::ostream& out, bool live_terminal);

// The `prestop` subcommand: its flags fill *options, its action runs RunPreStop with them.
// REQUIRES: *options outlives the parse and the action.
Subcommand PrestopSubcommand(PrestopOptions* options);

}  // namespace lastcall

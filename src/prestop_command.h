#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "cli.h"
#include "config.h"

namespace lastcall {

inline constexpr Millis kPreStopMargin{5000};
// Used when the sidecar cannot tell its budget (it always can; this is a floor).
inline constexpr Millis kPreStopFallbackTimeout{60000};

// `lastcall prestop`: starts the sequence through the control endpoint, prints each phase as it
// happens (a live line on a terminal), and returns 0 drained, 1 timed out, 3 when the sidecar
// cannot be reached or goes away mid-call. Never hangs: every call has a deadline.
int RunPreStop(const PrestopOptions& options, std::ostream& out, bool live_terminal);

}  // namespace lastcall

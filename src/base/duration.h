#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

// Durations at lastcall's edges (YAML, environment, flags): Go-style text such as "250ms", "5s",
// "1m30s", "1.5s", "1h". Inside, everything is std::chrono::milliseconds.
namespace lastcall {

using Millis = std::chrono::milliseconds;

// No step of a pod's shutdown plausibly takes longer; a larger value is a typo (an extra zero, a
// unit mix-up), and refusing it keeps arithmetic on sums of durations far from overflow.
inline constexpr Millis kMaxDuration = std::chrono::hours{24};

// Parses a non-negative duration: one or more <number><unit> terms, the number decimal with an
// optional fraction, the unit one of h, m, s, ms. "0" alone needs no unit. Leading and trailing
// spaces are ignored. The result must be a whole number of milliseconds and at most kMaxDuration.
// Returns nullopt on failure and sets *error (if not null) to the problem, e.g. "missing unit after
// \"5\" (units: h, m, s, ms)"; the message does not repeat the input, so callers add where it came
// from and the value. Pure.
std::optional<Millis> ParseDuration(std::string_view text, std::string* error);

// Formats a duration canonically: "0s", "250ms", "1.5s", "1m30s", "1h2m3.004s". Negative values
// get a leading "-" (they never come from ParseDuration). For every d in [0, kMaxDuration],
// ParseDuration(FormatDuration(d)) == d.
std::string FormatDuration(Millis duration);

}  // namespace lastcall

#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

// `lastcall prestop`'s reading of the sidecar's answers (the bodies of /prestop and /status).
// The sidecar is another process, maybe another version, maybe not lastcall at all: every field
// is untrusted, and an answer of the wrong shape is an error value, never an exception.
namespace lastcall {

// Arrays and objects nested deeper than this make an answer an error (the sidecar's are 3 deep).
inline constexpr size_t kMaxSidecarAnswerDepth = 16;
// The longest budget an answer may claim: more than a day is no pod's grace period.
inline constexpr Millis kMaxSidecarBudget = std::chrono::hours{24};

struct SidecarTimelineEntry {
  long long elapsed_ms = 0;  // since the sequence started
  std::string phase;
  std::string detail;
};

// What `prestop` shows and decides on. Absent and null fields keep these defaults.
struct SidecarReport {
  std::string phase;                           // "" when absent
  std::string detail;                          // the sequence's summary
  std::vector<SidecarTimelineEntry> timeline;  // in order
  std::optional<double> last_value;            // the last polled in-flight value
  std::optional<Millis> budget;                // the longest the sequence may take
};

struct SidecarAnswer {
  std::optional<SidecarReport> report;  // set on success
  std::string error;                    // otherwise: what was wrong, e.g. "field \"timeline\"
                                        // is a string, not an array"
  bool ok() const { return report.has_value(); }
};

// Reads one answer body: a JSON object whose known fields (phase, detail, timeline[].{phase,
// elapsed_ms, detail}, last_value, budget_ms) have the expected types; unknown fields are
// ignored. Errors: "the answer is not JSON: ...", "the answer is an array, not a JSON object",
// "the answer nests deeper than 16 levels", "field \"budget_ms\" is -5, not a duration in ms
// up to 24h", "timeline[2].elapsed_ms is a string, not a number". Never throws; pure.
SidecarAnswer ReadSidecarAnswer(std::string_view body);

}  // namespace lastcall

#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "config/config.h"

// `lastcall rehearse`'s progress while it runs: on a terminal one line on stderr, rewritten in
// place; elsewhere (CI logs, pipes) a plain line whenever the phase changes and at most one a
// second otherwise, so logs stay short.
namespace lastcall {

struct ProgressSample {
  Millis since_t0{0};  // negative during the warm-up
  std::string phase;   // "warm-up", "unready", "draining", "app exited", ...
  double rps = 0;      // answered requests per second over the last interval
  uint64_t sent = 0;
  uint64_t errors = 0;  // failed requests so far
  uint64_t in_flight = 0;
};

// One line, without a newline:
//   "  +1.20s  draining     rps 100  sent 220  errors 0  in flight 12". Pure.
std::string FormatProgressLine(const ProgressSample& sample);

class ProgressDisplay {
 public:
  ProgressDisplay(std::ostream& out, bool terminal) : out_(out), terminal_(terminal) {}
  // Shows `sample` (see the class comment for when a plain line is written).
  void Update(const ProgressSample& sample);
  // Ends the live line (terminal) so that what follows starts on a fresh line. Idempotent.
  void Finish();

 private:
  std::ostream& out_;
  const bool terminal_;
  bool line_open_ = false;
  std::string last_phase_;
  std::optional<Millis> last_plain_;
};

}  // namespace lastcall

#include "rehearse_progress.h"

#include <fmt/format.h>

#include "rehearse_report.h"

namespace lastcall {

std::string FormatProgressLine(const ProgressSample& sample) {
  return fmt::format("  {:>8}  {:<12} rps {:>4.0f}  sent {:>6}  errors {:>4}  in flight {:>4}",
                     FormatOffset(sample.since_t0), sample.phase, sample.rps, sample.sent,
                     sample.errors, sample.in_flight);
}

void ProgressDisplay::Update(const ProgressSample& sample) {
  if (terminal_) {
    // \r and "erase to end of line": the line is rewritten in place.
    out_ << "\r\x1b[K" << FormatProgressLine(sample) << std::flush;
    line_open_ = true;
    return;
  }
  const bool phase_changed = sample.phase != last_phase_;
  const bool second_passed = !last_plain_ || sample.since_t0 - *last_plain_ >= Millis(1000);
  if (!phase_changed && !second_passed) return;
  out_ << FormatProgressLine(sample) << "\n" << std::flush;
  last_phase_ = sample.phase;
  last_plain_ = sample.since_t0;
}

void ProgressDisplay::Finish() {
  if (terminal_ && line_open_) out_ << "\n" << std::flush;
  line_open_ = false;
}

}  // namespace lastcall

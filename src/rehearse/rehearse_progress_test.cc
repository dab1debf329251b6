#include "rehearse_progress.h"

#include <doctest/doctest.h>

#include <sstream>

namespace lastcall {
namespace {

ProgressSample Sample(long long since_t0, const std::string& phase) {
  return ProgressSample{Millis(since_t0), phase, 99.6, 220, 3, 12};
}

TEST_CASE("FormatProgressLine") {
  CHECK(FormatProgressLine(Sample(1200, "draining")) ==
        "    +1.20s  draining     rps  100  sent    220  errors    3  in flight   12");
  CHECK(FormatProgressLine(Sample(-900, "warm-up")) ==
        "    -0.90s  warm-up      rps  100  sent    220  errors    3  in flight   12");
}

TEST_CASE("on a terminal: one line, rewritten in place") {
  std::ostringstream out;
  ProgressDisplay display(out, /*terminal=*/true);
  display.Update(Sample(0, "unready"));
  display.Update(Sample(200, "unready"));
  display.Finish();
  display.Finish();
  CHECK(out.str() == "\r\x1b[K" + FormatProgressLine(Sample(0, "unready")) + "\r\x1b[K" +
                         FormatProgressLine(Sample(200, "unready")) + "\n");
}

TEST_CASE("elsewhere: a plain line at each phase change, at most one a second otherwise") {
  std::ostringstream out;
  ProgressDisplay display(out, /*terminal=*/false);
  display.Update(Sample(-1000, "warm-up"));
  display.Update(Sample(-800, "warm-up"));  // same phase, too soon: skipped
  display.Update(Sample(0, "unready"));     // new phase
  display.Update(Sample(200, "unready"));   // skipped
  display.Update(Sample(1000, "unready"));  // a second later
  display.Finish();
  CHECK(out.str() == FormatProgressLine(Sample(-1000, "warm-up")) + "\n" +
                         FormatProgressLine(Sample(0, "unready")) + "\n" +
                         FormatProgressLine(Sample(1000, "unready")) + "\n");
  CHECK(out.str().find('\r') == std::string::npos);
}

}  // namespace
}  // namespace lastcall

#include "config/budget.h"

#include "base/duration.h"

namespace lastcall {
namespace {

constexpr const char* kLessOrEqual = "\xE2\x89\xA4";  // U+2264

}  // namespace

long long Budget::MinimumGraceSeconds() const { return (total.count() + 999) / 1000; }

Budget ComputeBudget(const Config& config) {
  Budget budget;
  budget.lb_delay = config.shutdown.lb_delay.bound();
  budget.lb_auto = config.shutdown.lb_delay.is_auto();
  budget.drain_timeout = config.shutdown.drain.timeout;
  budget.exit_delay = config.shutdown.exit_delay;
  budget.margin = Config::kBudgetMargin;
  budget.total = config.shutdown.Budget() + budget.margin;
  budget.grace_period = config.shutdown.grace_period;
  return budget;
}

std::string FormatBudget(const Budget& budget) {
  std::string sum = (budget.lb_auto ? "lb_delay auto (max " + FormatDuration(budget.lb_delay) + ")"
                                    : "lb_delay " + FormatDuration(budget.lb_delay)) +
                    " + drain.timeout " + FormatDuration(budget.drain_timeout) + " + exit_delay " +
                    FormatDuration(budget.exit_delay) + " + margin " +
                    FormatDuration(budget.margin) + " = " + FormatDuration(budget.total);
  std::string grace = "grace_period " + FormatDuration(budget.grace_period);
  if (budget.fits()) {
    return sum + " " + kLessOrEqual + " " + grace + ": fits (" + FormatDuration(budget.spare()) +
           " spare)";
  }
  std::string out = sum + " > " + grace +
                    ": does not fit: raise terminationGracePeriodSeconds to at least " +
                    std::to_string(budget.MinimumGraceSeconds());
  const Millis drain_room = budget.drain_room();
  if (drain_room.count() > 0)
    return out + " or lower drain.timeout to at most " + FormatDuration(drain_room);
  return out + " or lower lb_delay and drain.timeout";
}

}  // namespace lastcall

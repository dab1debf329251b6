#pragma once

#include <string>

#include "config/config.h"

// The timing budget: lastcall's whole sequence must end inside the pod's grace period, or the
// kubelet's SIGKILL cuts the drain short.
namespace lastcall {

struct Budget {
  Millis lb_delay{0};    // the lb wait's bound (LbDelay::bound)
  bool lb_auto = false;  // lb_delay auto: the bound is lb_auto.max
  Millis drain_timeout{0};
  Millis exit_delay{0};
  Millis margin{Config::kBudgetMargin};
  Millis total{0};         // the four above
  Millis grace_period{0};  // terminationGracePeriodSeconds

  bool fits() const { return total <= grace_period; }
  Millis spare() const { return grace_period - total; }  // negative when it does not fit
  // What the grace period leaves the draining phase once lb_delay, exit_delay and the margin are
  // taken: zero or less means the sequence would skip the drain call and every poll.
  Millis drain_room() const { return grace_period - lb_delay - exit_delay - margin; }
  // The smallest terminationGracePeriodSeconds (whole seconds, as the pod spec takes it) that fits.
  long long MinimumGraceSeconds() const;
};

// The worst case of the sequence: lb_delay + drain timeout + exit_delay + Config::kBudgetMargin.
Budget ComputeBudget(const Config& config);

// One line, e.g.
//   "lb_delay 5s + drain.timeout 20s + exit_delay 0s + margin 2s = 27s ≤ grace_period 30s: fits
//   (3s spare)", or "... = 37s > grace_period 30s: does not fit: raise
//   terminationGracePeriodSeconds to at least 37 or lower drain.timeout to at most 23s".
std::string FormatBudget(const Budget& budget);

}  // namespace lastcall

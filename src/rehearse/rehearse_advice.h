#pragma once

#include <vector>

#include "rehearse_report.h"

// What a rehearsal's outcome means for the configuration: each rule looks at the assembled report
// and, when it applies, says what happened with numbers and which setting to change to what
// ("your lb_delay of 2s is shorter than the propagation delay of 3s you asked to survive: raise
// lb_delay to at least 3s"). Pure.
namespace lastcall {

// Every rule that applies, problems first, then warnings, then information. When nothing is
// wrong, one kOk item sums up the good news.
std::vector<Advice> Advise(const RehearsalReport& report);

// The smallest whole number of seconds that is at least `duration` (the pod spec's
// terminationGracePeriodSeconds takes whole seconds, and people read round numbers).
Millis RoundUpToSeconds(Millis duration);

}  // namespace lastcall

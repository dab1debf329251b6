#include "base/phase.h"

namespace lastcall {

std::string_view ToString(Phase phase) {
  switch (phase) {
    case Phase::kServing:
      return "serving";
    case Phase::kUnready:
      return "unready";
    case Phase::kDraining:
      return "draining";
    case Phase::kDrained:
      return "drained";
    case Phase::kTimedOut:
      return "timed_out";
  }
  return "unknown";
}

std::string_view ToString(TriggerSource source) {
  switch (source) {
    case TriggerSource::kSignal:
      return "signal";
    case TriggerSource::kPreStop:
      return "prestop";
    case TriggerSource::kResumed:
      return "resumed";
  }
  return "unknown";
}

}  // namespace lastcall

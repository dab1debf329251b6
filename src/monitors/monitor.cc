#include "monitors/monitor.h"

namespace lastcall {

std::string_view ToString(PollOutcome outcome) {
  switch (outcome) {
    case PollOutcome::kDrained:
      return "drained";
    case PollOutcome::kBusy:
      return "busy";
    case PollOutcome::kRefused:
      return "refused";
    case PollOutcome::kError:
      return "error";
  }
  return "unknown";
}

}  // namespace lastcall

// The `none` monitor: never drained, so the sequence waits the whole drain timeout, as
// `preStop: sleep` does. For comparison, and for apps that cannot say anything.
#include <string_view>

#include "monitors/monitor.h"

namespace lastcall {
namespace {

class NoneMonitor final : public DrainMonitor {
 public:
  PollResult Poll(Deadline /*deadline*/) override {
    PollResult result;
    result.outcome = PollOutcome::kBusy;
    result.detail = "monitor none: waiting for the drain timeout";
    return result;
  }
  std::string_view kind() const override { return "none"; }
};

}  // namespace

std::unique_ptr<DrainMonitor> MakeNoneMonitor() { return std::make_unique<NoneMonitor>(); }

}  // namespace lastcall

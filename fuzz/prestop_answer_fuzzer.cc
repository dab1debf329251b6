// `lastcall prestop`'s reading of the sidecar's answers (/prestop and /status bodies). The input
// is the body. ReadSidecarAnswer promises never to throw: before it existed, a field of another
// type made prestop's follow loop throw with a thread running, which aborted the process.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "prestop/prestop_answer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::fuzz::Require;
  const lastcall::SidecarAnswer answer =
      lastcall::ReadSidecarAnswer(std::string_view(reinterpret_cast<const char*>(data), size));
  Require(answer.ok() != !answer.error.empty(), "exactly one of a report and an error");
  if (!answer.ok()) return 0;
  const lastcall::SidecarReport& report = *answer.report;
  Require(!report.budget ||
              (report.budget->count() >= 0 && *report.budget <= lastcall::kMaxSidecarBudget),
          "a budget lies in [0, 24h]");
  for (const lastcall::SidecarTimelineEntry& entry : report.timeline) {
    Require(entry.elapsed_ms >= 0 && entry.elapsed_ms <= lastcall::kMaxSidecarBudget.count(),
            "elapsed times lie in [0, 24h]");
  }
  return 0;
}

#include <doctest/doctest.h>

#include <chrono>

#include "monitors/monitor.h"

namespace lastcall {
namespace {

TEST_CASE("none monitor: always busy, so the sequence waits the drain timeout") {
  std::unique_ptr<DrainMonitor> monitor = MakeNoneMonitor();
  CHECK(monitor->kind() == "none");
  for (int i = 0; i < 3; ++i) {
    PollResult got = monitor->Poll(std::chrono::steady_clock::now());
    CHECK(got.outcome == PollOutcome::kBusy);
    CHECK_FALSE(got.value.has_value());
    CHECK(got.detail == "monitor none: waiting for the drain timeout");
  }
}

}  // namespace
}  // namespace lastcall

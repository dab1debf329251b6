#include "state_file.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using SysClock = std::chrono::system_clock;

TEST_CASE("a state file round-trips through SerializeSequenceState and ParseSequenceState") {
  PersistedSequence state;
  state.phase = Phase::kDraining;
  state.source = TriggerSource::kPreStop;
  state.triggered_at = SysClock::time_point(milliseconds(1'732'500'000'000));
  state.draining_since = SysClock::time_point(milliseconds(1'732'500'005'000));
  state.trigger_accepted = true;
  state.end = SequenceEnd::kDrained;
  state.detail = "app drained \"fast\"";
  const std::string text = SerializeSequenceState(state);
  std::string error;
  const auto parsed = ParseSequenceState(text, &error);
  REQUIRE(parsed.has_value());
  CHECK(parsed->phase == Phase::kDraining);
  CHECK(parsed->source == TriggerSource::kPreStop);
  CHECK(parsed->triggered_at == state.triggered_at);
  CHECK(parsed->draining_since == state.draining_since);
  CHECK(parsed->trigger_accepted);
  CHECK(!parsed->signal_received);
  CHECK(parsed->end == SequenceEnd::kDrained);
  CHECK(parsed->detail == state.detail);
  CHECK(SerializeSequenceState(*parsed) == text);
}

TEST_CASE("ParseSequenceState rejects what lastcall did not write") {
  const std::string head = R"({"version":1,"phase":"draining","trigger":"signal",)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not a JSON object"},
      {"[1]", "not a JSON object"},
      {R"({"version":2})", "unknown state file version"},
      {R"({"version":4294967297})", "unknown state file version"},
      {R"({"version":1,"phase":"draining"})", "missing phase, trigger or triggered_at_ms"},
      {head + R"("triggered_at_ms":1.5})", "missing phase, trigger or triggered_at_ms"},
      {R"({"version":1,"phase":"x","trigger":"signal","triggered_at_ms":1})",
       "unknown phase or trigger name"},
      // Found by fuzz/state_file_fuzzer.cc: converting these to system_clock's nanoseconds
      // overflowed (undefined behaviour) before they were range-checked.
      {head + R"("triggered_at_ms":17325000000001})",
       "triggered_at_ms is not a time between 1970 and 2200"},
      {head + R"("triggered_at_ms":-9223372036854775807})",
       "triggered_at_ms is not a time between 1970 and 2200"},
      {head + R"("triggered_at_ms":18446744073709551615})",
       "triggered_at_ms is not a time between 1970 and 2200"},
      {head + R"("triggered_at_ms":1000,"draining_since_ms":17325000000001})",
       "draining_since_ms is not a time between triggered_at_ms and 2200"},
      {head + R"("triggered_at_ms":1000,"draining_since_ms":999})",
       "draining_since_ms is not a time between triggered_at_ms and 2200"},
  };
  for (const auto& [text, want] : cases) {
    CAPTURE(text);
    std::string error;
    CHECK(!ParseSequenceState(text, &error).has_value());
    CHECK(error == want);
  }
}

}  // namespace
}  // namespace lastcall

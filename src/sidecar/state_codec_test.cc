#include "sidecar/state_codec.h"

#include <doctest/doctest.h>

#include <chrono>
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
  state.ended_at = SysClock::time_point(milliseconds(1'732'500'007'500));
  state.detail = "app drained \"fast\"";
  const std::string text = SerializeSequenceState(state);
  const Expected<PersistedSequence> parsed = ParseSequenceState(text);
  REQUIRE(parsed.ok());
  CHECK(parsed->phase == Phase::kDraining);
  CHECK(parsed->source == TriggerSource::kPreStop);
  CHECK(parsed->triggered_at == state.triggered_at);
  CHECK(parsed->draining_since == state.draining_since);
  CHECK(parsed->trigger_accepted);
  CHECK(!parsed->signal_received);
  CHECK(parsed->end == SequenceEnd::kDrained);
  CHECK(parsed->ended_at == state.ended_at);
  CHECK(parsed->detail == state.detail);
  CHECK(SerializeSequenceState(*parsed) == text);
}

TEST_CASE("ParseSequenceState rejects what lastcall did not write") {
  const std::string head = R"({"version":1,"phase":"draining","trigger":"signal",)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not a JSON object"},
      {"[1]", "not a JSON object"},
      {R"({"version":2})", "written by a newer lastcall (state file version 2; this one reads 1)"},
      {R"({"version":4294967297})",
       "written by a newer lastcall (state file version 4294967297; this one reads 1)"},
      {R"({"version":0})", "unknown state file version"},
      {R"({"version":"1"})", "unknown state file version"},
      {R"({"version":-2})", "unknown state file version"},
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
      // Guessing "timed_out" for these made a restarted lastcall exit 1 at once.
      {head + R"("triggered_at_ms":1000,"result":"maybe"})",
       "unknown result (not \"drained\", \"timed_out\" or null)"},
      {head + R"("triggered_at_ms":1000,"result":1})",
       "unknown result (not \"drained\", \"timed_out\" or null)"},
      {head + R"("triggered_at_ms":1000,"result":"drained","ended_at_ms":999})",
       "ended_at_ms is not a time between triggered_at_ms and 2200 after a result"},
      {head + R"("triggered_at_ms":1000,"ended_at_ms":2000})",
       "ended_at_ms is not a time between triggered_at_ms and 2200 after a result"},
  };
  for (const auto& item : cases) {
    const auto& text = item.first;
    const auto& want = item.second;
    CAPTURE(text);
    const Expected<PersistedSequence> parsed = ParseSequenceState(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == StatusCode::kInvalid);
    CHECK(parsed.status().message() == want);
  }
}

TEST_CASE("SerializeSequenceState writes one line of JSON, invalid UTF-8 replaced") {
  PersistedSequence state;
  state.phase = Phase::kTimedOut;
  state.triggered_at = SysClock::time_point(milliseconds(1'000));
  state.end = SequenceEnd::kTimedOut;
  state.ended_at = SysClock::time_point(milliseconds(2'000));
  state.detail = "bad \xff byte";
  const std::string text = SerializeSequenceState(state);
  CHECK(text ==
        "{\"version\":1,\"phase\":\"timed_out\",\"trigger\":\"signal\",\"triggered_at_ms\":1000,"
        "\"draining_since_ms\":null,\"trigger_accepted\":false,\"signal_received\":false,"
        "\"result\":\"timed_out\",\"ended_at_ms\":2000,\"detail\":\"bad \xEF\xBF\xBD byte\"}\n");
  const Expected<PersistedSequence> parsed = ParseSequenceState(text);
  REQUIRE(parsed.ok());
  CHECK(parsed->end == SequenceEnd::kTimedOut);
}

}  // namespace
}  // namespace lastcall

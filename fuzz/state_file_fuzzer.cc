// ParseSequenceState over arbitrary text (a state file left by a crash can hold anything), and
// the round trip through SerializeSequenceState for the states it accepts. Links the codec alone:
// no store, no coordinator.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "sidecar/state_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::fuzz::Require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto state = lastcall::ParseSequenceState(text);
  if (!state.ok()) {
    Require(state.status().code() == lastcall::StatusCode::kInvalid,
            "a rejected state file is invalid input");
    Require(!state.status().message().empty(), "a rejected state file comes with a reason");
    return 0;
  }
  const std::string written = lastcall::SerializeSequenceState(*state);
  const auto again = lastcall::ParseSequenceState(written);
  Require(again.ok(), "a serialized state parses");
  Require(lastcall::SerializeSequenceState(*again) == written,
          "SerializeSequenceState -> ParseSequenceState keeps the state");
  return 0;
}

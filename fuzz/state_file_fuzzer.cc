// ParseSequenceState over arbitrary text (a state file left by a crash can hold anything), and
// the round trip through SerializeSequenceState for the states it accepts.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "sidecar/state_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::fuzz::Require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto state = lastcall::ParseSequenceState(text, &error);
  if (!state) {
    Require(!error.empty(), "a rejected state file comes with a reason");
    return 0;
  }
  const std::string written = lastcall::SerializeSequenceState(*state);
  std::string again_error;
  const auto again = lastcall::ParseSequenceState(written, &again_error);
  Require(again.has_value(), "a serialized state parses");
  Require(lastcall::SerializeSequenceState(*again) == written,
          "SerializeSequenceState -> ParseSequenceState keeps the state");
  return 0;
}

// ParseDuration over arbitrary text, and the round trip FormatDuration -> ParseDuration that
// `lastcall check` relies on when it prints the effective config.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::fuzz::Require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const std::optional<lastcall::Millis> parsed = lastcall::ParseDuration(text, &error);
  if (!parsed) {
    Require(!error.empty(), "a rejected duration comes with a reason");
    return 0;
  }
  Require(parsed->count() >= 0, "durations are non-negative");
  Require(*parsed <= lastcall::kMaxDuration, "durations are at most kMaxDuration");
  const std::string formatted = lastcall::FormatDuration(*parsed);
  std::string reparse_error;
  const std::optional<lastcall::Millis> again = lastcall::ParseDuration(formatted, &reparse_error);
  Require(again.has_value(), "FormatDuration's output parses");
  Require(again == parsed, "FormatDuration -> ParseDuration is the identity");
  return 0;
}

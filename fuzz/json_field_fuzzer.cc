// The json monitor's reader: the first line of the input is a JSON pointer, the rest an app's
// answer. A pointer that does not parse is replaced by /inflight, so every input also exercises
// the body parser. ReadJsonNumber promises never to throw; an escaping exception is a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/json_field.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::fuzz::Require;
  const auto [head, body] =
      lastcall::fuzz::SplitFirstLine(std::string_view(reinterpret_cast<const char*>(data), size));
  std::string error;
  const bool pointer_ok = lastcall::ParseJsonPointer(head, &error).has_value();
  Require(pointer_ok || !error.empty(), "a rejected pointer comes with a reason");
  const lastcall::JsonNumber number =
      lastcall::ReadJsonNumber(body, pointer_ok ? head : "/inflight");
  Require(number.ok() != !number.error.empty(), "exactly one of a value and an error");
  return 0;
}

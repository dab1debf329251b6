#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The json drain monitor's pure half: one number out of an app's JSON answer, addressed by a
// JSON pointer (RFC 6901), such as /inflight in {"inflight": 3}.
namespace lastcall {

// Splits a JSON pointer into its unescaped reference tokens: "" is the whole document, "/a/b~1c"
// is {"a", "b/c"} (~1 is '/', ~0 is '~'). Returns nullopt and sets *error ("JSON pointer
// \"inflight\" must be empty or start with '/'") on failure. Pure.
std::optional<std::vector<std::string>> ParseJsonPointer(std::string_view pointer,
                                                         std::string* error);

// Arrays and objects nested deeper than this make a body an error: an app's in-flight count is
// never that deep, and the bound keeps memory and time flat whatever the body holds.
inline constexpr size_t kMaxJsonDepth = 64;

struct JsonNumber {
  std::optional<double> value;   // set on success
  std::string error;             // on failure: what was wrong, quoting the start of the body
  bool deadline_passed = false;  // the error is that `deadline` passed mid-body
  bool ok() const { return value.has_value(); }
};

// Reads the number at `pointer` in `body` in one streaming pass that keeps only the value it
// looks for (memory does not grow with the body). Integers and floats both come back as double;
// booleans, strings and null are errors, not numbers: "field /inflight is a string, not a
// number". Other errors: "body is not JSON: <where and why>: <body>", "body is empty, not
// JSON", "no field /inflight in <body>", "body nests arrays and objects deeper than 64
// levels", a bad pointer's own error, and, when the clock passes `deadline` before the end of
// the body, "gave up reading the body: the poll's deadline passed" (deadline_passed set). Never
// throws; pure but for reading the clock.
JsonNumber ReadJsonNumber(
    std::string_view body, std::string_view pointer,
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());

// The deepest nesting of arrays and objects in `text` (strings skipped, syntax not checked):
// 0 for a scalar, 1 for {"a": 1}. Stops counting at `limit` + 1. Linear, no allocation. Pure.
size_t JsonNestingDepth(std::string_view text, size_t limit);

}  // namespace lastcall

#pragma once

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

struct JsonNumber {
  std::optional<double> value;  // set on success
  std::string error;            // on failure: what was wrong, quoting the start of the body
  bool ok() const { return value.has_value(); }
};

// Reads the number at `pointer` in `body`. Integers and floats both come back as double;
// booleans, strings and null are errors, not numbers: "field /inflight is a string, not a
// number". Other errors: "body is not JSON: <where and why>: <body>", "body is empty, not
// JSON", "no field /inflight in <body>", and a bad pointer's own error. Never throws; pure.
JsonNumber ReadJsonNumber(std::string_view body, std::string_view pointer);

}  // namespace lastcall

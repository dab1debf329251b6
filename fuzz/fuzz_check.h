#pragma once

// Shared by the libFuzzer targets: a failed property is a crash the fuzzer records, with the
// reason on stderr (libFuzzer keeps the input that caused it under crash-<sha1>).
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace lastcall::fuzz {

inline void Require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

// Splits the input at its first newline: the head configures the call (a selector, a JSON
// pointer), the tail is the text under test. Without a newline the head is empty.
struct HeadAndBody {
  std::string_view head;
  std::string_view body;
};
inline HeadAndBody SplitFirstLine(std::string_view input) {
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return {{}, input};
  return {input.substr(0, newline), input.substr(newline + 1)};
}

}  // namespace lastcall::fuzz

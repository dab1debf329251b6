#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

// Unit tests read text fixtures from tests/fixtures/ of the source tree the build was configured
// from (lastcall_testing defines LASTCALL_SOURCE_DIR), so the test binary runs from any working
// directory, and a compiler cache that rewrites paths (__FILE__) cannot move them.
namespace lastcall::testing {

inline std::string FixturePath(std::string_view name) {
  return std::string(LASTCALL_SOURCE_DIR) + "/tests/fixtures/" + std::string(name);
}

// Returns the fixture's bytes, or "" when it cannot be read (the test's checks then fail).
inline std::string ReadFixture(std::string_view name) {
  std::ifstream in(FixturePath(name), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

}  // namespace lastcall::testing

#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

// Unit tests read text fixtures from tests/fixtures/, found from this header's own path (CMake
// compiles with absolute paths), so the test binary runs from any working directory.
namespace lastcall::testing {

inline std::string FixturePath(std::string_view name) {
  std::string here = __FILE__;
  here.erase(here.rfind('/') + 1);  // keep ".../src/"
  return here + "../tests/fixtures/" + std::string(name);
}

// Returns the fixture's bytes, or "" when it cannot be read (the test's checks then fail).
inline std::string ReadFixture(std::string_view name) {
  std::ifstream in(FixturePath(name), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

}  // namespace lastcall::testing

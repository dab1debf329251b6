// The README's configuration reference must not fall behind the code.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "config/config_loader.h"

namespace lastcall {
namespace {

TEST_CASE("the README documents every configuration key with its flag and environment twin") {
  std::ifstream in(std::string(LASTCALL_SOURCE_DIR) + "/README.md");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  for (const ConfigKey& key : ConfigKeys()) {
    CAPTURE(key.key);
    CHECK(readme.find("| `" + key.key + "` | `--" + key.flag + "` | `" + key.env + "` |") !=
          std::string::npos);
  }
}

}  // namespace
}  // namespace lastcall

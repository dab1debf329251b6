#include "config/config_reference.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "config/config_keys.h"

namespace lastcall {
namespace {

std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(LASTCALL_SOURCE_DIR) + "/" + relative);
  REQUIRE_MESSAGE(in, relative << " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The first line where `a` and `b` differ, numbered from 1, with both versions: a drift report
// a person can act on, not two whole documents.
std::string FirstDifference(const std::string& a, const std::string& b) {
  std::istringstream left(a);
  std::istringstream right(b);
  std::string l;
  std::string r;
  for (int line = 1;; ++line) {
    bool more_left = static_cast<bool>(std::getline(left, l));
    bool more_right = static_cast<bool>(std::getline(right, r));
    if (!more_left && !more_right) return "";
    if (!more_left) l = "(end of file)";
    if (!more_right) r = "(end of file)";
    if (l != r) {
      return "line " + std::to_string(line) + ":\n  the file has:  " + l +
             "\n  the table has: " + r;
    }
  }
}

TEST_CASE("docs/configuration.md holds the reference the key table renders") {
  const std::string document = ReadSourceFile("docs/configuration.md");
  std::string error;
  std::optional<std::string> expected = SpliceConfigReference(document, &error);
  REQUIRE_MESSAGE(expected.has_value(), error);
  // Not CHECK(document == *expected): that would print both documents whole.
  if (document != *expected) {
    FAIL_CHECK(
        "docs/configuration.md has drifted from the key table (src/config/config_keys.cc): run "
        "scripts/gen-config-doc.sh and commit the result. First difference at "
        << FirstDifference(document, *expected));
  }
}

TEST_CASE("the reference has a row per key with its flag, environment twin and default") {
  const std::string reference = RenderConfigReference();
  for (const ConfigKey& key : ConfigKeys()) {
    CAPTURE(key.key);
    CHECK(reference.find("| `" + key.key + "` | `--" + key.flag + "` | `" + key.env + "` |") !=
          std::string::npos);
  }
  // A `|` inside a cell is escaped, or the table would gain a column.
  CHECK(reference.find("`DURATION\\|auto`") != std::string::npos);
  // Quoted defaults show as YAML values; prose defaults stay prose.
  CHECK(reference.find("| `:9901` |") != std::string::npos);
  CHECK(reference.find("| the drain URL |") != std::string::npos);
  // Sections in the YAML file's order, each under its own heading.
  size_t top = reference.find("### Top level");
  size_t readiness = reference.find("### `readiness`");
  size_t monitor = reference.find("### `shutdown.drain.monitor`");
  size_t log = reference.find("### `log`");
  CHECK(top < readiness);
  CHECK(readiness < monitor);
  CHECK(monitor < log);
  CHECK(log != std::string::npos);
}

TEST_CASE("splicing replaces the generated part and keeps the prose around it") {
  std::string error;
  const std::string before = "# Title\n\nprose\n\n";
  const std::string after = "\nmore prose\n";
  const std::string stale = before + std::string(kConfigReferenceBegin) + "\nold table\n" +
                            std::string(kConfigReferenceEnd) + "\n" + after;
  std::optional<std::string> spliced = SpliceConfigReference(stale, &error);
  REQUIRE(spliced.has_value());
  CHECK(*spliced == before + RenderConfigReference() + after);
  // Splicing is idempotent: a fresh document stays as it is.
  CHECK(SpliceConfigReference(*spliced, &error) == spliced);
}

TEST_CASE("splicing refuses a document whose markers are missing or repeated") {
  const std::string begin(kConfigReferenceBegin);
  const std::string end(kConfigReferenceEnd);
  for (const std::string& document : {std::string("no markers"), begin + "\n", "\n" + end,
                                      end + "\n" + begin, begin + end + begin + end}) {
    CAPTURE(document);
    std::string error;
    CHECK_FALSE(SpliceConfigReference(document, &error).has_value());
    CHECK(error.find("markers") != std::string::npos);
  }
}

}  // namespace
}  // namespace lastcall

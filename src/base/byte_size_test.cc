#include "base/byte_size.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace lastcall {
namespace {

TEST_CASE("ParseByteSize accepts bytes and binary units") {
  struct Case {
    std::string text;
    size_t want;
  };
  const std::vector<Case> cases = {
      {"1024", 1024},       {"1KiB", 1024},      {"1Ki", 1024},
      {" 4MiB ", 4u << 20}, {"4 MiB", 4u << 20}, {"4Mi", 4u << 20},
      {"1GiB", 1u << 30},   {"1500B", 1500},     {"0004KiB", 4096},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::string error;
    const auto got = ParseByteSize(c.text, &error);
    REQUIRE_MESSAGE(got, error);
    CHECK(*got == c.want);
  }
}

TEST_CASE("ParseByteSize names what is wrong") {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "empty (expected a size such as 4MiB)"},
      {"MiB", "expected a number of bytes, optionally with a unit (B, KiB, MiB, GiB)"},
      {"-1", "expected a number of bytes, optionally with a unit (B, KiB, MiB, GiB)"},
      {"4MB", "unknown unit \"MB\" (units: B, KiB, MiB, GiB)"},
      {"4mib", "unknown unit \"mib\" (units: B, KiB, MiB, GiB)"},
      {"1.5MiB", "unknown unit \".5MiB\" (units: B, KiB, MiB, GiB)"},
      {"0", "must be between 1KiB and 1GiB"},
      {"1023", "must be between 1KiB and 1GiB"},
      {"2GiB", "must be between 1KiB and 1GiB"},
      {"99999999999999999999999999MiB", "must be between 1KiB and 1GiB"},
      {"18014398509481984KiB", "must be between 1KiB and 1GiB"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::string error;
    CHECK_FALSE(ParseByteSize(c.text, &error));
    CHECK(error == c.error);
  }
}

TEST_CASE("FormatByteSize round-trips") {
  CHECK(FormatByteSize(4u << 20) == "4MiB");
  CHECK(FormatByteSize(1536) == "1536B");
  CHECK(FormatByteSize(3072) == "3KiB");
  CHECK(FormatByteSize(1u << 30) == "1GiB");
  for (size_t n : {size_t{1024}, size_t{1025}, size_t{4u << 20}, size_t{(1u << 30) - 1}}) {
    std::string error;
    CHECK(ParseByteSize(FormatByteSize(n), &error) == n);
  }
}

}  // namespace
}  // namespace lastcall

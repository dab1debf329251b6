#include "base/text.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace lastcall {
namespace {

TEST_CASE("QuoteSnippet quotes, escapes and cuts untrusted text") {
  struct Case {
    std::string text;
    size_t max;
    std::string want;
  };
  const Case cases[] = {
      {"", 10, R"("")"},
      {"plain text", 80, R"("plain text")"},
      {R"({"a":"b\c"})", 80, R"("{\"a\":\"b\\c\"}")"},
      {"line\r\nnext\tcol", 80, R"("line\r\nnext\tcol")"},
      {std::string("\x1b[31m\0\xff", 7), 80, R"("\x1b[31m\x00\xff")"},
      {"0123456789", 4, R"("0123"...)"},
      {"0123", 4, R"("0123")"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(QuoteSnippet(c.text, c.max) == c.want);
  }
}

TEST_CASE("Quote keeps valid UTF-8 and escapes what is not; EscapeForDisplay leaves quotes") {
  CHECK(Quote("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
  CHECK(Quote("\xff\x1b[31m") == "\"\\xff\\x1b[31m\"");
  CHECK(Quote("\xc3") == "\"\\xc3\"");                    // a cut sequence
  CHECK(Quote("\xc0\xaf") == "\"\\xc0\\xaf\"");           // overlong '/'
  CHECK(Quote("\xed\xa0\x80") == "\"\\xed\\xa0\\x80\"");  // a surrogate
  CHECK(Quote("\xc2\x9b") ==
        "\"\\x9b\"");  // C1 CSI, a terminal escape: one code point, as YAML reads \x9b
  CHECK(Quote("\xf0\x9f\x99\x82") == "\"\xf0\x9f\x99\x82\"");
  CHECK(EscapeForDisplay("unit \"\xff\x1b[\" in \\d") == "unit \"\\xff\\x1b[\" in \\d");
  CHECK(EscapeForDisplay("ok \xc3\xa9") == "ok \xc3\xa9");
}

TEST_CASE("SplitUtc gives the UTC calendar fields, before 1970 too") {
  using std::chrono::microseconds;
  using std::chrono::system_clock;
  // 2024-02-29T23:59:59.999999Z: a leap day, the last microsecond of it.
  const UtcFields leap = SplitUtc(system_clock::time_point(microseconds(1709251199999999)));
  CHECK(leap.year == 2024);
  CHECK(leap.month == 2u);
  CHECK(leap.day == 29u);
  CHECK(leap.hour == 23);
  CHECK(leap.minute == 59);
  CHECK(leap.second == 59);
  CHECK(leap.microsecond == 999999);
  // 1969-12-31T23:59:59.500000Z: half a second before the epoch.
  const UtcFields before = SplitUtc(system_clock::time_point(microseconds(-500000)));
  CHECK(before.year == 1969);
  CHECK(before.month == 12u);
  CHECK(before.day == 31u);
  CHECK(before.second == 59);
  CHECK(before.microsecond == 500000);
}

}  // namespace
}  // namespace lastcall

#include "text.h"

#include <doctest/doctest.h>

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

}  // namespace
}  // namespace lastcall

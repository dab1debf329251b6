#include "json_field.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

namespace lastcall {
namespace {

TEST_CASE("ParseJsonPointer splits and unescapes reference tokens") {
  struct Case {
    std::string pointer;
    std::vector<std::string> tokens;
  };
  const Case cases[] = {
      {"", {}},
      {"/", {""}},
      {"/inflight", {"inflight"}},
      {"/stats/active/0", {"stats", "active", "0"}},
      {"/a~1b/c~0d/~01", {"a/b", "c~d", "~1"}},
      {"//x", {"", "x"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.pointer);
    std::string error;
    std::optional<std::vector<std::string>> tokens = ParseJsonPointer(c.pointer, &error);
    REQUIRE(tokens.has_value());
    CHECK(*tokens == c.tokens);
  }
}

TEST_CASE("ParseJsonPointer rejects what RFC 6901 does") {
  struct Case {
    std::string pointer;
    std::string error;
  };
  const Case cases[] = {
      {"inflight", R"(JSON pointer "inflight" must be empty or start with '/')"},
      {"/a~2", R"(JSON pointer "/a~2" has '~' not followed by 0 or 1)"},
      {"/a~", R"(JSON pointer "/a~" has '~' not followed by 0 or 1)"},
  };
  for (const Case& c : cases) {
    std::string error;
    CHECK_FALSE(ParseJsonPointer(c.pointer, &error).has_value());
    CHECK(error == c.error);
  }
}

TEST_CASE("ReadJsonNumber finds numbers") {
  struct Case {
    std::string body;
    std::string pointer;
    double value;
  };
  const Case cases[] = {
      {R"({"inflight": 3})", "/inflight", 3},
      {R"({"inflight": 0})", "/inflight", 0},
      {R"({"inflight": -2})", "/inflight", -2},
      {R"({"inflight": 2.5e1})", "/inflight", 25},
      {R"({"inflight": 18446744073709551615})", "/inflight", 18446744073709551615.0},
      {"\n  {\"status\":\"draining\",\"inflight\":7}\r\n", "/inflight", 7},
      {R"({"stats": {"http": {"active": 4}}})", "/stats/http/active", 4},
      {R"({"workers": [{"busy": 1}, {"busy": 5}]})", "/workers/1/busy", 5},
      {R"({"a/b": {"c~d": 9}})", "/a~1b/c~0d", 9},
      {R"({"": 6})", "/", 6},
      {"42", "", 42},
      {R"({"inflight": 1, "inflight": 2})", "/inflight", 2},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body);
    JsonNumber got = ReadJsonNumber(c.body, c.pointer);
    CHECK(got.error == "");
    REQUIRE(got.ok());
    CHECK(*got.value == c.value);
  }
}

TEST_CASE("ReadJsonNumber says what is wrong with the body") {
  struct Case {
    std::string body;
    std::string pointer;
    std::string error;
  };
  const Case cases[] = {
      {"", "/inflight", "body is empty, not JSON"},
      {" \r\n", "/inflight", "body is empty, not JSON"},
      {"<html><body>Bad Gateway</body></html>", "/inflight",
       "body is not JSON: parse error at line 1, column 1: syntax error while parsing value - "
       "invalid literal; last read: '<': <html><body>Bad Gateway</body></html>"},
      {"{\"inflight\": 3", "/inflight",
       "body is not JSON: parse error at line 1, column 15: syntax error while parsing object - "
       "unexpected end of input; expected '}': {\"inflight\": 3"},
      {"{\"inflight\": 3} trailing", "/inflight",
       "body is not JSON: parse error at line 1, column 19: syntax error while parsing value - "
       "invalid literal; last read: '3} tra'; expected end of input: {\"inflight\": 3} trailing"},
      {"OK", "/inflight",
       "body is not JSON: parse error at line 1, column 1: syntax error while parsing value - "
       "invalid literal; last read: 'O': OK"},
      {R"({"busy": true})", "/inflight", R"(no field /inflight in {"busy": true})"},
      {"{\n  \"Inflight\": 3\n}", "/inflight", R"(no field /inflight in { "Inflight": 3 })"},
      {R"({"inflight": {"count": 1}})", "/inflight/total",
       R"(no field /inflight/total in {"inflight": {"count": 1}})"},
      {R"({"inflight": 3})", "/inflight/x", R"(no field /inflight/x in {"inflight": 3})"},
      {R"([1, 2])", "/2", "no field /2 in [1, 2]"},
      {R"([1, 2])", "/01", "no field /01 in [1, 2]"},
      {R"([1, 2])", "/-", "no field /- in [1, 2]"},
      {R"({"inflight": "3"})", "/inflight", "field /inflight is a string, not a number"},
      {R"({"inflight": true})", "/inflight", "field /inflight is a boolean, not a number"},
      {R"({"inflight": null})", "/inflight", "field /inflight is null, not a number"},
      {R"({"inflight": [3]})", "/inflight", "field /inflight is an array, not a number"},
      {R"({"inflight": {}})", "/inflight", "field /inflight is an object, not a number"},
      {R"({"inflight": 3})", "", "the document is an object, not a number"},
      {R"({"inflight": 3})", "inflight",
       R"(JSON pointer "inflight" must be empty or start with '/')"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body);
    JsonNumber got = ReadJsonNumber(c.body, c.pointer);
    CHECK_FALSE(got.ok());
    CHECK(got.error == c.error);
  }
}

TEST_CASE("ReadJsonNumber quotes only the start of a long or binary body") {
  const std::string body = "{\"busy\": \"" + std::string(200, 'x') + "\"}";
  CHECK(ReadJsonNumber(body, "/inflight").error ==
        "no field /inflight in {\"busy\": \"" + std::string(70, 'x') + "...");
  const std::string binary("\x1b[2J\x00\xff", 6);
  CHECK(ReadJsonNumber(binary, "/inflight").error.ends_with(": ?[2J??"));
}

TEST_CASE("ReadJsonNumber survives deep nesting and rejects an overflowing number") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(ReadJsonNumber(deep, "/inflight").error.starts_with("no field /inflight in [[["));
  const std::string unclosed(100000, '[');
  CHECK(ReadJsonNumber(unclosed, "/inflight").error.starts_with("body is not JSON: "));
  CHECK(ReadJsonNumber(R"({"inflight": 1e400})", "/inflight").error ==
        R"(body is not JSON: number overflow parsing '1e400': {"inflight": 1e400})");
}

}  // namespace
}  // namespace lastcall

#include "base/json_field.h"

#include <doctest/doctest.h>

#include <chrono>
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

TEST_CASE("ReadJsonNumber bounds nesting and rejects an overflowing number") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(ReadJsonNumber(deep, "/inflight").error ==
        "body nests arrays and objects deeper than 64 levels: " + std::string(80, '[') + "...");
  const std::string unclosed(100000, '[');
  CHECK(ReadJsonNumber(unclosed, "/inflight").error.starts_with("body nests arrays and objects"));
  std::string at_limit = "{\"inflight\": 1, \"x\": ";
  at_limit += std::string(63, '[') + std::string(63, ']') + "}";
  CHECK(ReadJsonNumber(at_limit, "/inflight").value == 1);
  std::string over =
      "{\"inflight\": 1, \"x\": " + std::string(64, '[') + std::string(64, ']') + "}";
  CHECK(ReadJsonNumber(over, "/inflight").error.starts_with("body nests arrays and objects"));
  CHECK(ReadJsonNumber(R"({"inflight": 1e400})", "/inflight").error ==
        R"(body is not JSON: number overflow parsing '1e400': {"inflight": 1e400})");
}

TEST_CASE("ReadJsonNumber follows only the pointer's path") {
  // A key that matches at the wrong depth, or an index in an array off the path, is no match.
  CHECK(ReadJsonNumber(R"({"a": {"inflight": 1}, "b": 2})", "/inflight").error ==
        R"(no field /inflight in {"a": {"inflight": 1}, "b": 2})");
  CHECK(ReadJsonNumber(R"({"x": [7, 8], "w": [{"busy": 1}, {"busy": 5}]})", "/w/1/busy").value ==
        5);
  CHECK(ReadJsonNumber(R"({"w": [[1, 2], {"busy": 5}]})", "/w/1/busy").value == 5);
  CHECK(ReadJsonNumber(R"({"w": [{"busy": 5}, [1]]})", "/w/0/busy").value == 5);
  CHECK(ReadJsonNumber(R"({"inflight": 1, "inflight": {"n": 2}})", "/inflight").error ==
        "field /inflight is an object, not a number");
  CHECK(ReadJsonNumber(R"({"inflight": {"n": 2}, "inflight": 3})", "/inflight").value == 3);
  CHECK(ReadJsonNumber(R"([[1, 2], [3, 4]])", "/1/0").value == 3);
}

TEST_CASE("ReadJsonNumber stops when its deadline passes") {
  std::string big = "{\"filler\": [";
  for (int i = 0; i < 100000; ++i) big += "1,";
  big += "1], \"inflight\": 2}";
  const auto past = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  const JsonNumber late = ReadJsonNumber(big, "/inflight", past);
  CHECK(late.deadline_passed);
  CHECK(late.error == "gave up reading the body: the poll's deadline passed");
  const JsonNumber in_time =
      ReadJsonNumber(big, "/inflight", std::chrono::steady_clock::now() + std::chrono::hours(1));
  CHECK(in_time.value == 2);
  CHECK_FALSE(in_time.deadline_passed);
}

TEST_CASE("JsonNestingDepth counts brackets outside strings") {
  CHECK(JsonNestingDepth("3", 64) == 0);
  CHECK(JsonNestingDepth(R"({"a": [1, {"b": 2}]})", 64) == 3);
  CHECK(JsonNestingDepth(R"({"a": "[[[[\"[[["})", 64) == 1);
  CHECK(JsonNestingDepth(std::string(1000000, '['), 64) == 65);
  CHECK(JsonNestingDepth("]]]][", 64) == 1);
}

}  // namespace
}  // namespace lastcall

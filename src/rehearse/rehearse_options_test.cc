#include "rehearse_options.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace lastcall {
namespace {

using Words = std::vector<std::string>;

TEST_CASE("SplitCommandLine splits like a shell for simple quoting") {
  struct Case {
    std::string text;
    Words want;
  };
  const Case cases[] = {
      {"app", {"app"}},
      {"  app   --port 8080\t-v  ", {"app", "--port", "8080", "-v"}},
      {"app --name 'two words'", {"app", "--name", "two words"}},
      {"app --name \"two words\"", {"app", "--name", "two words"}},
      {"app --x=''", {"app", "--x="}},
      {"app ''", {"app", ""}},
      {"app \"say \\\"hi\\\"\"", {"app", "say \"hi\""}},
      {"app \"a\\\\b\" \"keep \\n\"", {"app", "a\\b", "keep \\n"}},
      {"app 'no $expansion' \"\\$HOME\"", {"app", "no $expansion", "$HOME"}},
      {"app a\\ b c\\'d", {"app", "a b", "c'd"}},
      {"app pre'fix'\"ed\"", {"app", "prefixed"}},
      {"sh -c 'exec app | tee log'", {"sh", "-c", "exec app | tee log"}},
      {"app --listen 127.0.0.1:{port}", {"app", "--listen", "127.0.0.1:{port}"}},
      {"app a#b x~y", {"app", "a#b", "x~y"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::string error;
    std::optional<Words> words = SplitCommandLine(c.text, &error);
    REQUIRE_MESSAGE(words.has_value(), error);
    CHECK(*words == c.want);
  }
}

TEST_CASE("SplitCommandLine refuses what only a shell could do, with exact messages") {
  const std::string hint =
      " (--app-cmd is split into words but not run by a shell: for pipes, redirections or "
      "variables use --app-cmd \"sh -c '...'\")";
  struct Case {
    std::string text;
    std::string want;
  };
  const Case cases[] = {
      {"", "no command"},
      {"   \t ", "no command"},
      {"app 'open", "unterminated single quote at character 5"},
      {"app \"open", "unterminated double quote at character 5"},
      {"app \\", "trailing backslash"},
      {"app | tee", "shell operator | at character 5" + hint},
      {"app; rm", "shell operator ; at character 4" + hint},
      {"app &", "shell operator & at character 5" + hint},
      {"app > log", "shell operator > at character 5" + hint},
      {"app < in", "shell operator < at character 5" + hint},
      {"app $PORT", "shell operator $ at character 5" + hint},
      {"app `id`", "shell operator ` at character 5" + hint},
      {"app (x)", "shell operator ( at character 5" + hint},
      {"~/bin/app", "shell operator ~ at character 1" + hint},
      {"app # comment", "shell operator # at character 5" + hint},
      {"app \"$HOME\"", "unquoted $ inside double quotes at character 6" + hint},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::string error;
    CHECK_FALSE(SplitCommandLine(c.text, &error).has_value());
    CHECK(error == c.want);
  }
}

TEST_CASE("ParsePathList") {
  std::string error;
  CHECK(*ParsePathList("/", &error) == Words{"/"});
  CHECK(*ParsePathList("/a,/b?x=1&y=%20", &error) == Words{"/a", "/b?x=1&y=%20"});
  struct Case {
    std::string text;
    std::string want;
  };
  const Case cases[] = {
      {"", "empty path (paths are separated by commas: /a,/b)"},
      {"/a,,/b", "empty path (paths are separated by commas: /a,/b)"},
      {"/a,", "empty path (paths are separated by commas: /a,/b)"},
      {"a", "path \"a\" does not start with /"},
      {"/a b", "path \"/a b\" contains a space or control character (escape it as %20)"},
      {"/a\r\nHost: x",
       "path \"/a\r\nHost: x\" contains a space or control character (escape it "
       "as %20)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK_FALSE(ParsePathList(c.text, &error).has_value());
    CHECK(error == c.want);
  }
  std::string many;
  for (size_t i = 0; i <= kMaxRehearsePaths; ++i) many += (i > 0 ? ",/" : "/") + std::to_string(i);
  CHECK_FALSE(ParsePathList(many, &error).has_value());
  CHECK(error == "more than 32 paths");
}

TEST_CASE("ValidateReportPath") {
  CHECK(ValidateReportPath("out.html").empty());
  CHECK(ValidateReportPath("dir/out.htm").empty());
  CHECK(ValidateReportPath("/tmp/r.json").empty());
  CHECK(ValidateReportPath("") == "empty file name");
  CHECK(ValidateReportPath("report.txt") ==
        "the file name must end in .html or .json (got \"report.txt\")");
}

}  // namespace
}  // namespace lastcall

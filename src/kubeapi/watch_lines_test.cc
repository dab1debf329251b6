#include "kubeapi/watch_lines.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace lastcall::kubeapi {
namespace {

struct Collect {
  std::vector<std::string> lines;
  std::function<bool(std::string_view)> Sink() {
    return [this](std::string_view line) {
      lines.emplace_back(line);
      return true;
    };
  }
};

TEST_CASE("watch lines: chunks cut anywhere give whole lines") {
  const std::string stream =
      "{\"type\":\"ADDED\"}\n{\"type\":\"BOOKMARK\"}\r\n\n{\"type\":\"x\"}\n";
  for (size_t step = 1; step <= stream.size(); ++step) {
    CAPTURE(step);
    WatchLineSplitter splitter;
    Collect got;
    for (size_t at = 0; at < stream.size(); at += step) {
      CHECK(splitter.Feed(std::string_view(stream).substr(at, step), got.Sink()) ==
            WatchLineSplitter::Result::kMore);
    }
    CHECK(got.lines == std::vector<std::string>{"{\"type\":\"ADDED\"}", "{\"type\":\"BOOKMARK\"}",
                                                "{\"type\":\"x\"}"});
    CHECK(splitter.pending() == 0);
  }
}

TEST_CASE("watch lines: a line past the bound fails before it is buffered whole") {
  WatchLineSplitter splitter(16);
  Collect got;
  CHECK(splitter.Feed("0123456789", got.Sink()) == WatchLineSplitter::Result::kMore);
  CHECK(splitter.pending() == 10);
  CHECK(splitter.Feed("0123456789", got.Sink()) == WatchLineSplitter::Result::kTooLarge);
  CHECK(splitter.error() == "a watch line longer than 16 bytes");
  CHECK(splitter.pending() == 0);
  // Exactly the bound is fine; one trickled byte at a time too.
  WatchLineSplitter exact(4);
  for (char c : std::string("abcd\n")) {
    CHECK(exact.Feed(std::string_view(&c, 1), got.Sink()) == WatchLineSplitter::Result::kMore);
  }
  CHECK(got.lines == std::vector<std::string>{"abcd"});
}

TEST_CASE("watch lines: on_line returning false stops the stream") {
  WatchLineSplitter splitter;
  int calls = 0;
  CHECK(splitter.Feed("a\nb\nc\n", [&](std::string_view) {
    calls += 1;
    return calls < 2;
  }) == WatchLineSplitter::Result::kStopped);
  CHECK(calls == 2);
}

}  // namespace
}  // namespace lastcall::kubeapi

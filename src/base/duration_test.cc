#include "base/duration.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace lastcall {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TEST_CASE("ParseDuration accepts Go-style durations") {
  struct Case {
    std::string text;
    Millis want;
  };
  const std::vector<Case> cases = {
      {"0", Millis{0}},
      {"0s", Millis{0}},
      {"0ms", Millis{0}},
      {"0h", Millis{0}},
      {"250ms", Millis{250}},
      {"5s", seconds{5}},
      {"1m", minutes{1}},
      {"1h", hours{1}},
      {"1m30s", seconds{90}},
      {"1h2m3s4ms", Millis{3'723'004}},
      {"1.5s", Millis{1500}},
      {"1.500s", Millis{1500}},
      {".5s", Millis{500}},
      {"1.s", Millis{1000}},
      {"0.001s", Millis{1}},
      {"1.5m", seconds{90}},
      {"0.5h", minutes{30}},
      {"2.25h", minutes{135}},
      {"100ms", Millis{100}},
      {"0.00001h", Millis{36}},
      {"1s500ms", Millis{1500}},
      {"30s30s", seconds{60}},  // Go sums repeated units; so do we
      {"+5s", seconds{5}},
      {" 5s ", seconds{5}},
      {"007s", seconds{7}},
      {"24h", hours{24}},
      {"23h59m59.999s", hours{24} - Millis{1}},
      {"86400000ms", hours{24}},
      {"1440m", hours{24}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::string error;
    std::optional<Millis> got = ParseDuration(c.text, &error);
    REQUIRE_MESSAGE(got.has_value(), error);
    CHECK(got->count() == c.want.count());
    CHECK(error.empty());
  }
}

TEST_CASE("ParseDuration rejects bad durations with a precise reason") {
  struct Case {
    std::string text;
    std::string want_error;
  };
  const std::vector<Case> cases = {
      {"", "empty duration: write a number and a unit, such as 5s, 250ms or 1m30s"},
      {"   ", "empty duration: write a number and a unit, such as 5s, 250ms or 1m30s"},
      {"-5s", "negative durations are not allowed"},
      {"-0", "negative durations are not allowed"},
      {"1m-5s", "unknown unit \"m-\" (units: h, m, s, ms)"},
      {"5", "missing unit after \"5\" (units: h, m, s, ms)"},
      {"1.5", "missing unit after \"1.5\" (units: h, m, s, ms)"},
      {"00", "missing unit after \"00\" (units: h, m, s, ms)"},
      {"1m30", "missing unit after \"30\" (units: h, m, s, ms)"},
      {"five", "expected a number before \"five\" (durations look like 5s, 250ms or 1m30s)"},
      {"s", "expected a number before \"s\" (durations look like 5s, 250ms or 1m30s)"},
      {"ms", "expected a number before \"ms\" (durations look like 5s, 250ms or 1m30s)"},
      {".s", "expected a number before \".s\" (durations look like 5s, 250ms or 1m30s)"},
      {"+", "expected a number after \"+\""},
      {"++5s", "expected a number before \"+5s\" (durations look like 5s, 250ms or 1m30s)"},
      {"1m 30s", "spaces are not allowed inside a duration"},
      {"1..5s", "missing unit after \"1.\" (units: h, m, s, ms)"},
      {"5x", "unknown unit \"x\" (units: h, m, s, ms)"},
      {"5S", "unknown unit \"S\" (units: h, m, s, ms)"},
      {"5sec", "unknown unit \"sec\" (units: h, m, s, ms)"},
      {"5d", "unknown unit \"d\" (units: h, m, s, ms)"},
      {"5us", "unit \"us\" is finer than lastcall's millisecond resolution: use ms"},
      {"5ns", "unit \"ns\" is finer than lastcall's millisecond resolution: use ms"},
      {"5\xC2\xB5s", "unit \"\xC2\xB5s\" is finer than lastcall's millisecond resolution: use ms"},
      {"5\xCE\xBCs", "unit \"\xCE\xBCs\" is finer than lastcall's millisecond resolution: use ms"},
      {"1.5ms", "finer than a millisecond: lastcall has millisecond resolution"},
      {"0.0001s", "finer than a millisecond: lastcall has millisecond resolution"},
      {"1.0000000000001s", "finer than a millisecond: lastcall has millisecond resolution"},
      {"0.0000001h", "finer than a millisecond: lastcall has millisecond resolution"},
      {"25h", "longer than 24h, the maximum: no shutdown step should take that long"},
      {"24h1ms", "longer than 24h, the maximum: no shutdown step should take that long"},
      {"86400001ms", "longer than 24h, the maximum: no shutdown step should take that long"},
      {"99999999999999999999999s",
       "longer than 24h, the maximum: no shutdown step should take that long"},
      {"9223372036854775807ms",
       "longer than 24h, the maximum: no shutdown step should take that long"},
      {"12h12h1ms", "longer than 24h, the maximum: no shutdown step should take that long"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::string error;
    CHECK_FALSE(ParseDuration(c.text, &error).has_value());
    CHECK(error == c.want_error);
  }
}

TEST_CASE("ParseDuration tolerates a null error pointer") {
  CHECK_FALSE(ParseDuration("nope", nullptr).has_value());
  CHECK(ParseDuration("5s", nullptr) == Millis{5000});
}

TEST_CASE("FormatDuration is canonical") {
  struct Case {
    Millis duration;
    std::string want;
  };
  const std::vector<Case> cases = {
      {Millis{0}, "0s"},
      {Millis{1}, "1ms"},
      {Millis{250}, "250ms"},
      {Millis{999}, "999ms"},
      {Millis{1000}, "1s"},
      {Millis{1500}, "1.5s"},
      {Millis{1050}, "1.05s"},
      {Millis{1001}, "1.001s"},
      {seconds{59}, "59s"},
      {seconds{60}, "1m"},
      {seconds{90}, "1m30s"},
      {Millis{90'500}, "1m30.5s"},
      {hours{1}, "1h"},
      {hours{1} + Millis{500}, "1h0.5s"},
      {hours{1} + minutes{30}, "1h30m"},
      {hours{1} + seconds{1}, "1h1s"},
      {hours{24}, "24h"},
      {hours{100}, "100h"},
      {Millis{-1}, "-1ms"},
      {Millis{-1500}, "-1.5s"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.duration.count());
    CHECK(FormatDuration(c.duration) == c.want);
  }
}

TEST_CASE("FormatDuration round-trips through ParseDuration") {
  std::vector<Millis> samples = {Millis{0},         Millis{1},
                                 Millis{999},       Millis{1000},
                                 Millis{1001},      Millis{59'999},
                                 Millis{60'000},    Millis{3'599'999},
                                 Millis{3'600'001}, kMaxDuration - Millis{1},
                                 kMaxDuration};
  // A deterministic spread over the whole range, dense in the small values people use.
  for (int64_t step = 1; step < kMaxDuration.count(); step = step * 3 + 7) {
    samples.push_back(Millis{step});
    samples.push_back(Millis{kMaxDuration.count() - step});
  }
  for (Millis d : samples) {
    std::string text = FormatDuration(d);
    CAPTURE(text);
    std::string error;
    std::optional<Millis> back = ParseDuration(text, &error);
    REQUIRE_MESSAGE(back.has_value(), error);
    CHECK(back->count() == d.count());
  }
}

}  // namespace
}  // namespace lastcall

#include "prestop/prestop_answer.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace lastcall {
namespace {

TEST_CASE("ReadSidecarAnswer reads the sidecar's own answers") {
  const SidecarAnswer answer = ReadSidecarAnswer(
      R"({"phase":"draining","trigger":"prestop","detail":"","timeline":[)"
      R"({"phase":"unready","at":"2026-11-29T09:00:00.000Z","elapsed_ms":0,"detail":"preStop"},)"
      R"({"phase":"draining","elapsed_ms":5001,"detail":"lb_delay over"}],)"
      R"("phase_durations_ms":{"unready":5001},"last_value":3,"budget_ms":27000,"extra":[1]})");
  REQUIRE_MESSAGE(answer.ok(), answer.error);
  const SidecarReport& report = *answer.report;
  CHECK(report.phase == "draining");
  REQUIRE(report.timeline.size() == 2);
  CHECK(report.timeline[1].elapsed_ms == 5001);
  CHECK(report.timeline[1].phase == "draining");
  CHECK(report.timeline[1].detail == "lb_delay over");
  CHECK(report.last_value == 3);
  CHECK(report.budget == Millis(27000));
}

TEST_CASE("ReadSidecarAnswer: absent and null fields keep their defaults") {
  const SidecarAnswer answer =
      ReadSidecarAnswer(R"({"last_value":null,"budget_ms":null,"timeline":[{}]})");
  REQUIRE_MESSAGE(answer.ok(), answer.error);
  CHECK(answer.report->phase.empty());
  CHECK_FALSE(answer.report->last_value);
  CHECK_FALSE(answer.report->budget);
  REQUIRE(answer.report->timeline.size() == 1);
  CHECK(answer.report->timeline[0].elapsed_ms == 0);
}

TEST_CASE("ReadSidecarAnswer names the field of the wrong shape") {
  struct Case {
    std::string body;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "the answer is not JSON"},
      {"{\"phase\": ", "the answer is not JSON"},
      {"[]", "the answer is an array, not a JSON object"},
      {"3", "the answer is a number, not a JSON object"},
      {"null", "the answer is null, not a JSON object"},
      {R"({"timeline": 5})", R"(field "timeline" is a number, not an array)"},
      {R"({"timeline": {"0": {}}})", R"(field "timeline" is an object, not an array)"},
      {R"({"timeline": [3]})", "timeline[0] is a number, not an object"},
      {R"({"timeline": [{}, {"elapsed_ms": "5"}]})",
       "timeline[1].elapsed_ms is a string, not a number"},
      {R"({"timeline": [{"elapsed_ms": -1}]})",
       "timeline[0].elapsed_ms is -1, not a whole number of ms from 0 to 86400000"},
      {R"({"timeline": [{"elapsed_ms": 1.5}]})",
       "timeline[0].elapsed_ms is 1.5, not a whole number of ms from 0 to 86400000"},
      {R"({"timeline": [{"phase": 7}]})", "timeline[0].phase is a number, not a string"},
      {R"({"timeline": [{"detail": []}]})", "timeline[0].detail is an array, not a string"},
      {R"({"phase": true})", R"(field "phase" is a boolean, not a string)"},
      {R"({"detail": {}})", R"(field "detail" is an object, not a string)"},
      {R"({"last_value": "3"})", R"(field "last_value" is a string, not a number)"},
      {R"({"budget_ms": "27000"})", R"(field "budget_ms" is a string, not a number)"},
      {R"({"budget_ms": -5})",
       R"(field "budget_ms" is -5, not a whole number of ms from 0 to 86400000)"},
      {R"({"budget_ms": 1e300})",
       R"(field "budget_ms" is 1e+300, not a whole number of ms from 0 to 86400000)"},
      {R"({"budget_ms": 18446744073709551615})",
       R"(field "budget_ms" is 18446744073709551615, not a whole number of ms from 0 to 86400000)"},
      {std::string(17, '[') + std::string(17, ']'), "the answer nests deeper than 16 levels"},
      {"{\"x\": " + std::string(100000, '[') + "}", "the answer nests deeper than 16 levels"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body.substr(0, 60));
    const SidecarAnswer answer = ReadSidecarAnswer(c.body);
    CHECK_FALSE(answer.ok());
    CHECK(answer.error == c.error);
  }
}

}  // namespace
}  // namespace lastcall

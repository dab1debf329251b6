#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "monitor_test_fakes.h"
#include "monitors/monitor.h"

namespace lastcall {
namespace {

using testing::Answer;
using testing::CannedHttpClient;
using testing::Failure;
using testing::MonitorConfig;

PollResult PollOnce(const Config& config, const HttpResponse& response) {
  CannedHttpClient http;
  http.response = response;
  return MakeJsonMonitor(config, http)->Poll(std::chrono::steady_clock::now() + Millis(5000));
}

TEST_CASE("json monitor: the number at the pointer, against drained_at") {
  struct Case {
    std::string field;
    double drained_at;
    HttpResponse response;
    PollOutcome outcome;
    double value;
    std::string detail;
  };
  const Case cases[] = {
      {"/inflight", 0, Answer(200, R"({"inflight": 0})"), PollOutcome::kDrained, 0,
       "HTTP 200, /inflight = 0"},
      {"/inflight", 0, Answer(202, R"({"inflight": 3})"), PollOutcome::kBusy, 3,
       "HTTP 202, /inflight = 3"},
      {"/inflight", 2, Answer(200, R"({"inflight": 2})"), PollOutcome::kDrained, 2,
       "HTTP 200, /inflight = 2"},
      {"/inflight", 2, Answer(200, R"({"inflight": 2.5})"), PollOutcome::kBusy, 2.5,
       "HTTP 200, /inflight = 2.5"},
      {"/stats/active", 0, Answer(200, R"({"stats": {"active": 12}})"), PollOutcome::kBusy, 12,
       "HTTP 200, /stats/active = 12"},
      {"/workers/0/jobs", 0, Answer(200, R"({"workers": [{"jobs": 0}]})"), PollOutcome::kDrained, 0,
       "HTTP 200, /workers/0/jobs = 0"},
      // Any status counts when the body carries the number.
      {"/inflight", 0, Answer(503, R"({"inflight": 0, "state": "stopping"})"),
       PollOutcome::kDrained, 0, "HTTP 503, /inflight = 0"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.detail);
    Config config = MonitorConfig(MonitorKind::kJson);
    config.shutdown.drain.monitor.field = c.field;
    config.shutdown.drain.monitor.drained_at = c.drained_at;
    PollResult got = PollOnce(config, c.response);
    CHECK(got.outcome == c.outcome);
    REQUIRE(got.value.has_value());
    CHECK(*got.value == c.value);
    CHECK(got.detail == c.detail);
  }
}

TEST_CASE("json monitor: an answer without the number is an error that says why") {
  struct Case {
    HttpResponse response;
    std::string detail;
  };
  const Case cases[] = {
      {Answer(200, R"({"inflight": "3"})"), "HTTP 200: field /inflight is a string, not a number"},
      {Answer(200, R"({"inflight": true})"),
       "HTTP 200: field /inflight is a boolean, not a number"},
      {Answer(200, R"({"busy": 1})"), R"(HTTP 200: no field /inflight in {"busy": 1})"},
      {Answer(200, ""), "HTTP 200: body is empty, not JSON"},
      {Answer(200, "{\"inflight\": 1, \"x\": " + std::string(100000, '[')),
       "HTTP 200: body nests arrays and objects deeper than 64 levels: {\"inflight\": 1, \"x\": " +
           std::string(59, '[') + "..."},
      {Answer(502, "<html>Bad Gateway</html>"),
       "HTTP 502: body is not JSON: parse error at line 1, column 1: syntax error while parsing "
       "value - invalid literal; last read: '<': <html>Bad Gateway</html>"},
  };
  Config config = MonitorConfig(MonitorKind::kJson);
  for (const Case& c : cases) {
    CAPTURE(c.detail);
    PollResult got = PollOnce(config, c.response);
    CHECK(got.outcome == PollOutcome::kError);
    CHECK_FALSE(got.value.has_value());
    CHECK(got.detail == c.detail);
  }
}

TEST_CASE("json monitor: a negative in-flight count is an error, not drained") {
  Config config = MonitorConfig(MonitorKind::kJson);
  for (const char* body : {R"({"inflight": -1})", R"({"inflight": -0.5})"}) {
    CAPTURE(body);
    PollResult got = PollOnce(config, Answer(200, body));
    CHECK(got.outcome == PollOutcome::kError);
    CHECK(got.detail.ends_with(": a negative in-flight count is not a count"));
  }
  CHECK(PollOnce(config, Answer(200, R"({"inflight": -1})")).detail ==
        "HTTP 200, /inflight = -1: a negative in-flight count is not a count");
  CHECK(PollOnce(config, Answer(200, R"({"inflight": -0.0})")).outcome == PollOutcome::kDrained);
}

TEST_CASE("json monitor: a body that takes past the poll's deadline to read is an error") {
  Config config = MonitorConfig(MonitorKind::kJson);
  CannedHttpClient http;
  std::string big = "{\"filler\": [";
  for (int i = 0; i < 100000; ++i) big += "1,";
  http.response = Answer(200, big + "1], \"inflight\": 0}");
  PollResult got =
      MakeJsonMonitor(config, http)->Poll(std::chrono::steady_clock::now() - Millis(1));
  CHECK(got.outcome == PollOutcome::kError);
  CHECK(got.detail == "HTTP 200: gave up reading the body: the poll's deadline passed");
}

TEST_CASE("json monitor: refused is reported as refused; it asks for JSON") {
  Config config = MonitorConfig(MonitorKind::kJson);
  config.shutdown.drain.monitor.url = testing::ParsedUrl("http://[::1]:8080/inflight");
  CannedHttpClient http;
  http.response = Failure(HttpError::kRefused, "connect: Connection refused");
  std::unique_ptr<DrainMonitor> monitor = MakeJsonMonitor(config, http);
  CHECK(monitor->kind() == "json");
  PollResult got = monitor->Poll(std::chrono::steady_clock::now() + Millis(5000));
  CHECK(got.outcome == PollOutcome::kRefused);
  CHECK(got.detail == "GET http://[::1]:8080/inflight: connect: Connection refused");
  REQUIRE(http.requests.size() == 1);
  CHECK(http.requests[0].method == "GET");
  CHECK(http.requests[0].url.target == "/inflight");
  CHECK(testing::HeaderOf(http.requests[0], "Accept") == "application/json");
}

}  // namespace
}  // namespace lastcall

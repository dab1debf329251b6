#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "monitor.h"
#include "monitor_test_fakes.h"

namespace lastcall {
namespace {

using testing::Answer;
using testing::CannedHttpClient;
using testing::Failure;
using testing::MonitorConfig;

constexpr auto kFarDeadline = std::chrono::hours(1);

PollResult PollOnce(const Config& config, const HttpResponse& response) {
  CannedHttpClient http;
  http.response = response;
  std::unique_ptr<DrainMonitor> monitor = MakeStatusMonitor(config, http);
  return monitor->Poll(std::chrono::steady_clock::now() + kFarDeadline);
}

TEST_CASE("status monitor: the status code says drained or busy") {
  Config config = MonitorConfig(MonitorKind::kStatus);
  struct Case {
    HttpResponse response;
    PollOutcome outcome;
    double value;
    std::string detail;
  };
  const Case cases[] = {
      {Answer(200), PollOutcome::kDrained, 200, "HTTP 200"},
      {Answer(202), PollOutcome::kBusy, 202, "HTTP 202"},
      {Answer(503, "Service Unavailable"), PollOutcome::kBusy, 503,
       "HTTP 503 (a server error, counted as busy)"},
      {Answer(302), PollOutcome::kBusy, 302,
       "HTTP 302 (a redirect, counted as busy: lastcall does not follow redirects)"},
      {Answer(404, "not found"), PollOutcome::kBusy, 404, "HTTP 404"},
      // The default drain protocol's body carries the in-flight count: shown, not decisive.
      {Answer(202, R"({"inflight": 3})"), PollOutcome::kBusy, 3, "HTTP 202, /inflight = 3"},
      {Answer(200, " {\"inflight\": 0}\n"), PollOutcome::kDrained, 0, "HTTP 200, /inflight = 0"},
      {Answer(200, R"({"inflight": 2})"), PollOutcome::kDrained, 2, "HTTP 200, /inflight = 2"},
      {Answer(202, R"({"inflight": 1.5})"), PollOutcome::kBusy, 1.5, "HTTP 202, /inflight = 1.5"},
      {Answer(202, R"({"busy": true})"), PollOutcome::kBusy, 202, "HTTP 202"},
      {Answer(202, R"({"inflight": "3"})"), PollOutcome::kBusy, 202, "HTTP 202"},
      {Answer(202, "{not json"), PollOutcome::kBusy, 202, "HTTP 202"},
      {Answer(202, "3"), PollOutcome::kBusy, 202, "HTTP 202"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.detail);
    PollResult got = PollOnce(config, c.response);
    CHECK(got.outcome == c.outcome);
    REQUIRE(got.value.has_value());
    CHECK(*got.value == c.value);
    CHECK(got.detail == c.detail);
  }
}

TEST_CASE("status monitor: drained_status lists every drained answer") {
  Config config = MonitorConfig(MonitorKind::kStatus);
  config.shutdown.drain.monitor.drained_status = {204, 404};
  CHECK(PollOnce(config, Answer(404)).outcome == PollOutcome::kDrained);
  CHECK(PollOnce(config, Answer(204)).outcome == PollOutcome::kDrained);
  CHECK(PollOnce(config, Answer(200)).outcome == PollOutcome::kBusy);
}

TEST_CASE("status monitor: transport failures are refused or errors, with what happened") {
  Config config = MonitorConfig(MonitorKind::kStatus);
  struct Case {
    HttpResponse response;
    PollOutcome outcome;
    std::string detail;
  };
  const Case cases[] = {
      {Failure(HttpError::kRefused, "connect: Connection refused"), PollOutcome::kRefused,
       "GET http://127.0.0.1:8080/drain: connect: Connection refused"},
      {Failure(HttpError::kTimeout, "no answer within 1000ms"), PollOutcome::kError,
       "GET http://127.0.0.1:8080/drain: no answer within 1000ms"},
      {Failure(HttpError::kReset, "connection reset by peer"), PollOutcome::kError,
       "GET http://127.0.0.1:8080/drain: connection reset by peer"},
      {Failure(HttpError::kMalformed, "status line is not HTTP/1.x"), PollOutcome::kError,
       "GET http://127.0.0.1:8080/drain: status line is not HTTP/1.x"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.detail);
    PollResult got = PollOnce(config, c.response);
    CHECK(got.outcome == c.outcome);
    CHECK_FALSE(got.value.has_value());
    CHECK(got.detail == c.detail);
  }
  PollResult bare = PollOnce(config, Failure(HttpError::kOther, ""));
  CHECK(bare.outcome == PollOutcome::kError);
  CHECK(bare.detail ==
        "GET http://127.0.0.1:8080/drain: " + std::string(ToString(HttpError::kOther)));
}

TEST_CASE("status monitor: GETs the monitor URL, or the trigger URL when none is set") {
  Config config = MonitorConfig(MonitorKind::kStatus);
  config.shutdown.drain.trigger.url = testing::ParsedUrl("http://127.0.0.1:9000/admin/drain?x=1");
  CannedHttpClient http;
  std::unique_ptr<DrainMonitor> monitor = MakeStatusMonitor(config, http);
  CHECK(monitor->kind() == "status");
  monitor->Poll(std::chrono::steady_clock::now() + kFarDeadline);
  REQUIRE(http.requests.size() == 1);
  CHECK(http.requests[0].method == "GET");
  CHECK(http.requests[0].url.host == "127.0.0.1");
  CHECK(http.requests[0].url.port == 9000);
  CHECK(http.requests[0].url.target == "/admin/drain?x=1");
  CHECK(http.requests[0].body.empty());

  config.shutdown.drain.monitor.url = testing::ParsedUrl("http://127.0.0.1:8081/idle");
  CannedHttpClient http2;
  MakeStatusMonitor(config, http2)->Poll(std::chrono::steady_clock::now() + kFarDeadline);
  REQUIRE(http2.requests.size() == 1);
  CHECK(http2.requests[0].url.port == 8081);
  CHECK(http2.requests[0].url.target == "/idle");
}

TEST_CASE("status monitor: each poll is due by the earlier of the caller's deadline and timeout") {
  Config config = MonitorConfig(MonitorKind::kStatus);
  config.shutdown.drain.monitor.timeout = Millis(250);
  CannedHttpClient http;
  std::unique_ptr<DrainMonitor> monitor = MakeStatusMonitor(config, http);
  const auto before = std::chrono::steady_clock::now();
  monitor->Poll(before + kFarDeadline);
  const auto after = std::chrono::steady_clock::now();
  REQUIRE(http.deadlines.size() == 1);
  CHECK(http.deadlines[0] >= before + Millis(250));
  CHECK(http.deadlines[0] <= after + Millis(250));

  const Deadline soon = std::chrono::steady_clock::now() + Millis(20);
  monitor->Poll(soon);
  REQUIRE(http.deadlines.size() == 2);
  CHECK(http.deadlines[1] == soon);
}

// An unparsable URL cannot reach a monitor any more (the loader refuses it, with its place); a
// Config built without any URL still must not crash or send.
TEST_CASE("status monitor: no URL at all is an error on every poll, and nothing is sent") {
  Config config = MonitorConfig(MonitorKind::kStatus);
  config.shutdown.drain.trigger.url.reset();
  config.shutdown.drain.monitor.url.reset();
  CannedHttpClient http;
  PollResult got =
      MakeStatusMonitor(config, http)->Poll(std::chrono::steady_clock::now() + kFarDeadline);
  CHECK(got.outcome == PollOutcome::kError);
  CHECK(got.detail.starts_with("no monitor URL: "));
  CHECK(http.requests.empty());
}

}  // namespace
}  // namespace lastcall

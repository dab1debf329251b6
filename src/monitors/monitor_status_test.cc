#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "monitor_test_fakes.h"
#include "monitors/monitor.h"
#include "monitors/monitor_request.h"

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

TEST_CASE("WithWaitParameter adds wait= to the query, or starts one") {
  CHECK(WithWaitParameter("/drain", Millis(5000)) == "/drain?wait=5000ms");
  CHECK(WithWaitParameter("/drain?x=1", Millis(250)) == "/drain?x=1&wait=250ms");
  CHECK(WithWaitParameter("/drain?", Millis(1)) == "/drain?wait=1ms");
  CHECK(WithWaitParameter("/drain?x=1&", Millis(1)) == "/drain?x=1&wait=1ms");
}

TEST_CASE("status monitor long poll: asks the app to wait, and the poll may last wait + timeout") {
  Config config = MonitorConfig(MonitorKind::kStatus);
  config.shutdown.drain.trigger.url = testing::ParsedUrl("http://127.0.0.1:9000/admin/drain?x=1");
  config.shutdown.drain.monitor.long_poll = Millis(5000);
  config.shutdown.drain.monitor.timeout = Millis(1000);
  CannedHttpClient http;
  http.response = Answer(200, R"({"inflight": 0})");
  std::unique_ptr<DrainMonitor> monitor = MakeStatusMonitor(config, http);
  const auto before = std::chrono::steady_clock::now();
  PollResult drained = monitor->Poll(before + kFarDeadline);
  const auto after = std::chrono::steady_clock::now();
  CHECK(drained.outcome == PollOutcome::kDrained);
  CHECK_FALSE(drained.held);
  CHECK(drained.detail == "HTTP 200, /inflight = 0");
  REQUIRE(http.requests.size() == 1);
  CHECK(http.requests[0].url.target == "/admin/drain?x=1&wait=5000ms");
  CHECK(http.deadlines[0] >= before + Millis(6000));
  CHECK(http.deadlines[0] <= after + Millis(6000));

  // The caller's deadline shortens the wait so that the answer still comes in time...
  const auto now = std::chrono::steady_clock::now();
  monitor->Poll(now + Millis(3000));
  REQUIRE(http.requests.size() == 2);
  const std::string& shortened = http.requests[1].url.target;
  const std::string prefix = "/admin/drain?x=1&wait=";
  REQUIRE(shortened.rfind(prefix, 0) == 0);
  const int wait_ms = std::stoi(shortened.substr(prefix.size()));
  CHECK(wait_ms <= 2000);  // 2000 unless the clock moved a millisecond since `now`
  CHECK(wait_ms >= 1500);
  CHECK(http.deadlines[1] == now + Millis(3000));
  // ... and one that leaves no time to wait makes a plain poll.
  monitor->Poll(std::chrono::steady_clock::now() + Millis(900));
  REQUIRE(http.requests.size() == 3);
  CHECK(http.requests[2].url.target == "/admin/drain?x=1");

  // Off (0s): never a wait.
  config.shutdown.drain.monitor.long_poll = Millis(0);
  CannedHttpClient plain;
  MakeStatusMonitor(config, plain)->Poll(std::chrono::steady_clock::now() + kFarDeadline);
  CHECK(plain.requests[0].url.target == "/admin/drain?x=1");
}

// Answers `response` after `delay` of real time: an app that holds the long poll.
class SlowHttpClient final : public HttpClient {
 public:
  SlowHttpClient(HttpResponse response, Millis delay)
      : response_(std::move(response)), delay_(delay) {}
  HttpResponse Send(const HttpRequest&, Deadline) override {
    std::this_thread::sleep_for(delay_);
    return response_;
  }

 private:
  HttpResponse response_;
  Millis delay_;
};

TEST_CASE("status monitor long poll: busy after the wait is held; busy at once is not") {
  Config config = MonitorConfig(MonitorKind::kStatus);
  config.shutdown.drain.monitor.long_poll = Millis(20);
  // Held for the whole wait: the next poll may follow at once.
  SlowHttpClient holding(Answer(202, R"({"inflight": 2})"), Millis(20));
  PollResult held =
      MakeStatusMonitor(config, holding)->Poll(std::chrono::steady_clock::now() + kFarDeadline);
  CHECK(held.outcome == PollOutcome::kBusy);
  CHECK(held.held);
  CHECK(held.detail == "HTTP 202, /inflight = 2, long poll held 20ms");
  // An app that ignores wait= (answers at once) is not held: the interval applies.
  config.shutdown.drain.monitor.long_poll = Millis(60000);
  CannedHttpClient at_once;
  at_once.response = Answer(202);
  PollResult early =
      MakeStatusMonitor(config, at_once)->Poll(std::chrono::steady_clock::now() + kFarDeadline);
  CHECK(early.outcome == PollOutcome::kBusy);
  CHECK_FALSE(early.held);
  CHECK(early.detail == "HTTP 202, long poll of 1m answered early");
  // Errors are never held.
  at_once.response = Failure(HttpError::kTimeout, "no answer");
  CHECK_FALSE(MakeStatusMonitor(config, at_once)
                  ->Poll(std::chrono::steady_clock::now() + kFarDeadline)
                  .held);
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

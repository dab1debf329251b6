#include <doctest/doctest.h>

#include <chrono>
#include <limits>
#include <string>

#include "monitor_test_fakes.h"
#include "monitors/monitor.h"
#include "test_fixtures.h"

namespace lastcall {
namespace {

using testing::Answer;
using testing::CannedHttpClient;
using testing::Failure;
using testing::MonitorConfig;

Config PrometheusConfig(std::string metric, double drained_at = 0) {
  Config config = MonitorConfig(MonitorKind::kPrometheus);
  config.shutdown.drain.monitor.url = testing::ParsedUrl("http://127.0.0.1:9901/stats/prometheus");
  config.shutdown.drain.monitor.metric = std::move(metric);
  config.shutdown.drain.monitor.drained_at = drained_at;
  return config;
}

PollResult PollOnce(const Config& config, const HttpResponse& response) {
  CannedHttpClient http;
  http.response = response;
  return MakePrometheusMonitor(config, http)->Poll(std::chrono::steady_clock::now() + Millis(5000));
}

TEST_CASE("prometheus monitor: the sum of the selected samples, against drained_at") {
  const std::string envoy = testing::ReadFixture("envoy_stats_prometheus.txt");
  const std::string python = testing::ReadFixture("python_prometheus_client.txt");
  const std::string ingress =
      R"(envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="ingress_http"})";
  struct Case {
    std::string page;
    std::string metric;
    double drained_at;
    PollOutcome outcome;
    double value;
    std::string detail;
  };
  const Case cases[] = {
      {envoy, ingress, 0, PollOutcome::kBusy, 5, ingress + " = 5 (1 series)"},
      {envoy, ingress, 5, PollOutcome::kDrained, 5, ingress + " = 5 (1 series)"},
      {envoy, "envoy_cluster_upstream_rq_active", 0, PollOutcome::kBusy, 6,
       "envoy_cluster_upstream_rq_active = 6 (2 series)"},
      {envoy, "envoy_cluster_upstream_rq_pending_active", 0, PollOutcome::kDrained, 0,
       "envoy_cluster_upstream_rq_pending_active = 0 (2 series)"},
      // Declared (HELP/TYPE) or with other series, but no series of these labels: nothing busy.
      {python, "inprogress_jobs", 0, PollOutcome::kDrained, 0,
       "inprogress_jobs = 0 (no matching series)"},
      {envoy, R"(envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="egress"})", 0,
       PollOutcome::kDrained, 0,
       R"(envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="egress"} = 0 (no )"
       R"(matching series))"},
      {"rq NaN\nrq 2\n", "rq", 0, PollOutcome::kBusy, 2, "rq = 2 (2 series, 1 NaN left out)"},
      {"rq 1\nrq +Inf\n", "rq", 1000, PollOutcome::kBusy, std::numeric_limits<double>::infinity(),
       "rq = +Inf (2 series)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.detail);
    PollResult got = PollOnce(PrometheusConfig(c.metric, c.drained_at), Answer(200, c.page));
    CHECK(got.outcome == c.outcome);
    REQUIRE(got.value.has_value());
    CHECK(*got.value == c.value);
    CHECK(got.detail == c.detail);
  }
}

TEST_CASE("prometheus monitor: what cannot be read is an error, never drained") {
  const std::string envoy = testing::ReadFixture("envoy_stats_prometheus.txt");
  struct Case {
    std::string metric;
    HttpResponse response;
    std::string detail;
  };
  const Case cases[] = {
      {"envoy_http_downstream_rq_actve", Answer(200, envoy),
       "metric envoy_http_downstream_rq_actve not found in 67 samples"},
      {"rq", Answer(200, ""), "metric rq not found in 0 samples"},
      {"rq", Answer(200, "rq 1\nrq{a=\"x} 2\n"),
       R"(metrics page is malformed: line 2: the value of label "a" is not closed: "rq{a=\"x} 2")"},
      {"rq", Answer(500, "oops"), R"(metrics answer HTTP 500 "oops")"},
      {"rq", Answer(404), "metrics answer HTTP 404"},
      {"rq", Answer(200, "rq NaN\n"), "all 1 samples of rq are NaN"},
      {"rq", Answer(200, "rq -Inf\n"), "rq = -Inf (1 series): not a count"},
      {"rq", Answer(200, "rq -1\n"), "rq = -1 (1 series): not a count"},
      {"rq", Answer(200, "rq{a=\"x\"} 2\nrq{a=\"y\"} -3\n"), "rq = -1 (2 series): not a count"},
      {"rq", Answer(200, "rq -Inf\nrq +Inf\n"), "rq = NaN (2 series): not a count"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.detail);
    PollResult got = PollOnce(PrometheusConfig(c.metric), c.response);
    CHECK(got.outcome == PollOutcome::kError);
    CHECK(got.detail == c.detail);
  }
}

TEST_CASE("prometheus monitor: a page that takes past the poll's deadline to scan is an error") {
  std::string page;
  for (int i = 0; i < 1000; ++i) page += "rq{i=\"" + std::to_string(i) + "\"} 1\n";
  Config config = PrometheusConfig("rq");
  CannedHttpClient http;
  http.response = Answer(200, page);
  PollResult got =
      MakePrometheusMonitor(config, http)->Poll(std::chrono::steady_clock::now() - Millis(1));
  CHECK(got.outcome == PollOutcome::kError);
  CHECK(got.detail == "gave up scanning the metrics page (" + std::to_string(page.size()) +
                          " bytes): the poll's deadline passed");
}

TEST_CASE("prometheus monitor: refused and transport errors pass through") {
  PollResult refused =
      PollOnce(PrometheusConfig("rq"), Failure(HttpError::kRefused, "connect: Connection refused"));
  CHECK(refused.outcome == PollOutcome::kRefused);
  CHECK(refused.detail ==
        "GET http://127.0.0.1:9901/stats/prometheus: connect: Connection refused");
  PollResult timeout = PollOnce(PrometheusConfig("rq"), Failure(HttpError::kTimeout, "timed out"));
  CHECK(timeout.outcome == PollOutcome::kError);
}

TEST_CASE("prometheus monitor: asks for the text formats, not protobuf") {
  CannedHttpClient http;
  http.response = Answer(200, "rq 0\n");
  std::unique_ptr<DrainMonitor> monitor = MakePrometheusMonitor(PrometheusConfig("rq"), http);
  CHECK(monitor->kind() == "prometheus");
  CHECK(monitor->Poll(std::chrono::steady_clock::now() + Millis(5000)).outcome ==
        PollOutcome::kDrained);
  REQUIRE(http.requests.size() == 1);
  CHECK(http.requests[0].url.target == "/stats/prometheus");
  const std::string accept = testing::HeaderOf(http.requests[0], "Accept");
  CHECK(accept.starts_with("text/plain;version=0.0.4"));
  CHECK(accept.find("application/openmetrics-text") != std::string::npos);
}

TEST_CASE("prometheus monitor: an invalid selector is an error on every poll, nothing sent") {
  CannedHttpClient http;
  std::unique_ptr<DrainMonitor> monitor =
      MakePrometheusMonitor(PrometheusConfig("rq{code=~\"(\"}"), http);
  PollResult got = monitor->Poll(std::chrono::steady_clock::now() + Millis(5000));
  CHECK(got.outcome == PollOutcome::kError);
  CHECK(got.detail ==
        "metric selector is invalid: column 10: the regex for label \"code\" is invalid: "
        "missing ): (");
  CHECK(http.requests.empty());
}

}  // namespace
}  // namespace lastcall

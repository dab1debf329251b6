// lastcall's own /metrics after a real sequence: valid per `promtool check metrics` (Prometheus'
// own parser and linter), with the values the sequence must have produced.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "base/prometheus_text.h"
#include "fake_app.h"
#include "harness.h"

namespace lastcall::test {
namespace {

// The full path of `program` on $PATH, or "" when it is not there.
std::string FindOnPath(std::string_view program) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    const size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    if (dir.empty()) continue;
    std::string candidate = std::string(dir) + "/" + std::string(program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `promtool check metrics` on `exposition` (its stdin).
CommandResult PromtoolCheckMetrics(const std::string& promtool, const std::string& exposition) {
  const std::string input = TempDir() + "/metrics.txt";
  std::ofstream(input) << exposition;
  const std::string command = "'" + promtool + "' check metrics < '" + input + "' 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The sum of the samples `selector` picks in `exposition`, read with lastcall's own parser;
// nullopt when no sample matches (or the page is malformed, which promtool reports too).
std::optional<double> Sample(std::string_view exposition, std::string_view selector) {
  std::string error;
  const auto parsed = ParseMetricSelector(selector, &error);
  REQUIRE_MESSAGE(parsed.has_value(), error);
  const PrometheusSum sum = SumMatchingSamples(exposition, *parsed);
  if (!sum.ok() || sum.matched == 0) return std::nullopt;
  return sum.sum;
}

TEST_CASE("/metrics after a sequence passes promtool and counts phases, polls, triggers, probes") {
  // The app refuses the first drain trigger (503, retried), then accepts; its monitor answers
  // one malformed body, is busy until the trigger was accepted and twice more, then drained.
  // "Drained" comes 50 ms after the accepted trigger at the earliest: its 202 has reached lastcall
  // by then, even on a slow machine, so both attempts are counted.
  std::atomic<int> posts{0};
  std::atomic<int> gets{0};
  std::atomic<long long> accepted_ms{-1};
  const auto now_ms = [] {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  FakeApp app([&](const ServerRequest& request) {
    if (request.method == "POST") {
      if (++posts == 1) return FakeApp::Answer(503, "{}");
      accepted_ms = now_ms();
      return FakeApp::Answer(202, "{}");
    }
    const int n = ++gets;
    if (n == 1) return FakeApp::Answer(200, "{\"inflight\": ");
    const long long accepted = accepted_ms.load();
    if (accepted < 0 || now_ms() - accepted < 50 || n <= 3) {
      return FakeApp::Answer(200, "{\"inflight\": 2}");
    }
    return FakeApp::Answer(200, "{\"inflight\": 0}");
  });
  Sidecar sidecar =
      StartLastcall({"--lb-delay", "200ms", "--drain-url", app.url("/drain"), "--monitor", "json",
                     "--poll-interval", "20ms", "--drain-timeout", "5s"});
  REQUIRE(Status(sidecar.probe_port, "/readyz") == 200);
  REQUIRE(Status(sidecar.probe_port, "/readyz") == 200);
  REQUIRE(Status(sidecar.probe_port, "/livez") == 200);
  REQUIRE(Status(sidecar.probe_port, "/no-such-path") == 404);

  // A preStop-driven sequence: lastcall stays up in DRAINED until a signal, so its metrics can
  // be read after the sequence has ended.
  Process prestop = Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control()});
  const auto prestop_code = prestop.WaitExit(milliseconds(5000));
  REQUIRE(prestop_code);
  REQUIRE(*prestop_code == 0);
  CHECK(Status(sidecar.probe_port, "/readyz") == 503);

  const HttpResponse response = Get(sidecar.probe_port, "/metrics");
  REQUIRE(response.ok());
  REQUIRE(response.status == 200);
  const std::string& text = response.body;
  CAPTURE(text);

  const std::string promtool = FindOnPath("promtool");
  if (promtool.empty()) {
    MESSAGE(
        "promtool not found on PATH: skipping `promtool check metrics` (install Debian's "
        "prometheus package; scripts/bootstrap.sh does)");
  } else {
    const CommandResult check = PromtoolCheckMetrics(promtool, text);
    CHECK_MESSAGE(check.exit_code == 0, "promtool check metrics: " << check.output);
    CHECK_MESSAGE(check.output.empty(), "promtool check metrics: " << check.output);
  }

  CHECK(Sample(text, R"(lastcall_build_info{version=~"\\d+\\.\\d+\\.\\d+.*"})") == 1);
  CHECK(Sample(text, R"(lastcall_phase{phase="drained"})") == 1);
  CHECK(Sample(text, "lastcall_phase") == 1);  // exactly one phase is current
  for (const char* phase : {"serving", "unready", "draining", "drained"}) {
    CAPTURE(phase);
    const auto at = Sample(
        text, std::string("lastcall_phase_transition_timestamp_seconds{phase=\"") + phase + "\"}");
    REQUIRE(at);
    CHECK(*at > 1.6e9);  // a Unix time in seconds, not milliseconds
  }
  const auto unready =
      Sample(text, R"(lastcall_phase_transition_timestamp_seconds{phase="unready"})");
  const auto draining =
      Sample(text, R"(lastcall_phase_transition_timestamp_seconds{phase="draining"})");
  const auto drained =
      Sample(text, R"(lastcall_phase_transition_timestamp_seconds{phase="drained"})");
  REQUIRE((unready && draining && drained));
  CHECK(*draining - *unready >= 0.15);  // lb_delay (200 ms), give or take scheduling
  CHECK(*unready <= *draining);
  CHECK(*draining <= *drained);
  CHECK(!Sample(text, R"(lastcall_phase_transition_timestamp_seconds{phase="timed_out"})"));
  const auto drain_seconds = Sample(text, "lastcall_drain_duration_seconds");
  REQUIRE(drain_seconds);
  CHECK(*drain_seconds > 0);
  CHECK(*drain_seconds < 5);
  CHECK(Sample(text, "lastcall_drain_value") == 0);

  CHECK(Sample(text, R"(lastcall_monitor_polls_total{kind="json",outcome="error"})") == 1);
  const auto busy = Sample(text, R"(lastcall_monitor_polls_total{kind="json",outcome="busy"})");
  REQUIRE(busy);
  CHECK(*busy >= 2);
  CHECK(Sample(text, R"(lastcall_monitor_polls_total{kind="json",outcome="drained"})") == 1);
  CHECK(Sample(text, "lastcall_monitor_polls_total") == gets.load());
  CHECK(Sample(text, R"(lastcall_drain_trigger_attempts_total{outcome="failed"})") == 1);
  CHECK(Sample(text, R"(lastcall_drain_trigger_attempts_total{outcome="accepted"})") == 1);
  CHECK(Sample(text, "lastcall_drain_trigger_attempts_total") == 2);
  CHECK(Sample(text, R"(lastcall_sequences_total{result="drained"})") == 1);

  // StartLastcall's own wait for /livez counts too: at least the one above.
  CHECK(Sample(text, R"(lastcall_probe_requests_total{path="/readyz",code="200"})") == 2);
  CHECK(Sample(text, R"(lastcall_probe_requests_total{path="/readyz",code="503"})") == 1);
  const auto livez = Sample(text, R"(lastcall_probe_requests_total{path="/livez",code="200"})");
  REQUIRE(livez);
  CHECK(*livez >= 1);
  CHECK(Sample(text, R"(lastcall_probe_requests_total{path="other",code="404"})") == 1);
  CHECK(Sample(text, R"(lastcall_probe_requests_total{path="/metrics",code="200"})") == 1);

  // The signal that ends the pod: counted, then lastcall exits at once with the stored result.
  sidecar.process.Signal(SIGTERM);
  const auto code = sidecar.process.WaitExit(milliseconds(3000));
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("/metrics of a lastcall that just started passes promtool too (empty families)") {
  const std::string promtool = FindOnPath("promtool");
  if (promtool.empty()) {
    MESSAGE("promtool not found on PATH: skipping (install Debian's prometheus package)");
    return;
  }
  Sidecar sidecar = StartLastcall({"--drain-url", "", "--monitor", "none"});
  const HttpResponse response = Get(sidecar.probe_port, "/metrics");
  REQUIRE(response.ok());
  const CommandResult check = PromtoolCheckMetrics(promtool, response.body);
  CAPTURE(response.body);
  CHECK_MESSAGE(check.exit_code == 0, "promtool check metrics: " << check.output);
  CHECK_MESSAGE(check.output.empty(), "promtool check metrics: " << check.output);
  CHECK(Sample(response.body, R"(lastcall_phase{phase="serving"})") == 1);
}

}  // namespace
}  // namespace lastcall::test

// Drain monitors for apps that implement no drain endpoint, end to end: the connections monitor
// reading the kernel's socket table while a real client holds a real request, and the prometheus
// monitor scraping an Envoy-like stats page.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <thread>

#include "fake_app.h"
#include "harness.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;

// GET /work?ms=N on the app from another thread; the future holds the answer.
std::future<HttpResponse> StartWork(uint16_t app_port, int work_ms) {
  return std::async(std::launch::async, [app_port, work_ms] {
    return Get(app_port, "/work?ms=" + std::to_string(work_ms), milliseconds(work_ms + 5000));
  });
}

// Waits until the example app counts `n` requests in flight. Asking opens a connection of its
// own to the app's port, which the connections monitor counts too: ask before the sequence
// starts, never during it.
bool WaitForInflight(const App& app, int n) {
  const std::string needle = "\"inflight\":" + std::to_string(n);
  return WaitUntil(
      [&] { return Get(app.port, "/drain/status").body.find(needle) != std::string::npos; },
      milliseconds(3000), milliseconds(10));
}

std::vector<std::string> ConnectionsMonitorArgs(const App& app, const std::string& settle) {
  return {"--monitor",    "connections",     "--monitor-port", std::to_string(app.port),
          "--drain-url=", "--settle",        settle,           "--lb-delay",
          "0s",           "--poll-interval", "20ms",           "--drain-timeout",
          "10s"};
}

TEST_CASE(
    "connections monitor: SIGTERM waits until a long request completes and its connection "
    "closes, then exits 0") {
  App app = StartExampleApp({"--no-drain-endpoint"});
  REQUIRE(Status(app.port, "/drain") == 404);  // an app that implements nothing
  Sidecar sidecar = StartLastcall(ConnectionsMonitorArgs(app, "300ms"));

  auto work = StartWork(app.port, 1200);
  REQUIRE(WaitForInflight(app, 1));
  const auto work_started = Steady::now();
  sidecar.process.Signal(SIGTERM);
  CHECK(WaitUntil([&] { return Status(sidecar.probe_port, "/readyz") == 503; }, milliseconds(100)));

  // Not drained while the request is in flight: still running well before it ends.
  std::this_thread::sleep_for(milliseconds(700));
  CHECK(sidecar.process.Running());

  const auto code = sidecar.process.WaitExit(milliseconds(5000));
  const long long elapsed = ElapsedMs(work_started);
  REQUIRE(code);
  CHECK(*code == 0);
  const HttpResponse answer = work.get();
  CHECK(answer.ok());
  CHECK(answer.status == 200);
  // The request ends ~1200 ms after it began; then settle (300 ms) must pass with no
  // connection before lastcall calls the app drained.
  MESSAGE("exit " << elapsed << " ms after the request started (1200 ms of work + 300 ms settle)");
  CHECK(elapsed >= 1200 + 300 - 50);
  CHECK(elapsed < 1200 + 300 + 600);
  const std::string log = sidecar.process.Output();
  CHECK(log.find("phase drained") != std::string::npos);
  CHECK(log.find("monitor=connections") != std::string::npos);
}

// A keep-alive client whose connection the app closes comes back on a new connection a moment
// later: in between, the socket table shows no connection at all. Settle bridges that gap.
void RunReconnectScenario(const App& app, Sidecar& sidecar, Steady::time_point* second_started,
                          std::future<HttpResponse>* second) {
  auto first = StartWork(app.port, 400);
  REQUIRE(WaitForInflight(app, 1));
  sidecar.process.Signal(SIGTERM);
  REQUIRE(first.get().status == 200);              // connection closed: the table is empty now
  std::this_thread::sleep_for(milliseconds(150));  // the client's reconnect delay
  *second_started = Steady::now();
  *second = StartWork(app.port, 600);
}

TEST_CASE("connections monitor: settle covers a client reconnecting between two requests") {
  App app = StartExampleApp({"--no-drain-endpoint"});

  SUBCASE("settle 500ms: waits for the second request too") {
    Sidecar sidecar = StartLastcall(ConnectionsMonitorArgs(app, "500ms"));
    Steady::time_point second_started;
    std::future<HttpResponse> second;
    RunReconnectScenario(app, sidecar, &second_started, &second);
    const auto code = sidecar.process.WaitExit(milliseconds(5000));
    const long long elapsed = ElapsedMs(second_started);
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK(second.get().status == 200);
    MESSAGE("exit " << elapsed << " ms after the reconnect (600 ms of work + 500 ms settle)");
    CHECK(elapsed >= 600 + 500 - 50);
  }
  SUBCASE("settle 0s: calls the app drained in the gap, with the second request in flight") {
    Sidecar sidecar = StartLastcall(ConnectionsMonitorArgs(app, "0s"));
    Steady::time_point second_started;
    std::future<HttpResponse> second;
    RunReconnectScenario(app, sidecar, &second_started, &second);
    const auto code = sidecar.process.WaitExit(milliseconds(5000));
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK(ElapsedMs(second_started) < 300);  // exited before the second request ended
    second.wait();
  }
}

// Envoy's /stats/prometheus, trimmed: the ingress listener's active requests, plus the admin
// listener's (which serves this very scrape, so it is never 0 and must not be counted).
std::string EnvoyStatsPage(int ingress_active) {
  return "# TYPE envoy_http_downstream_rq_active gauge\n"
         "envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix=\"admin\"} 1\n"
         "envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix=\"ingress_http\"} " +
         std::to_string(ingress_active) +
         "\n"
         "# TYPE envoy_http_downstream_rq_total counter\n"
         "envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix=\"admin\"} 17\n"
         "envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix=\"ingress_http\"} "
         "53112\n"
         "# TYPE envoy_server_live gauge\n"
         "envoy_server_live{} 1\n";
}

TEST_CASE("prometheus monitor: an Envoy-like gauge dropping from 3 to 0 ends the drain") {
  std::atomic<int> active{3};
  std::atomic<int> drain_calls{0};
  FakeApp envoy([&](const ServerRequest& request) {
    if (request.method == "POST" && request.path == "/drain_listeners") {
      ++drain_calls;
      return FakeApp::Answer(200, "OK\n", "text/plain");
    }
    if (request.path == "/stats/prometheus") {
      return FakeApp::Answer(200, EnvoyStatsPage(active.load()), "text/plain; version=0.0.4");
    }
    return FakeApp::Answer(404, "", "text/plain");
  });
  Sidecar sidecar = StartLastcall(
      {"--lb-delay", "0s", "--drain-url", envoy.url("/drain_listeners?graceful"), "--monitor",
       "prometheus", "--monitor-url", envoy.url("/stats/prometheus"), "--monitor-metric",
       "envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix=\"ingress_http\"}",
       "--poll-interval", "20ms", "--drain-timeout", "5s", "--log-level", "debug"});
  sidecar.process.Signal(SIGTERM);
  // The requests in flight finish one by one.
  for (int left = 2; left >= 0; --left) {
    std::this_thread::sleep_for(milliseconds(200));
    CHECK(sidecar.process.Running());
    active = left;
  }
  const auto zero_at = Steady::now();
  const auto code = sidecar.process.WaitExit(milliseconds(3000));
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(ElapsedMs(zero_at) < 300);
  CHECK(drain_calls == 1);
  CHECK(envoy.Count("GET /stats/prometheus") >= 10);
  const std::string log = sidecar.process.Output();
  CHECK(log.find("phase drained") != std::string::npos);
  CAPTURE(log);
  // Every value the gauge took was seen, the admin listener's never added.
  for (const char* seen : {"value=3 ", "value=2 ", "value=1 ", "value=0 "}) {
    CHECK(log.find(seen) != std::string::npos);
  }
  CHECK(log.find("value=4 ") == std::string::npos);
}

// GET /prestop on the control socket: starts the sequence and answers when it ended.
HttpResponse BlockingPreStop(const Sidecar& sidecar, milliseconds timeout) {
  std::string error;
  std::optional<Url> url = ParseUrl(sidecar.control(), &error);
  REQUIRE(url);
  HttpRequest request;
  request.url = *url;
  request.url.target = "/prestop";
  return PosixHttpClient{}.Send(request, Steady::now() + timeout);
}

TEST_CASE("status monitor long poll: the drain ends as the app drains, though the interval is 2s") {
  App app = StartExampleApp();
  // The example app holds ?wait= while not drained, then answers busy.
  const auto held_from = Steady::now();
  CHECK(Get(app.port, "/drain?wait=50ms").status == 202);
  CHECK(ElapsedMs(held_from) >= 50);
  CHECK(Get(app.port, "/drain?wait=soon").status == 400);

  std::atomic<long long> work_done_ms{0};  // since `start`
  const auto start = Steady::now();
  auto work = std::async(std::launch::async, [&] {
    HttpResponse answer = Get(app.port, "/work?ms=700", milliseconds(5000));
    work_done_ms.store(ElapsedMs(start));
    return answer;
  });
  REQUIRE(WaitForInflight(app, 1));
  // Held polls of 300 ms, asked again at once: without the long poll the second poll would come
  // 2 s after the first, about 1.3 s after the app drained.
  Sidecar sidecar =
      StartLastcall({"--drain-url", app.url("/drain"), "--lb-delay", "0s", "--poll-interval", "2s",
                     "--long-poll", "300ms", "--drain-timeout", "10s", "--log-level", "debug"});
  const HttpResponse result = BlockingPreStop(sidecar, milliseconds(10000));
  const long long ended_ms = ElapsedMs(start);
  REQUIRE(result.ok());
  CHECK(result.status == 200);
  REQUIRE(work.get().status == 200);
  const long long overshoot_ms = ended_ms - work_done_ms.load();
  MESSAGE("long poll: the drain ended " << overshoot_ms
                                        << " ms after the app's last request was answered");
  CHECK(overshoot_ms < 150);  // a few ms expected; slack for sanitizer builds on a busy runner
  // A held poll: 300 ms when the app was still busy, less when it drained while the poll waited
  // (a sanitizer build on a loaded runner starts late enough for only the second).
  CHECK(sidecar.process.Output().find("long poll held ") != std::string::npos);
}

}  // namespace
}  // namespace lastcall::test

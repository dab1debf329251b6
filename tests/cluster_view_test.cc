// The cluster's view of the endpoint, from the real binary: `lastcall run` with lb_delay auto in a
// pod whose API server is a local HTTPS stand-in (support/kube_api_stand_in.h) that serves the
// namespace's EndpointSlices and a watch the test scripts. It checks that the LB wait does not
// end before the slices dropped the pod (plus quiet), that /status, /metrics and the Event tell
// when, that a 410 mid-watch relists and still sees the change, that no access changes nothing,
// and that hostile API servers never hold the exit past its bound or grow lastcall's memory.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "kube_api_stand_in.h"
#include "test_timing.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// lb_delay auto with no traffic ends at quiet (200 ms) without a cluster; drain_timeout (monitor
// none) adds 300 ms.
constexpr long long kQuietMs = 200;
constexpr long long kDrainMs = 300;
// The signal's delivery and the polling of this test; a sanitized lastcall's TLS handshake (the
// Event's) takes tens of milliseconds more.
constexpr long long kSlackMs = 20 * testing::kSanitizerSlowdown;
std::vector<std::string> AutoSequence(const std::string& max = "5s",
                                      const std::string& endpoint_wait = "2s") {
  return {"--drain-url=",
          "--monitor",
          "none",
          "--lb-delay",
          "auto",
          "--lb-auto-min",
          "100ms",
          "--lb-auto-quiet",
          std::to_string(kQuietMs) + "ms",
          "--lb-auto-max",
          max,
          "--lb-auto-endpoint-wait",
          endpoint_wait,
          "--drain-timeout",
          std::to_string(kDrainMs) + "ms"};
}

long long ProcKib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stoll(line.substr(field.size()));
  }
  return -1;
}

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

std::string WriteToken(const std::string& dir) {
  const std::string path = dir + "/token";
  std::ofstream(path) << "pod-token\n";
  return path;
}

long long MsBetween(Steady::time_point from, Steady::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

// The number after `prefix` in `text` ("LB wait ended at +812 ms": 812), or -1.
long long NumberAfter(const std::string& text, const std::string& prefix) {
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return std::atoll(text.c_str() + at + prefix.size());
}

// One termination, watched from outside: the last /status and /metrics read before the exit,
// the exit's time and code, the peak memory.
struct Observed {
  int exit_code = -1;
  long long exit_ms = 0;  // SIGTERM -> exit
  long long max_hwm_kib = 0;
  nlohmann::json status;
  std::string metrics;
  std::string output;
  Steady::time_point signalled;
};

// Follows `sidecar` to its exit (bounded: 15 s after `signalled`), reading /status and /metrics
// every 25 ms and the peak RSS every 2 ms.
Observed Follow(Sidecar& sidecar, Steady::time_point signalled) {
  Observed run;
  run.signalled = signalled;
  std::optional<int> code;
  auto next_read = Steady::now();
  while (!(code = sidecar.process.WaitExit(milliseconds(2)))) {
    run.max_hwm_kib = std::max(run.max_hwm_kib, ProcKib(sidecar.process.pid(), "VmHWM:"));
    if (Steady::now() >= next_read) {
      next_read = Steady::now() + milliseconds(25);
      const HttpResponse status = Get(sidecar.probe_port, "/status", milliseconds(200));
      if (status.status == 200) {
        nlohmann::json parsed = nlohmann::json::parse(status.body, nullptr, false);
        if (!parsed.is_discarded()) run.status = std::move(parsed);
      }
      const HttpResponse metrics = Get(sidecar.probe_port, "/metrics", milliseconds(200));
      if (metrics.status == 200) run.metrics = metrics.body;
    }
    if (MsBetween(run.signalled, Steady::now()) > 15000) break;
  }
  run.exit_ms = MsBetween(run.signalled, Steady::now());
  run.exit_code = code.value_or(-1);
  run.output = sidecar.process.Output();
  return run;
}

// Starts lastcall in a pod of `server`, sends SIGTERM, runs `script` (on this thread: it may
// wait, push watch lines), then follows the process to its exit.
Observed Terminate(KubeApiStandIn& server, const KubeApiCerts& certs, const std::string& dir,
                   const std::vector<std::string>& args,
                   const std::function<void(Steady::time_point signalled)>& script = {},
                   std::vector<std::string> env = {}) {
  if (env.empty()) env = server.PodEnv(certs, WriteToken(dir), kFixturePodUid);
  Sidecar sidecar = StartLastcall(args, env);
  const Steady::time_point signalled = Steady::now();
  sidecar.process.Signal(SIGTERM);
  if (script) script(signalled);
  return Follow(sidecar, signalled);
}

// The timeline's endpoint_removed entry, or null.
nlohmann::json RemovedEntry(const nlohmann::json& status) {
  if (!status.contains("timeline")) return nullptr;
  for (const auto& entry : status["timeline"]) {
    if (entry.value("event", "") == "endpoint_removed") return entry;
  }
  return nullptr;
}

// Microseconds since the epoch of an RFC 3339 time with microseconds ("...T21:02:11.123456Z").
long long MicrosOf(const std::string& rfc3339) {
  std::tm tm{};
  strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  return static_cast<long long>(timegm(&tm)) * 1000000 + std::stoll(rfc3339.substr(20, 6));
}

// Waits for a watch to be open, then (at `at` after the signal, at the earliest) pushes the
// pod's two slices (IPv4 and IPv6) turning ready=false, terminating=true.
void RemoveAt(KubeApiStandIn& server, Steady::time_point signalled, milliseconds at) {
  REQUIRE(WaitUntil([&] { return server.watches_open() >= 1; }, milliseconds(3000)));
  std::this_thread::sleep_until(signalled + at);
  const std::vector<std::string> lines = WatchFixtureLines();
  server.PushWatchLine(lines[0]);  // a bookmark first, as the API server sends them
  server.PushWatchLine(lines[1]);
  server.PushWatchLine(lines[3]);
}

TEST_CASE("cluster view: lb_delay auto waits for the slices, /status, /metrics, the Event tell") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  constexpr long long kRemoveMs = 800;
  const Observed run = Terminate(server, certs, dir, AutoSequence(), [&](Steady::time_point t0) {
    RemoveAt(server, t0, milliseconds(kRemoveMs));
  });
  INFO(run.output);
  CHECK(run.exit_code == 0);

  // When the stand-in sent the last of the two slices' change, since the signal.
  const auto sent = server.watch_lines_sent();
  REQUIRE(sent.size() == 3);
  const long long removed_ms = MsBetween(run.signalled, sent.back().at);
  CHECK(removed_ms >= kRemoveMs);

  // /status: the endpoint_removed entry at that time (lastcall's trigger is a few ms after the
  // test's signal; the line needs a moment to arrive).
  const nlohmann::json removed = RemovedEntry(run.status);
  REQUIRE_MESSAGE(!removed.is_null(), run.status.dump());
  const long long entry_ms = removed["elapsed_ms"];
  MESSAGE("slices changed at +" << removed_ms << " ms; /status says +" << entry_ms << " ms");
  CHECK(entry_ms >= removed_ms - 30);
  CHECK(entry_ms <= removed_ms + 50);
  CHECK(std::string(removed["detail"]).find("web-x7k2p") != std::string::npos);

  // The LB wait did not end before the change + quiet (without the view: at quiet, 200 ms).
  REQUIRE(run.status.contains("lb_wait"));
  const long long lb_ms = run.status["lb_wait"]["elapsed_ms"];
  CHECK(run.status["lb_wait"]["end"] == "quiet");
  CHECK(lb_ms >= entry_ms + kQuietMs);
  CHECK(lb_ms <= entry_ms + kQuietMs + 120);  // the wait looks every 50 ms
  CHECK(std::string(run.status["lb_wait"]["detail"]).find("EndpointSlices: all 2 removed") !=
        std::string::npos);

  // /metrics: the histogram holds the one removal.
  CHECK(run.metrics.find("lastcall_endpoint_removed_seconds_count 1") != std::string::npos);
  CHECK(run.metrics.find("lastcall_endpoint_removed_seconds_bucket{le=\"+Inf\"} 1") !=
        std::string::npos);

  // The list and the watch: one each, with the token, the watch from the list's version.
  const auto lists = server.seen("list");
  const auto watches = server.seen("watch");
  REQUIRE(lists.size() == 1);
  REQUIRE(watches.size() == 1);
  CHECK(lists[0].authorization == "Bearer pod-token");
  CHECK(lists[0].path == "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?limit=100");
  CHECK(watches[0].path.find("resourceVersion=184467&") != std::string::npos);
  CHECK(watches[0].path.find("allowWatchBookmarks=true") != std::string::npos);

  // The Event: its content, sent within 500 ms of the outcome, and the exit not held for it.
  const auto events = server.seen("events");
  REQUIRE(events.size() == 1);
  const nlohmann::json event = nlohmann::json::parse(events[0].body);
  CHECK(event["reason"] == "Drained");
  CHECK(event["regarding"]["uid"] == kFixturePodUid);
  const std::string note = event["note"];
  INFO(note);
  const long long lb_end = NumberAfter(note, "LB wait ended at +");
  const long long drain_end = NumberAfter(note, "drain ended at +");
  // The cluster's view in the Event too: when the slices dropped the pod, the /status entry's.
  CHECK(NumberAfter(note, "EndpointSlices dropped the pod at +") == entry_ms);
  CHECK(lb_end >= entry_ms + kQuietMs);
  CHECK(drain_end >= lb_end + kDrainMs);
  CHECK(note.find("; exit code 0") != std::string::npos);
  const long long received_us =
      std::chrono::duration_cast<std::chrono::microseconds>(events[0].wall.time_since_epoch())
          .count();
  const long long latency_us = received_us - MicrosOf(event["eventTime"]);
  MESSAGE("Event received " << latency_us / 1000 << " ms after the outcome; exit at +"
                            << run.exit_ms << " ms, drain ended at +" << drain_end << " ms");
  CHECK(latency_us >= 0);
  CHECK(latency_us <= 500000);
  CHECK(run.exit_ms <= drain_end + 40 + kSlackMs);
  CHECK(CountOf(run.output, " warn ") == 0);
}

// A watch line for slice `name` (the fixture's web-x7k2p renamed) holding the pod, ready or not.
std::string SliceLine(const std::string& type, const std::string& name, const std::string& rv,
                      bool ready) {
  std::string line = WatchFixtureLines()[1];
  auto replace = [&line](const std::string& from, const std::string& to) {
    const size_t at = line.find(from);
    REQUIRE(at != std::string::npos);
    line.replace(at, from.size(), to);
  };
  replace(R"("type":"MODIFIED")", R"("type":")" + type + R"(")");
  replace(R"("name":"web-x7k2p")", R"("name":")" + name + R"(")");
  replace(R"("resourceVersion":"184502")", R"("resourceVersion":")" + rv + R"(")");
  if (ready) {
    replace(R"("ready":false,"serving":true,"terminating":true)",
            R"("ready":true,"serving":true,"terminating":false)");
  }
  return line;
}

TEST_CASE("cluster view: a slice ADDED after the list counts too, the wait ends when all dropped") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  const Observed run = Terminate(server, certs, dir, AutoSequence(), [&](Steady::time_point t0) {
    REQUIRE(WaitUntil([&] { return server.watches_open() >= 1; }, milliseconds(3000)));
    // A new Service selects the pod: its slice appears, ready.
    server.PushWatchLine(SliceLine("ADDED", "canary-q8w2x", "184600", true));
    RemoveAt(server, t0, milliseconds(500));
    std::this_thread::sleep_until(t0 + milliseconds(900));
    server.PushWatchLine(SliceLine("MODIFIED", "canary-q8w2x", "184700", false));
  });
  INFO(run.output);
  CHECK(run.exit_code == 0);
  const auto sent = server.watch_lines_sent();
  REQUIRE(sent.size() == 5);
  const long long removed_ms = MsBetween(run.signalled, sent.back().at);
  CHECK(removed_ms >= 900);
  const nlohmann::json removed = RemovedEntry(run.status);
  REQUIRE_MESSAGE(!removed.is_null(), run.status.dump());
  const long long entry_ms = removed["elapsed_ms"];
  CHECK(entry_ms >= removed_ms - 30);
  CHECK(entry_ms <= removed_ms + 50);
  CHECK(std::string(removed["detail"]).find("canary-q8w2x") != std::string::npos);
  CHECK(run.status["lb_wait"]["elapsed_ms"].get<long long>() >= entry_ms + kQuietMs);
  CHECK(std::string(run.status["lb_wait"]["detail"]).find("all 3 removed") != std::string::npos);
}

TEST_CASE("cluster view: a 410 mid-watch relists, and the change after it still counts") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  const Observed run = Terminate(server, certs, dir, AutoSequence(), [&](Steady::time_point t0) {
    REQUIRE(WaitUntil([&] { return server.watches_open() >= 1; }, milliseconds(3000)));
    std::this_thread::sleep_until(t0 + milliseconds(300));
    server.PushWatchLine(WatchFixtureLines()[5]);  // ERROR 410 Expired: the stand-in ends the watch
    REQUIRE(WaitUntil([&] { return server.seen("list").size() >= 2 && server.watches_open() >= 1; },
                      milliseconds(3000)));
    RemoveAt(server, t0, milliseconds(700));
  });
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK(server.seen("list").size() == 2);
  CHECK(server.seen("watch").size() == 2);
  const auto sent = server.watch_lines_sent();
  REQUIRE(sent.size() == 4);
  const long long removed_ms = MsBetween(run.signalled, sent.back().at);
  const nlohmann::json removed = RemovedEntry(run.status);
  REQUIRE_MESSAGE(!removed.is_null(), run.status.dump());
  const long long entry_ms = removed["elapsed_ms"];
  CHECK(entry_ms >= removed_ms - 30);
  CHECK(entry_ms <= removed_ms + 50);
  CHECK(run.status["lb_wait"]["elapsed_ms"].get<long long>() >= entry_ms + kQuietMs);
  CHECK(CountOf(run.output, " warn ") == 0);
}

TEST_CASE("cluster view: lastcall killed mid-wait and started again watches the slices again") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  const std::vector<std::string> env = server.PodEnv(certs, WriteToken(dir), kFixturePodUid);
  const std::vector<std::string> args = AutoSequence("10s", "3s");
  Sidecar first = StartLastcall(args, env);
  const Steady::time_point signalled = Steady::now();
  first.process.Signal(SIGTERM);
  REQUIRE(WaitUntil([&] { return server.watches_open() >= 1; }, milliseconds(3000)));
  // The signal is on disk (a later write than the trigger's): the restarted lastcall knows it
  // need not wait for one.
  const std::string state_file =
      std::filesystem::path(first.socket).parent_path() / "lastcall-state" / "state.json";
  REQUIRE(WaitUntil(
      [&] {
        const nlohmann::json state =
            nlohmann::json::parse(std::ifstream(state_file), nullptr, false);
        return !state.is_discarded() && state.value("signal_received", false);
      },
      milliseconds(3000)));
  first.process.Signal(SIGKILL);  // an OOM kill in the LB wait, say
  REQUIRE(first.process.WaitExit(milliseconds(2000)));

  // The same pod's lastcall again: same probe port, same control socket, hence its state file.
  Sidecar again = RestartLastcall(first, args, env);
  INFO("the first: " << first.process.Output() << "\nthe second: " << again.process.Output());
  REQUIRE(WaitUntil([&] { return server.seen("list").size() >= 2 && server.watches_open() >= 1; },
                    milliseconds(3000)));
  RemoveAt(server, signalled, milliseconds(1000));
  const Observed run = Follow(again, signalled);
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK(run.output.find("resuming a shutdown sequence") != std::string::npos);
  CHECK(server.seen("list").size() == 2);
  // On the original trigger's clock: the change 1 s after the first lastcall's signal.
  const long long removed_ms = MsBetween(signalled, server.watch_lines_sent().back().at);
  const nlohmann::json removed = RemovedEntry(run.status);
  REQUIRE_MESSAGE(!removed.is_null(), run.status.dump());
  const long long entry_ms = removed["elapsed_ms"];
  MESSAGE("after the restart: slices changed at +" << removed_ms << " ms; /status says +"
                                                   << entry_ms << " ms");
  CHECK(entry_ms >= removed_ms - 30);
  CHECK(entry_ms <= removed_ms + 50);
  CHECK(run.status["lb_wait"]["elapsed_ms"].get<long long>() >= entry_ms + kQuietMs);
}

TEST_CASE("cluster view: no access is one warning, and auto behaves as without a cluster") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  std::vector<std::string> env;
  std::string warning;
  SUBCASE("RBAC refuses the list (403)") {
    server.SetSliceMode(KubeApiStandIn::SliceMode::kForbidden);
    warning = "EndpointSlice watch given up: 403 Forbidden";
  }
  SUBCASE("no POD_UID") {
    env = server.PodEnv(certs, WriteToken(dir), kFixturePodUid);
    env.back() = "POD_UID=";
    warning = "POD_UID not set";
  }
  SUBCASE("no token") {
    env = server.PodEnv(certs, dir + "/no-such-token", kFixturePodUid);
    warning = "no service account token";
  }
  const Observed run = Terminate(server, certs, dir, AutoSequence(), {}, env);
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK(CountOf(run.output, warning) == 1);
  CHECK(CountOf(run.output, " warn ") == 1);
  // As without a cluster: quiet (200 ms) after unready, the wait looking every 50 ms.
  REQUIRE(run.status.contains("lb_wait"));
  const long long lb_ms = run.status["lb_wait"]["elapsed_ms"];
  CHECK(lb_ms >= kQuietMs);
  CHECK(lb_ms <= kQuietMs + 80);
  CHECK(RemovedEntry(run.status).is_null());
  CHECK(server.seen("list").size() <= 1);
  CHECK(server.seen("watch").empty());
}

// An API server hostile to the slice watch, and how long it may hold the LB wait.
struct HostileSlices {
  const char* name;
  KubeApiStandIn::SliceMode mode;
  const char* dns_name;  // the name its certificate is for
  bool expired;          // its certificate expired a day ago
  long long lb_bound_ms;
};

// With a hostile API server, the wait gives the view endpoint_wait (300 ms) to start, or max
// (1 s) when it lists but its watch is broken (the slices it listed still route to the pod:
// erring late); the exit follows the drain (300 ms) within 50 ms, and memory stays bounded.
TEST_CASE("cluster view: hostile API servers keep the exit's bound and lastcall's memory") {
  using SliceMode = KubeApiStandIn::SliceMode;
  constexpr const char* kApi = "kubernetes.default.svc";
  const HostileSlices hostiles[] = {
      {"never answers", SliceMode::kNeverAnswer, kApi, false, 300},
      {"trickles one byte a second", SliceMode::kTrickle, kApi, false, 300},
      {"a 100 MB list", SliceMode::kHuge, kApi, false, 300},
      {"a list that is not JSON", SliceMode::kBrokenJson, kApi, false, 300},
      {"a 100 MB watch line", SliceMode::kHugeWatch, kApi, false, 1000},
      {"a watch line that is not JSON", SliceMode::kBrokenWatch, kApi, false, 1000},
      {"an expired certificate", SliceMode::kServe, kApi, true, 300},
      {"another host's certificate", SliceMode::kServe, "not-the-api.example.com", false, 300},
  };
  HostileSlices hostile = hostiles[0];
  // A subcase a row: each runs alone against a fresh server, and a failure names its row.
  for (const HostileSlices& each : hostiles) {
    SUBCASE(each.name) { hostile = each; }
  }
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir, hostile.dns_name, hostile.expired);
  KubeApiStandIn server(certs);
  server.SetSliceMode(hostile.mode);
  const Observed run = Terminate(server, certs, dir, AutoSequence("1s", "300ms"));
  const long long bound_ms = hostile.lb_bound_ms + kDrainMs;
  MESSAGE(hostile.name << ": exit at +" << run.exit_ms << " ms (the sequence's end: +" << bound_ms
                       << " ms), VmHWM " << run.max_hwm_kib << " KiB, lists "
                       << server.seen("list").size() << ", watches "
                       << server.seen("watch").size());
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK(run.exit_ms >= bound_ms);
  CHECK(run.exit_ms <= bound_ms + 50 + kSlackMs);
  CHECK(RemovedEntry(run.status).is_null());
  // Retried with backoff, never in a tight loop.
  CHECK(server.seen("list").size() <= 8);
  if (testing::kSanitizerSlowdown == 1) {  // a sanitizer's shadow memory is not lastcall's
    CHECK(run.max_hwm_kib > 0);
    CHECK(run.max_hwm_kib <= 16 * 1024);
  }
}

}  // namespace
}  // namespace lastcall::test

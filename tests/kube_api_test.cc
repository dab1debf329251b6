// Kubernetes Events from the real binary, against a local HTTPS stand-in of the API server
// (support/kube_api_stand_in.h): the Event of a whole sequence, its content and timing, the
// no-access paths, and hostile API servers that must never hold the exit past its bound.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
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

// lb_delay 100ms, then monitor none waits drain_timeout 200ms: drained 300 ms after the signal.
const std::vector<std::string> kSequence = {"--drain-url=", "--monitor",       "none", "--lb-delay",
                                            "100ms",        "--drain-timeout", "200ms"};
constexpr long long kSequenceMs = 300;

long long VmRssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// Lines of `text` holding both `needle` and `also`.
size_t CountLines(const std::string& text, const std::string& needle, const std::string& also) {
  size_t count = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    count += line.find(needle) != std::string::npos && line.find(also) != std::string::npos;
  }
  return count;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

struct Run {
  int exit_code = -1;
  long long exit_ms = 0;  // SIGTERM -> exit
  long long max_rss_kib = 0;
  std::string output;
  std::chrono::system_clock::time_point signalled;
};

// One termination of a sidecar in a pod whose API server is `server`.
Run Terminate(const KubeApiStandIn& server, const KubeApiCerts& certs,
              const std::string& token_file, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = kSequence;
  args.insert(args.end(), extra.begin(), extra.end());
  Sidecar sidecar = StartLastcall(args, server.PodEnv(certs, token_file));
  Run run;
  const auto start = Steady::now();
  run.signalled = std::chrono::system_clock::now();
  sidecar.process.Signal(SIGTERM);
  std::optional<int> code;
  while (!(code = sidecar.process.WaitExit(milliseconds(5)))) {
    run.max_rss_kib = std::max(run.max_rss_kib, VmRssKib(sidecar.process.pid()));
    if (ElapsedMs(start) > 5000) break;
  }
  run.exit_ms = ElapsedMs(start);
  run.exit_code = code.value_or(-1);
  run.output = sidecar.process.Output();
  return run;
}

std::string TokenFile(const std::string& dir, const std::string& token = "pod-token") {
  const std::string path = dir + "/token";
  std::ofstream(path) << token << "\n";
  return path;
}

TEST_CASE("kube api: a termination leaves an Event on the pod, sent as soon as it drained") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  const Run run = Terminate(server, certs, TokenFile(dir));
  CHECK(run.exit_code == 0);
  // The EndpointSlice list and watch (cluster_view_test.cc) go to the same server.
  const auto seen = server.seen("events");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].path == "/apis/events.k8s.io/v1/namespaces/shop/events");
  CHECK(seen[0].authorization == "Bearer pod-token");
  const nlohmann::json event = nlohmann::json::parse(seen[0].body);
  CHECK(event["reason"] == "Drained");
  CHECK(event["type"] == "Normal");
  CHECK(event["action"] == "Drain");
  CHECK(event["reportingController"] == "lastcall.dev/lastcall");
  CHECK(event["reportingInstance"] == "shop-7d9f8-x2x4q");
  CHECK(event["regarding"]["kind"] == "Pod");
  CHECK(event["regarding"]["name"] == "shop-7d9f8-x2x4q");
  CHECK(event["regarding"]["uid"] == "6f1c2a4e-93b1-4c2e-a0f7-1d2e3f4a5b6c");
  const std::string note = event["note"];
  INFO(note);
  CHECK(note.rfind("unready at +0 ms by signal", 0) == 0);
  CHECK(note.find("; LB wait ended at +10") != std::string::npos);
  CHECK(note.find("(lb_delay passed); drain ended at +30") != std::string::npos);
  CHECK(note.find("(drain.timeout waited (monitor none))") != std::string::npos);
  CHECK(note.find("; exit code 0") != std::string::npos);
  // Sent within 500 ms of the outcome (eventTime is when the drain ended), and the exit was not
  // held for it.
  const std::string event_time = event["eventTime"];
  const auto received =
      std::chrono::duration_cast<std::chrono::microseconds>(seen[0].wall.time_since_epoch())
          .count();
  std::tm tm{};
  strptime(event_time.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  const long long outcome_us =
      static_cast<long long>(timegm(&tm)) * 1000000 + std::stoll(event_time.substr(20, 6));
  CHECK(received - outcome_us >= 0);
  CHECK(received - outcome_us <= 500000);
  CHECK(run.exit_ms < kSequenceMs + 150);
  CHECK(Count(run.output, "Kubernetes Event sent") == 1);
}

TEST_CASE("kube api: without a token, one warning at start and the same sequence") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  const Run run = Terminate(server, certs, dir + "/no-such-token");
  CHECK(run.exit_code == 0);
  CHECK(server.seen().empty());
  CHECK(Count(run.output, "no Kubernetes Events") == 1);
  CHECK(Count(run.output, " warn ") == 1);  // the only warning of the whole run
  CHECK(run.exit_ms < kSequenceMs + 150);
}

TEST_CASE("kube api: --kube-api=false never calls the API server") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  const Run run = Terminate(server, certs, TokenFile(dir), {"--kube-api=false"});
  CHECK(run.exit_code == 0);
  CHECK(server.seen().empty());
  CHECK(Count(run.output, "Kubernetes Event") == 0);
}

TEST_CASE("kube api: RBAC refusing (403) is one clear warning and changes nothing else") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  server.Answer(403, KubeApiFixture("status_forbidden.json"));
  const Run run = Terminate(server, certs, TokenFile(dir));
  CHECK(run.exit_code == 0);
  CHECK(server.seen("events").size() == 1);
  CHECK(Count(run.output, "403 Forbidden: RBAC") == 1);
  CHECK(run.output.find("cannot create resource") != std::string::npos);
  CHECK(run.exit_ms < kSequenceMs + 150);
}

TEST_CASE("kube api: a configuration lastcall refuses is a ConfigRefused Event before exit 2") {
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir);
  KubeApiStandIn server(certs);
  Process process = Process::Spawn({LASTCALL_BINARY, "run", "--lb-delay", "banana"},
                                   server.PodEnv(certs, TokenFile(dir)));
  const auto start = Steady::now();
  CHECK(process.WaitExit(milliseconds(3000)) == 2);
  CHECK(ElapsedMs(start) < 1000);
  const auto seen = server.seen("events");
  REQUIRE(seen.size() == 1);
  const nlohmann::json event = nlohmann::json::parse(seen[0].body);
  CHECK(event["reason"] == "ConfigRefused");
  CHECK(event["type"] == "Warning");
  CHECK(std::string(event["note"]).find("banana") != std::string::npos);
}

// An API server hostile to the Event, and what the Event's line then says.
struct HostileEvents {
  const char* name;
  KubeApiStandIn::Mode mode;
  const char* dns_name;  // the name its certificate is for
  bool expired;          // its certificate expired a day ago
  int status;            // with status_fixture: what the Event route answers throughout, or 0
  const char* status_fixture;
  const char* logged;
};

// The exit's bound with a hostile API server: the Event may cost the exit at most 500 ms after
// the outcome (here: the outcome is kSequenceMs after the signal), kept within 50 ms, and memory
// stays bounded.
TEST_CASE("kube api: hostile API servers never hold the exit past its bound") {
  using Mode = KubeApiStandIn::Mode;
  constexpr const char* kApi = "kubernetes.default.svc";
  constexpr const char* kNotSent = "cannot send the Kubernetes Event";
  const HostileEvents hostiles[] = {
      {"never answers", Mode::kNeverAnswer, kApi, false, 0, "", kNotSent},
      {"trickles one byte a second", Mode::kTrickle, kApi, false, 0, "", kNotSent},
      {"sends a 100 MB body", Mode::kHuge, kApi, false, 0, "", kNotSent},
      // A 201 is the API server's word that the Event exists; its body is not needed.
      {"answers broken JSON", Mode::kBrokenJson, kApi, false, 0, "", "Kubernetes Event sent"},
      {"an expired certificate", Mode::kCreated, kApi, true, 0, "", "certificate has expired"},
      {"another host's certificate", Mode::kCreated, "not-the-api.example.com", false, 0, "",
       "(wrong host)"},
      // Retried within the deadline: the last try may end in the deadline rather than a 429.
      {"rate-limited (429) throughout", Mode::kCreated, kApi, false, 429,
       "status_too_many_requests.json", "(the outcome is in the log only)"},
      {"401", Mode::kCreated, kApi, false, 401, "status_unauthorized.json", "401 Unauthorized"},
  };
  HostileEvents hostile = hostiles[0];
  // A subcase a row: each runs alone against a fresh server, and a failure names its row.
  for (const HostileEvents& each : hostiles) {
    SUBCASE(each.name) { hostile = each; }
  }
  const std::string dir = TempDir();
  const KubeApiCerts certs = MakeKubeApiCerts(dir, hostile.dns_name, hostile.expired);
  KubeApiStandIn server(certs, hostile.mode);
  if (hostile.status != 0) server.Answer(hostile.status, KubeApiFixture(hostile.status_fixture));
  const Run run = Terminate(server, certs, TokenFile(dir));
  MESSAGE(hostile.name << ": exit after " << run.exit_ms << " ms, VmRSS at most " << run.max_rss_kib
                       << " KiB");
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK(run.exit_ms <= kSequenceMs + 500 + 50 + 20);  // 20: process start-up and polling slack
  if (testing::kSanitizerSlowdown == 1) {  // a sanitizer's shadow memory is not lastcall's
    CHECK(run.max_rss_kib <= 16 * 1024);
    CHECK(run.max_rss_kib > 0);
  }
  // The Event's line: the EndpointSlice watch meets the same server and says so in its own.
  CHECK(CountLines(run.output, hostile.logged, "Kubernetes Event") == 1);
}

}  // namespace
}  // namespace lastcall::test

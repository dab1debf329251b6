// A restart is not a termination: recovery after a preStop without a signal, and surviving our
// own restart through the state file in lastcall-state/ beside the control socket.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "fake_app.h"
#include "harness.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;

long long NowMs() {
  return std::chrono::duration_cast<milliseconds>(Steady::now().time_since_epoch()).count();
}

// Busy for `busy_ms` after the first drain trigger.
struct DrainingApp {
  explicit DrainingApp(int busy_ms)
      : app([this, busy_ms](const ServerRequest& request) {
          if (request.method == "POST") {
            long long expected = 0;
            triggered.compare_exchange_strong(expected, NowMs());
            return FakeApp::Answer(202, "{}");
          }
          const long long at = triggered.load();
          return FakeApp::Answer(at != 0 && NowMs() - at >= busy_ms ? 200 : 202, "{}");
        }) {}
  std::atomic<long long> triggered{0};
  FakeApp app;
};

std::string StateFile(const Sidecar& sidecar) {
  return std::filesystem::path(sidecar.socket).parent_path() / "lastcall-state" / "state.json";
}

// `lastcall run` listening on `port`, its control socket in a new directory whose own state file
// (in the directory lastcall would create) already holds `contents` (0600, as lastcall writes it).
struct OverState {
  std::string state_file;
  Process process;
};
OverState RunOverState(const std::string& contents, uint16_t port = FreePort()) {
  const std::string dir = TempDir();
  REQUIRE(mkdir((dir + "/lastcall-state").c_str(), 0700) == 0);
  OverState run;
  run.state_file = dir + "/lastcall-state/state.json";
  std::ofstream(run.state_file) << contents;
  REQUIRE(chmod(run.state_file.c_str(), 0600) == 0);
  run.process =
      Process::Spawn({LASTCALL_BINARY, "run", "--listen", "127.0.0.1:" + std::to_string(port),
                      "--control", "unix://" + dir + "/control.sock"});
  return run;
}

TEST_CASE("preStop without a termination signal: back to serving after recover_after") {
  DrainingApp app(50);
  Sidecar sidecar = StartLastcall({"--lb-delay", "0s", "--drain-url", app.app.url("/drain"),
                                   "--recover-after", "600ms", "--poll-interval", "20ms"});
  Process hook = Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control()});
  REQUIRE(hook.WaitExit(milliseconds(5000)) == 0);
  const auto ended = Steady::now();
  CHECK(Status(sidecar.probe_port, "/readyz") == 503);
  REQUIRE(
      WaitUntil([&] { return Status(sidecar.probe_port, "/readyz") == 200; }, milliseconds(3000)));
  const long long back_after = ElapsedMs(ended);
  CHECK(back_after >= 500);
  CHECK(back_after < 1500);
  CHECK(sidecar.process.Running());
  const std::string metrics = Get(sidecar.probe_port, "/metrics").body;
  CHECK(metrics.find("lastcall_recoveries_total 1") != std::string::npos);
  CHECK(sidecar.process.Output().find("the container was restarted") != std::string::npos);

  // The next deletion is a fresh sequence: the app is asked to drain again.
  app.triggered = 0;
  sidecar.process.Signal(SIGTERM);
  const auto code = sidecar.process.WaitExit(milliseconds(3000));
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(app.app.Count("POST /drain") == 2);
}

TEST_CASE("recover_after 0 disables recovery") {
  DrainingApp app(0);
  Sidecar sidecar = StartLastcall(
      {"--lb-delay", "0s", "--drain-url", app.app.url("/drain"), "--recover-after", "0s"});
  REQUIRE(Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control()})
              .WaitExit(milliseconds(5000)) == 0);
  std::this_thread::sleep_for(milliseconds(700));
  CHECK(Status(sidecar.probe_port, "/readyz") == 503);
}

TEST_CASE("a signal after the preStop means termination: no recovery") {
  DrainingApp app(0);
  Sidecar sidecar = StartLastcall({"--lb-delay", "0s", "--drain-url", app.app.url("/drain"),
                                   "--recover-after", "300ms", "--exit-delay", "1s"});
  REQUIRE(Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control()})
              .WaitExit(milliseconds(5000)) == 0);
  sidecar.process.Signal(SIGTERM);
  std::this_thread::sleep_for(milliseconds(500));
  CHECK(Status(sidecar.probe_port, "/readyz") == 503);
  CHECK(sidecar.process.WaitExit(milliseconds(3000)) == 0);
}

TEST_CASE("lastcall killed mid-drain and started again: 503 at once, the sequence finishes") {
  DrainingApp app(1200);
  const std::vector<std::string> flags{
      "--lb-delay", "100ms",           "--drain-url", app.app.url("/drain"), "--poll-interval",
      "20ms",       "--drain-timeout", "5s",          "--grace-period",      "30s"};
  Sidecar sidecar = StartLastcall(flags);
  Process hook = Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control()});
  nlohmann::json state;
  REQUIRE(WaitUntil(
      [&] {
        state = nlohmann::json::parse(std::ifstream(StateFile(sidecar)), nullptr, false);
        return !state.is_discarded() && state.value("trigger_accepted", false);
      },
      milliseconds(3000)));
  CHECK(state["phase"] == "draining");

  sidecar.process.Signal(SIGKILL);
  REQUIRE(sidecar.process.WaitExit(milliseconds(2000)));
  CHECK(hook.WaitExit(milliseconds(2000)) == 3);  // the hook saw its sidecar die

  Sidecar restarted = RestartLastcall(sidecar, flags);
  // Its very first answer is 503, never a 200 that would put a dying pod back in service.
  int first = 0;
  REQUIRE(WaitUntil(
      [&] {
        first = Status(restarted.probe_port, "/readyz");
        return first != 0;
      },
      milliseconds(3000)));
  CHECK(first == 503);
  // The alerts see the restart and the drain on its original clock (deploy/kubernetes/alerts).
  const HttpResponse metrics = Get(restarted.probe_port, "/metrics");
  CHECK(metrics.body.find("lastcall_resumes_total 1\n") != std::string::npos);
  CHECK(metrics.body.find("lastcall_phase{phase=\"draining\"} 1\n") != std::string::npos);
  CHECK(metrics.body.find("lastcall_drain_timeout_seconds 5\n") != std::string::npos);
  // Compare against lastcall_start_time_seconds: the drain began before this process did.
  const auto value_of = [&](const std::string& name) {
    const size_t at = metrics.body.find("\n" + name + " ");
    return at == std::string::npos ? 0.0 : std::stod(metrics.body.substr(at + name.size() + 2));
  };
  const double started = value_of("lastcall_start_time_seconds");
  const double draining =
      value_of("lastcall_phase_transition_timestamp_seconds{phase=\"draining\"}");
  CHECK(draining > 0);
  CHECK(draining < started);
  // The kubelet's hook is delivered again; it joins the resumed sequence and gets its end.
  Process again = Process::Spawn({LASTCALL_BINARY, "prestop", "--control", restarted.control()});
  CHECK(again.WaitExit(milliseconds(5000)) == 0);
  CHECK(app.app.Count("POST /drain") == 1);  // the app had accepted the trigger already
  restarted.process.Signal(SIGTERM);
  CHECK(restarted.process.WaitExit(milliseconds(3000)) == 0);
  CHECK(restarted.process.Output().find("resuming a shutdown sequence") != std::string::npos);
}

TEST_CASE("a stale state file lastcall wrote is logged and removed") {
  const uint16_t port = FreePort();
  const long long an_hour_ago = UnixMs() - 3600 * 1000;
  OverState run = RunOverState(nlohmann::json{{"version", 1},
                                              {"phase", "draining"},
                                              {"trigger", "signal"},
                                              {"triggered_at_ms", an_hour_ago},
                                              {"draining_since_ms", an_hour_ago + 5000}}
                                   .dump(),
                               port);
  REQUIRE(WaitUntil([&] { return Status(port, "/readyz") == 200; }, milliseconds(3000)));
  CHECK(run.process.Output().find("stale state file") != std::string::npos);
  CHECK(!std::filesystem::exists(run.state_file));
}

TEST_CASE("a corrupt state file: exit 2 naming it, and it is left as it is") {
  const std::string corrupt = "{\"version\": 1, \"phase\": \"draini";
  OverState run = RunOverState(corrupt);
  CHECK(run.process.WaitExit(milliseconds(3000)) == 2);
  CHECK(run.process.Output().find(run.state_file +
                                  ": not a state file of this lastcall: not a JSON object") !=
        std::string::npos);
  std::ifstream in(run.state_file);
  std::ostringstream kept;
  kept << in.rdbuf();
  CHECK(kept.str() == corrupt);
}

TEST_CASE(
    "preStop-only sequence, lastcall restarted after it ended: recovery on the original clock") {
  DrainingApp app(0);
  const std::vector<std::string> flags{
      "--lb-delay",      "0s",     "--drain-url",     app.app.url("/drain"),
      "--recover-after", "1500ms", "--poll-interval", "20ms"};
  Sidecar sidecar = StartLastcall(flags);
  REQUIRE(Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control()})
              .WaitExit(milliseconds(5000)) == 0);
  const auto ended = Steady::now();
  sidecar.process.Signal(SIGKILL);  // an OOM kill, say: no signal reached the sequence
  REQUIRE(sidecar.process.WaitExit(milliseconds(2000)));
  std::this_thread::sleep_for(milliseconds(800));

  Sidecar restarted = RestartLastcall(sidecar, flags);
  int first = 0;
  REQUIRE(WaitUntil(
      [&] {
        first = Status(restarted.probe_port, "/readyz");
        return first != 0;
      },
      milliseconds(3000)));
  CHECK(first == 503);  // the result is restored...
  // ...and so is the recovery deadline: 1.5s after the original end, not after the restart and
  // not never.
  REQUIRE(WaitUntil([&] { return Status(restarted.probe_port, "/readyz") == 200; },
                    milliseconds(4000)));
  const long long back_after = ElapsedMs(ended);
  MESSAGE("serving again " << back_after << " ms after the original end (recover_after 1500 ms)");
  CHECK(back_after >= 1000);
  CHECK(back_after < 2200);  // counted from the restart it would be 800 + 1500 ms at least
  CHECK(restarted.process.Output().find("the container was restarted") != std::string::npos);
  CHECK(!std::filesystem::exists(StateFile(restarted)));
}

TEST_CASE("a clean exit leaves no state: the next lastcall on the same socket starts serving") {
  const std::vector<std::string> flags{"--lb-delay", "0s", "--grace-period", "30s"};
  Sidecar first = StartLastcall(flags);  // no app: connection refused counts as drained
  first.process.Signal(SIGTERM);
  REQUIRE(first.process.WaitExit(milliseconds(3000)) == 0);
  CHECK(!std::filesystem::exists(StateFile(first)));

  Sidecar second = RestartLastcall(first, flags);
  REQUIRE(WaitUntil([&] { return Status(second.probe_port, "/readyz") != 0; }, milliseconds(3000)));
  CHECK(Status(second.probe_port, "/readyz") == 200);
  std::this_thread::sleep_for(milliseconds(300));
  CHECK(second.process.Running());
  CHECK(Status(second.probe_port, "/readyz") == 200);
}

TEST_CASE("a state file with an unknown result: exit 2 naming it, never the exit 1 of a result") {
  OverState run = RunOverState(nlohmann::json{
      {"version", 1},
      {"phase", "timed_out"},
      {"trigger", "signal"},
      {"triggered_at_ms", UnixMs() - 1000},
      {"signal_received", true},
      {"result", "maybe"}}.dump());
  CHECK(run.process.WaitExit(milliseconds(3000)) == 2);
  CHECK(run.process.Output().find(run.state_file +
                                  ": not a state file of this lastcall: unknown result") !=
        std::string::npos);
  CHECK(std::filesystem::exists(run.state_file));
}

// lastcall saves the trigger before the signal's record: killed between the two writes, it left a
// signal's sequence without `signal_received`. The kubelet signals once; the restarted lastcall
// must exit when the sequence ends, not sit until the grace period's SIGKILL.
TEST_CASE("a signal's ended sequence without the signal's record: the restart exits with it") {
  OverState run = RunOverState(nlohmann::json{
      {"version", 1},
      {"phase", "drained"},
      {"trigger", "signal"},
      {"triggered_at_ms", UnixMs() - 3000},
      {"draining_since_ms", UnixMs() - 2000},
      {"trigger_accepted", true},
      {"signal_received", false},
      {"result", "drained"},
      {"ended_at_ms", UnixMs() - 1000},
      {"detail",
       "drained: 0 (drained)"}}.dump());
  CHECK(run.process.WaitExit(milliseconds(3000)) == 0);
  CHECK(run.process.Output().find("restored the result of a shutdown sequence") !=
        std::string::npos);
}

}  // namespace
}  // namespace lastcall::test

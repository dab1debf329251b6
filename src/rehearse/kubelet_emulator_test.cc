#include "kubelet_emulator.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "base/subprocess.h"
#include "http/http_server.h"
#include "rehearse_process.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;

// A small real child process: /bin/sh -c SCRIPT with the default signal state. A script that
// prints "ready" is waited for until it does, so its trap is in place before the test signals it.
pid_t SpawnShell(const std::string& script) {
  int pipe_fds[2];
  REQUIRE(pipe2(pipe_fds, O_CLOEXEC) == 0);
  SpawnRequest request;
  request.argv = {"/bin/sh", "-c", script};
  request.output = ChildOutput::Descriptor(pipe_fds[1]);
  std::string error;
  const std::optional<pid_t> pid = Spawn(request, &error);
  close(pipe_fds[1]);
  REQUIRE_MESSAGE(pid, error);
  if (script.find("echo ready") != std::string::npos) {
    char buffer[6] = {};
    CHECK(read(pipe_fds[0], buffer, 5) == 5);  // blocks until the trap is set
  }
  close(pipe_fds[0]);  // later output (none expected) gets EPIPE
  return *pid;
}

// Exits with `code` within about 10 ms of SIGTERM.
std::string ExitsOnTerm(int code) {
  return "trap 'exit " + std::to_string(code) + "' TERM; echo ready; while :; do sleep 0.01; done";
}
const char* const kIgnoresTerm = "trap '' TERM; echo ready; while :; do sleep 0.01; done";

EmulatedContainer Container(std::string name, const std::string& script, PreStopHook hook = {}) {
  EmulatedContainer container;
  container.name = std::move(name);
  container.pid = SpawnShell(script);
  container.pre_stop = std::move(hook);
  return container;
}

PreStopHook ExecHook(const std::string& script) {
  PreStopHook hook;
  hook.kind = PreStopHook::Kind::kExec;
  hook.command = {"/bin/sh", "-c", script};
  return hook;
}

// The offset of the first event `what` of `container`; -1 when there is none.
long long At(const TerminationReport& report, const std::string& container,
             const std::string& what) {
  for (const auto& event : report.timeline) {
    if (event.container == container && event.what == what) return event.at.count();
  }
  return -1;
}

TerminationOptions Options(long long grace_ms, long long propagation_ms, PodShape shape) {
  TerminationOptions options;
  options.shape = shape;
  options.grace_period = milliseconds(grace_ms);
  options.propagation_delay = milliseconds(propagation_ms);
  return options;
}

TEST_CASE("regular sidecar: sidecar SIGTERM at T0, app SIGTERM when its hook returns") {
  std::atomic<int> removals{0};
  std::atomic<long long> removed_at{-1};
  const auto start = std::chrono::steady_clock::now();
  const TerminationReport report = EmulatePodDeletion(
      Options(5000, 100, PodShape::kRegularSidecar),
      Container("app", ExitsOnTerm(3), ExecHook("sleep 0.2; echo drained")),
      Container("lastcall", ExitsOnTerm(4)), [&] {
        ++removals;
        removed_at =
            std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start)
                .count();
      });
  CHECK(removals == 1);
  CHECK(removed_at >= 100);
  CHECK(At(report, "", "endpoint removed") >= 100);
  CHECK(At(report, "", "pod deleted") == 0);
  CHECK(At(report, "app", "prestop started") == 0);
  CHECK(At(report, "lastcall", "SIGTERM") < 50);
  CHECK(report.app.hook_result == 0);
  CHECK(report.app.hook_output == "drained\n");
  CHECK(report.app.hook_returned_at.count() >= 200);
  CHECK(At(report, "app", "SIGTERM") >= report.app.hook_returned_at.count());
  CHECK(At(report, "app", "SIGTERM") < 400);
  CHECK(report.app.exit_code == 3);
  REQUIRE(report.sidecar);
  CHECK(report.sidecar->exit_code == 4);
  CHECK_FALSE(report.sidecar->hook_result);
  CHECK(report.clean());
  CHECK(report.total >= report.app.exited_at);
  CHECK(report.total.count() < 1000);
  for (size_t i = 1; i < report.timeline.size(); ++i) {
    CHECK(report.timeline[i - 1].at <= report.timeline[i].at);
  }
}

TEST_CASE("a container that ignores SIGTERM is SIGKILLed at the grace period") {
  TerminationOptions options = Options(300, 0, PodShape::kNoSidecar);
  options.min_kill_extension = milliseconds(100);
  const TerminationReport report =
      EmulatePodDeletion(options, Container("app", kIgnoresTerm), std::nullopt, nullptr);
  INFO(FormatTimeline(report));
  CHECK(report.app.killed);
  CHECK(report.app.exit_code == 128 + SIGKILL);
  CHECK(At(report, "app", "SIGTERM") < 50);
  CHECK(At(report, "app", "SIGKILL") >= 300);
  CHECK(At(report, "app", "SIGKILL") < 500);
  CHECK_FALSE(report.clean());
  CHECK_FALSE(report.sidecar);
}

TEST_CASE("a hook still running at the grace period is killed; SIGKILL follows the extension") {
  TerminationOptions options = Options(300, 0, PodShape::kNoSidecar);
  options.min_kill_extension = milliseconds(200);
  const TerminationReport report =
      EmulatePodDeletion(options, Container("app", kIgnoresTerm, ExecHook("echo waiting; sleep 5")),
                         std::nullopt, nullptr);
  CHECK_FALSE(report.app.hook_result);
  CHECK(report.app.hook_output == "waiting\n");
  CHECK(report.app.hook_returned_at.count() >= 300);
  CHECK(report.app.hook_returned_at.count() < 450);
  CHECK(At(report, "app", "SIGTERM") >= 300);
  CHECK(At(report, "app", "SIGKILL") >= At(report, "app", "SIGTERM") + 200);
  CHECK(At(report, "app", "SIGKILL") < 750);
  CHECK(report.app.killed);
  CHECK(report.total.count() < 1500);
}

TEST_CASE("a hook that returns near the grace period: SIGKILL at its SIGTERM + the extension") {
  TerminationOptions options = Options(300, 0, PodShape::kNoSidecar);
  options.min_kill_extension = milliseconds(300);
  const TerminationReport report = EmulatePodDeletion(
      options, Container("app", kIgnoresTerm, ExecHook("sleep 0.2")), std::nullopt, nullptr);
  CHECK(report.app.hook_result == 0);
  const long long sigterm = At(report, "app", "SIGTERM");
  CHECK(sigterm >= 200);
  CHECK(At(report, "app", "SIGKILL") >= sigterm + 300);  // past the 300 ms grace period
  CHECK(report.app.killed);
}

TEST_CASE("native sidecar: its hook runs at T0, its SIGTERM waits until the app exited") {
  PreStopHook sidecar_hook = ExecHook("sleep 0.05");
  const TerminationReport report = EmulatePodDeletion(
      Options(5000, 0, PodShape::kNativeSidecar),
      Container("app", "trap 'sleep 0.15; exit 0' TERM; echo ready; while :; do sleep 0.01; done"),
      Container("lastcall", ExitsOnTerm(0), sidecar_hook), nullptr);
  CHECK(At(report, "app", "SIGTERM") < 50);
  CHECK(At(report, "lastcall", "prestop started") == 0);
  CHECK(report.app.exit_code == 0);
  CHECK(report.app.exited_at.count() >= 150);
  REQUIRE(report.sidecar);
  CHECK(report.sidecar->hook_result == 0);
  CHECK(At(report, "lastcall", "SIGTERM") >= report.app.exited_at.count());
  CHECK(report.sidecar->exit_code == 0);
  CHECK(report.clean());
}

TEST_CASE("no sidecar shape leaves a given sidecar alone") {
  EmulatedContainer bystander = Container("lastcall", "sleep 5");
  const pid_t bystander_pid = bystander.pid;
  const TerminationReport report = EmulatePodDeletion(
      Options(2000, 0, PodShape::kNoSidecar), Container("app", ExitsOnTerm(0)), bystander, nullptr);
  CHECK_FALSE(report.sidecar);
  CHECK(report.app.exit_code == 0);
  int status = 0;
  CHECK(waitpid(bystander_pid, &status, WNOHANG) == 0);  // still running, untouched
  kill(bystander_pid, SIGKILL);
  waitpid(bystander_pid, &status, 0);
}

TEST_CASE("httpGet hook: GET with literal headers, status reported but not judged") {
  std::mutex mu;
  std::vector<Responder> waiting;
  std::vector<ServerRequest> seen;
  HttpServer server(HttpServerOptions{}, [&](const ServerRequest& request, Responder respond) {
    std::lock_guard lock(mu);
    seen.push_back(request);
    waiting.push_back(std::move(respond));
  });
  ListenAddress address;
  address.host = "127.0.0.1";
  REQUIRE(server.Listen(address).empty());
  server.Start();
  std::thread answer([&] {  // the hook has no timeout of its own: answer late, with a 500
    // 150 ms after the hook's request arrived (not after this thread started: on a loaded
    // machine the deletion itself may start late), within a 5 s bound.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < give_up) {
      {
        std::lock_guard lock(mu);
        if (!waiting.empty()) break;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
    std::this_thread::sleep_for(milliseconds(150));
    std::lock_guard lock(mu);
    for (auto& respond : waiting) respond(ServerResponse{500, "text/plain", "busy", {}});
  });
  PreStopHook hook;
  hook.kind = PreStopHook::Kind::kHttpGet;
  hook.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/prestop";
  hook.headers = {{"Authorization", "Bearer t0ken"}};
  const TerminationReport report = EmulatePodDeletion(
      Options(5000, 0, PodShape::kRegularSidecar), Container("app", ExitsOnTerm(0), hook),
      Container("lastcall", ExitsOnTerm(0)), nullptr);
  answer.join();
  server.Stop();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].path == "/prestop");
  CHECK(seen[0].headers["authorization"] == "Bearer t0ken");
  CHECK(seen[0].headers["user-agent"].rfind("kube-lifecycle/", 0) == 0);
  CHECK(report.app.hook_result == 500);
  CHECK(report.app.hook_output == "busy");
  CHECK(report.app.hook_returned_at.count() >= 100);  // answered 150 ms after its request
  CHECK(At(report, "app", "SIGTERM") >= report.app.hook_returned_at.count());
  CHECK(report.clean());
}

TEST_CASE("failing hooks do not stop the termination") {
  SUBCASE("httpGet to a port nobody listens on: result 0, SIGTERM at once") {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in bound{};
    bound.sin_family = AF_INET;
    bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof bound);
    socklen_t length = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
    close(fd);
    PreStopHook hook;
    hook.kind = PreStopHook::Kind::kHttpGet;
    hook.url = "http://127.0.0.1:" + std::to_string(ntohs(bound.sin_port)) + "/prestop";
    const TerminationReport report =
        EmulatePodDeletion(Options(5000, 0, PodShape::kNoSidecar),
                           Container("app", ExitsOnTerm(0), hook), std::nullopt, nullptr);
    CHECK(report.app.hook_result == 0);
    CHECK(At(report, "app", "SIGTERM") < 100);
    bool described = false;
    for (const auto& event : report.timeline) {
      described |= event.what == "prestop returned" && event.detail.find("refused") == 0;
    }
    CHECK(described);
  }
  SUBCASE("an exec hook whose command does not exist: 127") {
    PreStopHook hook;
    hook.kind = PreStopHook::Kind::kExec;
    hook.command = {"/nonexistent/lastcall", "prestop"};
    const TerminationReport report =
        EmulatePodDeletion(Options(5000, 0, PodShape::kNoSidecar),
                           Container("app", ExitsOnTerm(0), hook), std::nullopt, nullptr);
    CHECK(report.app.hook_result == 127);
    CHECK(At(report, "app", "SIGTERM") < 100);
    CHECK(report.app.exit_code == 0);
  }
  SUBCASE("an exec hook that fails: its exit code") {
    const TerminationReport report = EmulatePodDeletion(
        Options(5000, 0, PodShape::kNoSidecar),
        Container("app", ExitsOnTerm(0), ExecHook("echo no sidecar >&2; exit 3")), std::nullopt,
        nullptr);
    CHECK(report.app.hook_result == 3);
    CHECK(report.app.hook_output == "no sidecar\n");
    CHECK(report.app.exit_code == 0);
  }
}

TEST_CASE("a container that exits before its turn gets no SIGTERM") {
  const TerminationReport report =
      EmulatePodDeletion(Options(5000, 0, PodShape::kNoSidecar),
                         Container("app", "exit 5", ExecHook("sleep 0.1")), std::nullopt, nullptr);
  CHECK(report.app.exit_code == 5);
  CHECK(At(report, "app", "SIGTERM") == -1);
  CHECK(report.app.hook_result == 0);  // the kubelet waits for the hook all the same
  CHECK(report.clean());
}

TEST_CASE("FormatTimeline: one aligned line per event, seconds with milliseconds") {
  TerminationReport report;
  report.timeline = {{milliseconds(0), "", "pod deleted", "grace period 30000ms"},
                     {milliseconds(3), "lastcall", "SIGTERM", ""},
                     {milliseconds(1234), "app", "prestop returned", "exit 0"}};
  CHECK(FormatTimeline(report) ==
        "   0.000s  pod       pod deleted       grace period 30000ms\n"
        "   0.003s  lastcall  SIGTERM\n"
        "   1.234s  app       prestop returned  exit 0\n");
}

// A container whose shell leads its own process group and starts `sleep 30` in it: a worker.
EmulatedContainer GroupContainer(const std::string& on_term) {
  int pipe_fds[2];
  REQUIRE(pipe2(pipe_fds, O_CLOEXEC) == 0);
  SpawnRequest request;
  request.argv = {"/bin/sh", "-c", "trap '" + on_term + "' TERM; sleep 30 & echo ready; wait"};
  request.output = ChildOutput::Descriptor(pipe_fds[1]);
  request.own_process_group = true;
  std::string error;
  const std::optional<pid_t> pid = Spawn(request, &error);
  close(pipe_fds[1]);
  REQUIRE_MESSAGE(pid, error);
  char buffer[6] = {};
  CHECK(read(pipe_fds[0], buffer, 5) == 5);
  close(pipe_fds[0]);
  EmulatedContainer container;
  container.name = "app";
  container.pid = *pid;
  container.process_group = true;
  return container;
}

// True once no process of group `pgid` runs: a SIGKILLed process takes a moment to go.
bool GroupGone(pid_t pgid) {
  for (int i = 0; i < 1000; ++i) {
    if (ProcessGroupMembers(pgid, 0).empty()) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return false;
}

TEST_CASE("a container's process group ends with it: at SIGKILL, and when its main process exits") {
  TerminationOptions options = Options(300, 0, PodShape::kNoSidecar);
  options.min_kill_extension = milliseconds(100);
  SUBCASE("the main process ignores SIGTERM: the whole group is killed at the grace end") {
    const EmulatedContainer app = GroupContainer("");
    const TerminationReport report = EmulatePodDeletion(options, app, std::nullopt, nullptr);
    CHECK(report.app.killed);
    CHECK(report.app.exit_code == 128 + SIGKILL);
    CHECK(report.app.group_killed == 1);
    CHECK(At(report, "app", "group killed") >= 300);
    CHECK(GroupGone(app.pid));
  }
  SUBCASE("the main process exits at SIGTERM: its worker is killed then, not left serving") {
    const EmulatedContainer app = GroupContainer("exit 0");
    const TerminationReport report = EmulatePodDeletion(options, app, std::nullopt, nullptr);
    CHECK_FALSE(report.app.killed);
    CHECK(report.app.exit_code == 0);
    CHECK(report.app.group_killed == 1);
    CHECK(At(report, "app", "group killed") < 300);
    CHECK(GroupGone(app.pid));
  }
}

}  // namespace
}  // namespace lastcall

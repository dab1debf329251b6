// `lastcall inject` end to end: the wiring it writes, run as `lastcall run` against the example
// app for each monitor it chooses; and `lastcall prestop --then`, the hook it keeps.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "fake_app.h"
#include "harness.h"
#include "http_testing.h"
#include "test_fixtures.h"
#include "test_timing.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;

using Run = ShellRun;

// Runs the built `lastcall SUBCOMMAND FLAGS FILE` on `manifest` (written to FILE).
Run RunTool(const std::string& subcommand, const std::string& manifest,
            const std::vector<std::string>& flags = {}) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/in.yaml", std::ios::binary) << manifest;
  std::string command = "'" + std::string(LASTCALL_BINARY) + "' " + subcommand + " ";
  for (const auto& flag : flags) command += "'" + flag + "' ";
  command += "'" + dir + "/in.yaml' 2>" + dir + "/err";
  return RunShell(command);
}

// Runs the built `lastcall inject FLAGS -` on `manifest`; returns stdout.
std::string Inject(const std::string& manifest, const std::vector<std::string>& flags = {}) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/in.yaml") << manifest;
  std::vector<std::string> argv{LASTCALL_BINARY, "inject"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back(dir + "/in.yaml");
  std::string command;
  for (const auto& arg : argv) command += "'" + arg + "' ";
  command += "2>" + dir + "/err";
  FILE* pipe = popen(command.c_str(), "r");  // NOLINT(cert-env33-c): a test, fixed arguments
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  CHECK(pclose(pipe) == 0);
  return out;
}

// The lastcall container's `run` arguments in an injected Deployment, without --listen (the
// harness gives lastcall a free port and a private socket).
std::vector<std::string> InjectedRunArgs(const std::string& injected) {
  const YAML::Node pod = YAML::Load(injected)["spec"]["template"]["spec"];
  for (const auto& container : pod["containers"]) {
    if (container["name"].as<std::string>() != "lastcall") continue;
    std::vector<std::string> args;
    for (const auto& arg : container["args"]) args.push_back(arg.as<std::string>());
    REQUIRE(args.at(0) == "run");
    REQUIRE(args.at(1) == "--listen");
    return std::vector<std::string>(args.begin() + 3, args.end());
  }
  FAIL("no lastcall container in\n" << injected);
  return {};
}

std::string Deployment(uint16_t app_port, const std::string& pod_annotations = "") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n"
         "    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n" +
         (pod_annotations.empty() ? "" : "      annotations:\n" + pod_annotations) +
         "    spec:\n      containers:\n        - name: web\n          image: web:1\n"
         "          ports:\n            - name: http\n              containerPort: " +
         std::to_string(app_port) +
         "\n          readinessProbe:\n            httpGet: {path: /healthz, port: http}\n";
}

struct Drain {
  int exit_code = -1;
  long long elapsed_ms = 0;
  std::string output;
};

// Starts lastcall with `run_args`, keeps the app busy for `work_ms`, then plays the kubelet's
// preStop hook (`lastcall prestop`) and waits for its end.
Drain DrainWith(const std::vector<std::string>& run_args, const App& app, int work_ms) {
  Sidecar sidecar = StartLastcall(run_args);
  auto work = std::async(std::launch::async, [&] {
    return Send("GET", app.url("/work?ms=" + std::to_string(work_ms)), {},
                milliseconds(work_ms + 5000));
  });
  WaitUntil([&] { return false; }, milliseconds(100));  // the request is in flight
  const auto start = Steady::now();
  Process hook = Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control()});
  Drain drain;
  drain.exit_code = hook.WaitExit(milliseconds(15000)).value_or(-1);
  drain.elapsed_ms = ElapsedMs(start);
  drain.output = hook.Output();
  CHECK(work.get().status == 200);
  sidecar.process.Signal(SIGTERM);
  sidecar.process.WaitExit(milliseconds(5000));
  return drain;
}

const std::vector<std::string> kFast = {"--lb-delay", "100ms", "--drain-timeout", "4s"};

// A Deployment with a "billion laughs": 9 levels of 10 aliases name 10^9 nodes in ~700 bytes.
std::string LaughingDeployment() {
  std::string laughs = "x-laughs:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level <= 9; ++level) {
    const std::string previous = "*l" + std::to_string(level - 1);
    laughs += "  l" + std::to_string(level) + ": &l" + std::to_string(level) + " [" + previous;
    for (int i = 1; i < 10; ++i) laughs += ", " + previous;
    laughs += "]\n";
  }
  return Deployment(8080) + laughs;
}

TEST_CASE("inject refuses a billion laughs at its line and column, in bounded time and memory") {
  // Before, yaml-cpp's shared nodes were copied out by the writer: 7 levels took 36 s and 2.9 GB.
  // Run under a 512 MiB address-space limit and a 10 s timeout, so that a build without the bound
  // fails fast instead of taking the machine.
  const std::string dir = TempDir();
  const std::string manifest = LaughingDeployment();
  std::ofstream(dir + "/laughs.yaml") << manifest;
  // Sanitizers reserve terabytes of address space up front (test_timing.h knows GCC's and clang's
  // ways of saying a sanitizer is on).
  const std::string limit = lastcall::testing::kSanitizerSlowdown > 1 ? "" : "ulimit -v 524288 && ";
  const auto start = Steady::now();
  Process inject =
      Process::Spawn({"/bin/sh", "-c", limit + "exec \"$0\" inject --strict \"$1\" >\"$1.out\"",
                      LASTCALL_BINARY, dir + "/laughs.yaml"});
  const std::optional<int> code = inject.WaitExit(milliseconds(10000));
  const long long elapsed = ElapsedMs(start);
  INFO(inject.Output());
  REQUIRE(code.has_value());
  CHECK(*code == 1);  // skipped, and --strict
  MESSAGE("inject refused the billion laughs in " << elapsed << " ms");
  CHECK(elapsed < 2000);
  // l0 (line 21) is 11 nodes, l1 adds 10 x 11, l2 10 x 111; l3's 8th alias of l2 passes 10,000.
  CHECK(inject.Output().find("lastcall inject: skipped document 1: refused at line 24, column 47: "
                             "alias *l2 brings the nodes that aliases add to 10108, over 10000") !=
        std::string::npos);
  CHECK(inject.Output().find("(aliases that name aliases multiply: a \"billion laughs\")") !=
        std::string::npos);
  std::ifstream out(dir + "/laughs.yaml.out");
  std::stringstream written;
  written << out.rdbuf();
  CHECK(written.str() == manifest);  // copied through unchanged
}

TEST_CASE("inject's connections monitor, run against the example app: drained once the work ends") {
  App app = StartExampleApp({"--no-drain-endpoint"});
  const std::vector<std::string> args = InjectedRunArgs(Inject(Deployment(app.port), kFast));
  const std::string joined = [&] {
    std::string s;
    for (const auto& a : args) s += a + " ";
    return s;
  }();
  CHECK(joined.find("--monitor connections --monitor-port " + std::to_string(app.port)) !=
        std::string::npos);
  CHECK(joined.find("--readiness-upstream http://127.0.0.1:" + std::to_string(app.port) +
                    "/healthz") != std::string::npos);
  const Drain drain = DrainWith(args, app, 1200);
  CAPTURE(drain.output);
  CHECK(drain.exit_code == 0);
  CHECK(drain.elapsed_ms >= 900);  // it waited for the request in flight
}

TEST_CASE("inject's status monitor on a declared drain endpoint: drained when the app says so") {
  App app = StartExampleApp();
  const std::string url = app.url("/drain");
  const std::vector<std::string> args = InjectedRunArgs(
      Inject(Deployment(app.port, "        lastcall.dev/drain-url: " + url + "\n"), kFast));
  const Drain drain = DrainWith(args, app, 1200);
  CAPTURE(drain.output);
  CHECK(drain.exit_code == 0);
  CHECK(drain.elapsed_ms >= 900);
}

TEST_CASE("a declared drain endpoint nobody answers is never reported drained") {
  App app = StartExampleApp();
  const testing::ClosedPort closed;  // held, so no other test's server can take the port
  const std::vector<std::string> args = InjectedRunArgs(
      Inject(Deployment(app.port, "        lastcall.dev/drain-url: http://127.0.0.1:" +
                                      std::to_string(closed.port()) + "/drain\n"),
             {"--lb-delay", "100ms", "--drain-timeout", "1s"}));
  const Drain drain = DrainWith(args, app, 200);
  CAPTURE(drain.output);
  CHECK(drain.exit_code == 1);  // timed out, not "drained" on connection refused
  CHECK(drain.output.find("timed out") != std::string::npos);
}

// Every `lastcall` container of a stream (Lists' items, init containers too): its args.
void CollectSidecarArgs(const YAML::Node& node, std::vector<std::vector<std::string>>* found) {
  if (node.IsMap()) {
    if (node["name"] && node["name"].IsScalar() && node["name"].Scalar() == "lastcall" &&
        node["args"] && node["args"].IsSequence()) {
      std::vector<std::string> args;
      for (const auto& arg : node["args"]) args.push_back(arg.as<std::string>());
      found->push_back(args);
    }
    for (const auto& item : node) CollectSidecarArgs(item.second, found);
  } else if (node.IsSequence()) {
    for (const auto& item : node) CollectSidecarArgs(item, found);
  }
}

TEST_CASE("every workload inject writes passes `lastcall check`, uninject gives the input back") {
  std::istringstream cases(testing::ReadFixture("inject/cases.txt"));
  int checked = 0;
  for (std::string line; std::getline(cases, line);) {
    if (line.empty() || line.front() == '#') continue;
    std::istringstream words(line);
    std::string output, input;
    words >> output >> input;
    std::vector<std::string> flags;
    for (std::string flag; words >> flag;) flags.push_back(flag);
    CAPTURE(line);
    const std::string manifest = testing::ReadFixture("inject/" + input);
    const Run injected = RunTool("inject", manifest, flags);
    if (injected.exit_code != 0) continue;  // refused: nothing written, nothing to take back
    std::vector<std::vector<std::string>> sidecars;
    for (const auto& document : YAML::LoadAll(injected.out))
      CollectSidecarArgs(document, &sidecars);
    for (const auto& args : sidecars) {
      REQUIRE(args.at(0) == "run");
      std::vector<std::string> argv{LASTCALL_BINARY, "check"};
      argv.insert(argv.end(), args.begin() + 1, args.end());
      Process check = Process::Spawn(argv);
      const std::optional<int> code = check.WaitExit(milliseconds(10000));
      INFO(check.Output());
      CHECK(code == 0);
      ++checked;
    }
    const Run back = RunTool("uninject", injected.out);
    CHECK(back.exit_code == 0);
    CHECK(back.out == manifest);
  }
  CHECK(checked >= 25);
}

TEST_CASE("inject refuses a merge key whole: exit 2, nothing written") {
  const Run refused = RunTool("inject", testing::ReadFixture("inject/merge-key.yaml"));
  CHECK(refused.exit_code == 2);
  CHECK(refused.out.empty());
}

// A keep-alive client, as ingress-nginx keeps its upstream connections: requests on one
// connection, then idle, open.
class KeepAliveClient {
 public:
  explicit KeepAliveClient(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  ~KeepAliveClient() { close(fd_); }
  KeepAliveClient(const KeepAliveClient&) = delete;
  KeepAliveClient& operator=(const KeepAliveClient&) = delete;

  // One request and its whole answer (Content-Length), on the open connection.
  void Request(const std::string& target) {
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: app\r\n\r\n";
    REQUIRE(send(fd_, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    std::string answer;
    char buffer[4096];
    while (true) {
      const size_t head = answer.find("\r\n\r\n");
      if (head != std::string::npos) {
        const size_t length_at = answer.find("Content-Length: ");
        REQUIRE(length_at != std::string::npos);
        const size_t length = std::stoul(answer.substr(length_at + 16));
        if (answer.size() >= head + 4 + length) break;
      }
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      REQUIRE(n > 0);
      answer.append(buffer, static_cast<size_t>(n));
    }
    CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  }

 private:
  int fd_;
};

TEST_CASE("inject's default drains behind an idle keep-alive client, in settle + 2 polls") {
  // The issue-19 measurement: one idle keep-alive connection after its requests. Counting every
  // connection (the old default) waited for the drain timeout; counting requests in flight
  // drains once settle has held.
  App app = StartExampleApp({"--no-drain-endpoint"});
  const std::string bundle =
      Deployment(app.port) +
      "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: "
      "web}\n  ports:\n    - {name: http, port: 80, targetPort: http}\n";
  const std::vector<std::string> args =
      InjectedRunArgs(Inject(bundle, {"--lb-delay", "100ms", "--drain-timeout", "5s"}));
  std::string joined;
  for (const auto& arg : args) joined += arg + " ";
  CHECK(joined.find("--monitor-count in_flight --settle 1s") != std::string::npos);
  Sidecar sidecar = StartLastcall(args);
  KeepAliveClient client(app.port);
  client.Request("/work?ms=0");
  client.Request("/work?ms=0");  // two exchanges each way: the idle proof's bound (monitors.md)
  WaitUntil([] { return false; }, milliseconds(200));
  const auto start = Steady::now();
  Process hook = Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control()});
  const std::optional<int> code = hook.WaitExit(milliseconds(10000));
  const long long elapsed = ElapsedMs(start);
  INFO(hook.Output());
  CHECK(code == 0);  // drained, not timed out
  MESSAGE("drained behind an idle keep-alive client in " << elapsed << " ms");
  // lb_delay 100 ms + settle 1 s + two polls (2 x 100 ms) + the ACK bound (600 ms) + slack.
  CHECK(elapsed <= 100 + 1000 + 200 + 600 + 700);
  sidecar.process.Signal(SIGTERM);
  sidecar.process.WaitExit(milliseconds(5000));
}

TEST_CASE("lastcall prestop --then runs the old hook after the drain and reports its exit code") {
  App app = StartExampleApp();
  Sidecar sidecar = StartLastcall({"--lb-delay", "100ms", "--drain-url", app.url("/drain"),
                                   "--drain-timeout", "3s", "--poll-interval", "20ms"});
  const std::string marker = TempDir() + "/ran";
  Process hook =
      Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control(), "--then", "--",
                      "sh", "-c", "echo old-hook-ran; touch " + marker + "; exit 7"});
  CHECK(hook.WaitExit(milliseconds(10000)) == 7);  // drained: the command's code
  const std::string output = hook.Output();
  CAPTURE(output);
  const size_t drained = output.find("drained after");
  const size_t ran = output.find("old-hook-ran");
  REQUIRE(drained != std::string::npos);
  REQUIRE(ran != std::string::npos);
  CHECK(drained < ran);  // after the drain, not before
  CHECK(std::ifstream(marker).good());
}

TEST_CASE("lastcall prestop --then still runs the old hook when lastcall is gone, exit 3") {
  const std::string marker = TempDir() + "/ran";
  Process hook =
      Process::Spawn({LASTCALL_BINARY, "prestop", "--control",
                      "unix://" + TempDir() + "/missing.sock", "--then", "--", "touch", marker});
  CHECK(hook.WaitExit(milliseconds(5000)) == 3);
  CHECK(std::ifstream(marker).good());
  Process missing = Process::Spawn({LASTCALL_BINARY, "prestop", "--control",
                                    "unix://" + TempDir() + "/missing.sock", "--then", "--",
                                    "/nonexistent/deregister"});
  CHECK(missing.WaitExit(milliseconds(5000)) == 3);
  CHECK(missing.Output().find("cannot run /nonexistent/deregister") != std::string::npos);
}

TEST_CASE("lastcall prestop --then-get sends the old httpGet hook after the drain") {
  std::mutex mu;
  std::string seen;
  FakeApp old_hook([&](const ServerRequest& request) {
    std::lock_guard lock(mu);
    const auto reason = request.headers.find("x-reason");
    seen = request.method + " " + request.path + " " +
           (reason == request.headers.end() ? "" : reason->second);
    return FakeApp::Answer(500, "{}");  // like the kubelet, the status does not matter
  });
  App app = StartExampleApp();
  Sidecar sidecar = StartLastcall({"--lb-delay", "100ms", "--drain-url", app.url("/drain")});
  Process hook =
      Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control(), "--then-get",
                      old_hook.url("/admin/leave"), "--then-header", "X-Reason: shutdown"});
  CHECK(hook.WaitExit(milliseconds(10000)) == 0);
  std::lock_guard lock(mu);
  CHECK(seen == "GET /admin/leave shutdown");
}

TEST_CASE("lastcall prestop: --then without a command is a usage error") {
  Process hook = Process::Spawn({LASTCALL_BINARY, "prestop", "--then"});
  CHECK(hook.WaitExit(milliseconds(5000)) == 2);
  CHECK(hook.Output().find("--then needs a command after --") != std::string::npos);
}

}  // namespace
}  // namespace lastcall::test

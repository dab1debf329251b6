// The preStop path stays open whatever clients do to the listeners: a probe port flooded with
// idle connections at a low descriptor limit, and a /prestop caller that half-closes.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <string>
#include <vector>

#include "fake_app.h"
#include "harness.h"
#include "http_testing.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;

// An app whose drain takes `busy_ms` from the trigger on.
class DrainingApp {
 public:
  explicit DrainingApp(int busy_ms)
      : app_([this, busy_ms](const ServerRequest& request) {
          if (request.method == "POST") {
            long long expected = 0;
            triggered_at_.compare_exchange_strong(expected, Now());
            return FakeApp::Answer(202, "{}");
          }
          const long long at = triggered_at_.load();
          return FakeApp::Answer(at != 0 && Now() - at >= busy_ms ? 200 : 202, "{}");
        }) {}
  std::vector<std::string> Flags() const {
    return {"--lb-delay",      "200ms", "--drain-url",     app_.url("/drain"),
            "--poll-interval", "20ms",  "--drain-timeout", "5s"};
  }

 private:
  static long long Now() {
    return std::chrono::duration_cast<milliseconds>(Steady::now().time_since_epoch()).count();
  }
  std::atomic<long long> triggered_at_{0};
  FakeApp app_;
};

// `lastcall run` with soft and hard RLIMIT_NOFILE at `file_limit` (the shell's ulimit -n sets
// both), so lastcall cannot raise it.
Sidecar StartLastcallWithFileLimit(int file_limit, const std::vector<std::string>& flags) {
  Sidecar sidecar;
  sidecar.probe_port = FreePort();
  sidecar.socket = TempDir() + "/control.sock";
  std::vector<std::string> argv{
      "/bin/sh",
      "-c",
      "ulimit -n " + std::to_string(file_limit) + " && exec \"$0\" \"$@\"",
      LASTCALL_BINARY,
      "run",
      "--listen",
      "127.0.0.1:" + std::to_string(sidecar.probe_port),
      "--control",
      sidecar.control()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  sidecar.process = Process::Spawn(argv);
  if (!WaitUntil([&] { return Status(sidecar.probe_port, "/livez") == 200; }, milliseconds(5000))) {
    throw std::runtime_error("lastcall did not start: " + sidecar.process.Output());
  }
  return sidecar;
}

// Opens `count` connections to the port that send nothing; returns their descriptors.
std::vector<int> OpenIdleConnections(uint16_t port, int count) {
  std::vector<int> fds;
  for (int i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      fds.push_back(fd);
    } else if (fd >= 0) {
      close(fd);
    }
  }
  return fds;
}

std::string SoftFileLimitOf(pid_t pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) == 0) return line;
  }
  return "";
}

TEST_CASE(
    "a probe port flooded with idle connections at a 256 descriptor limit: /readyz answers "
    "and lastcall prestop drains through the control socket") {
  constexpr int kFileLimit = 256;
  DrainingApp app(100);
  Sidecar sidecar = StartLastcallWithFileLimit(kFileLimit, app.Flags());
  CHECK(SoftFileLimitOf(sidecar.process.pid()).find(" 256 ") != std::string::npos);

  // More idle connections than the process has descriptors, then a second wave once the first
  // has been accepted (or has filled the table, before the fix).
  std::vector<int> idle = OpenIdleConnections(sidecar.probe_port, kFileLimit + 100);
  REQUIRE(idle.size() >= static_cast<size_t>(kFileLimit));
  std::this_thread::sleep_for(milliseconds(300));
  std::vector<int> more = OpenIdleConnections(sidecar.probe_port, 100);
  idle.insert(idle.end(), more.begin(), more.end());
  std::this_thread::sleep_for(milliseconds(100));

  long long worst = 0;
  int answered = 0;
  for (int i = 0; i < 20; ++i) {
    const auto start = Steady::now();
    const int status = Status(sidecar.probe_port, "/readyz");
    worst = std::max(worst, ElapsedMs(start));
    if (status != 200) break;  // a probe that is not answered takes the 2 s timeout: stop here
    ++answered;
  }
  MESSAGE("/readyz beside ", idle.size(), " idle connections at a ", kFileLimit,
          "-descriptor limit: ", answered, "/20 answered, slowest ", worst, " ms");
  CHECK(answered == 20);
  CHECK(worst < 100);

  const auto start = Steady::now();
  Process hook = Process::Spawn(
      {LASTCALL_BINARY, "prestop", "--control", sidecar.control(), "--timeout", "8s"});
  const auto code = hook.WaitExit(milliseconds(10000));
  MESSAGE("lastcall prestop beside the flood: exit ", code.value_or(-1), " after ",
          ElapsedMs(start), " ms");
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(Status(sidecar.probe_port, "/readyz") == 503);
  sidecar.process.Signal(SIGTERM);
  CHECK(sidecar.process.WaitExit(milliseconds(3000)) == 0);
  for (int fd : idle) close(fd);
}

TEST_CASE(
    "a /prestop caller that half-closes after its request gets the answer when the "
    "sequence ends") {
  DrainingApp app(100);
  Sidecar sidecar = StartLastcall(app.Flags());
  testing::RawClient client = testing::RawClient::Unix(sidecar.socket);
  REQUIRE(client.connected());
  const auto start = Steady::now();
  REQUIRE(client.Send("GET /prestop HTTP/1.1\r\nHost: lastcall\r\n\r\n"));
  REQUIRE(shutdown(client.fd(), SHUT_WR) == 0);
  const std::string response = client.ReadResponse(milliseconds(5000));
  const long long took = ElapsedMs(start);
  CHECK(testing::StatusOf(response) == 200);
  CHECK(response.find("drained") != std::string::npos);
  CHECK(took >= 200);  // it waited for lb_delay and the drain, not only for the request
  sidecar.process.Signal(SIGTERM);
  CHECK(sidecar.process.WaitExit(milliseconds(3000)) == 0);
}

}  // namespace
}  // namespace lastcall::test

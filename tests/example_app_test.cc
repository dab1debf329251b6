// Black-box tests of examples/drainable_app: start the real binary on a free port, talk HTTP to
// it, send it real signals. Every test is bounded to a few seconds and reaps its child.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/subprocess.h"
#include "test_timing.h"

namespace {

// Sanitizers slow the app down; the bounds here guard against hangs, not for speed.
constexpr int kSlowdown = lastcall::testing::kSanitizerSlowdown;

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A drainable_app child process, on a free loopback port unless `flags` say --listen. The
// destructor kills and reaps it if it is still there, so a failing test leaves no process behind.
class AppProcess {
 public:
  explicit AppProcess(const std::vector<std::string>& flags) {
    std::vector<std::string> args = {EXAMPLE_APP_BINARY};
    if (std::find(flags.begin(), flags.end(), "--listen") == flags.end()) {
      args.insert(args.end(), {"--listen", "127.0.0.1:0"});
    }
    args.insert(args.end(), flags.begin(), flags.end());
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    // The child dies with this process, even killed by a test timeout, and sees the signals the
    // tests send, whatever this one blocks (Spawn resets them).
    lastcall::SpawnRequest request;
    request.argv = args;
    request.output = lastcall::ChildOutput::Descriptor(out[1]);
    request.output.stderr_too = false;
    request.die_with_parent = true;
    std::string error;
    const std::optional<pid_t> pid = lastcall::Spawn(request, &error);
    ::close(out[1]);
    stdout_ = out[0];
    if (!pid) ::close(stdout_);
    REQUIRE_MESSAGE(pid, "cannot start " << error);
    pid_ = *pid;
  }

  ~AppProcess() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (stdout_ >= 0) ::close(stdout_);
  }

  AppProcess(const AppProcess&) = delete;
  AppProcess& operator=(const AppProcess&) = delete;

  // Returns the next stdout line, without its newline, or nothing if none comes within `timeout`.
  // The tests' output is a few lines, far from filling the pipe.
  std::optional<std::string> ReadLine(milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    size_t newline = std::string::npos;
    while ((newline = stdout_buffer_.find('\n')) == std::string::npos) {
      const milliseconds left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return std::nullopt;
      pollfd ready{stdout_, POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(left.count()) + 1) <= 0) continue;
      char buffer[256];
      const ssize_t n = ::read(stdout_, buffer, sizeof(buffer));
      if (n <= 0) return std::nullopt;
      stdout_buffer_.append(buffer, static_cast<size_t>(n));
    }
    std::string line = stdout_buffer_.substr(0, newline);
    stdout_buffer_.erase(0, newline + 1);
    return line;
  }

  // Waits up to 5 s for the "drainable_app listening on 127.0.0.1:PORT" line and returns PORT;
  // fails the test if it does not come.
  int RequirePort() {
    const std::optional<std::string> line = ReadLine(5s);
    const std::string prefix = "drainable_app listening on 127.0.0.1:";
    REQUIRE_MESSAGE((line && line->rfind(prefix, 0) == 0),
                    "unexpected first line: " << line.value_or("(none)"));
    const int port = std::stoi(line->substr(prefix.size()));
    REQUIRE(port > 0);
    return port;
  }

  void Signal(int signal) { REQUIRE(::kill(pid_, signal) == 0); }

  // Returns the wait status once the process has ended, or nothing if it is still running after
  // `timeout`.
  std::optional<int> WaitExit(milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    while (!status_) {
      int status = 0;
      const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
      if (reaped == pid_) {
        status_ = status;
      } else if (Clock::now() >= deadline) {
        break;
      } else {
        std::this_thread::sleep_for(2ms);
      }
    }
    return status_;
  }

  // The exit code, or -1 if it did not exit normally within `timeout`.
  int WaitExitCode(milliseconds timeout) {
    const std::optional<int> status = WaitExit(timeout);
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
  std::string stdout_buffer_;
  std::optional<int> status_;
};

struct Reply {
  bool ok = false;  // false: no HTTP response (refused, reset, timed out)
  int status = 0;
  std::string body;
  std::string connection;  // the Connection header
};

Reply Send(int port, const std::string& method, const std::string& path, bool keep_alive = false) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1s);
  client.set_read_timeout(3s);
  client.set_keep_alive(keep_alive);
  const httplib::Result result = method == "POST" ? client.Post(path) : client.Get(path);
  if (!result) return {};
  return {true, result->status, result->body, result->get_header_value("Connection")};
}

Reply Get(int port, const std::string& path) { return Send(port, "GET", path); }
Reply Post(int port, const std::string& path) { return Send(port, "POST", path); }

// Starts a GET on its own thread.
std::future<Reply> GetAsync(int port, const std::string& path) {
  return std::async(std::launch::async, [port, path] { return Get(port, path); });
}

nlohmann::json Status(int port) {
  const Reply reply = Get(port, "/drain/status");
  REQUIRE(reply.ok);
  REQUIRE(reply.status == 200);
  return nlohmann::json::parse(reply.body);
}

bool Eventually(const std::function<bool()>& condition, milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

bool InflightReaches(int port, int inflight) {
  return Eventually([&] { return Status(port)["inflight"] == inflight; }, 2s);
}

milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

}  // namespace

TEST_CASE("drainable_app: answers /work, / and /healthz") {
  AppProcess app({"--name", "replica-a"});
  const int port = app.RequirePort();

  const Reply work = Get(port, "/work?ms=20");
  REQUIRE(work.ok);
  CHECK(work.status == 200);
  CHECK(nlohmann::json::parse(work.body) ==
        nlohmann::json{{"name", "replica-a"}, {"slept_ms", 20}});
  CHECK(nlohmann::json::parse(Get(port, "/work").body)["slept_ms"] == 0);
  CHECK(Get(port, "/work?ms=-1").status == 400);
  CHECK(Get(port, "/work?ms=fast").status == 400);

  const Reply root = Get(port, "/");
  CHECK(root.status == 200);
  CHECK(root.body == "drainable_app replica-a\n");
  CHECK(Get(port, "/healthz").status == 200);
  CHECK(Get(port, "/nope").status == 404);
  // A request counts until its response has been written, a moment after the client has it.
  const nlohmann::json idle = {
      {"name", "replica-a"}, {"draining", false}, {"inflight", 0}, {"served", 2}};
  CHECK(Eventually([&] { return Status(port) == idle; }, 500ms));
  CHECK(Status(port) == idle);
}

TEST_CASE("drainable_app: GET /drain is 202 while work is in flight after POST /drain, then 200") {
  AppProcess app({});
  const int port = app.RequirePort();

  // Not asked to drain: not drained. (Keep-alive requests: the Connection header is the app's.)
  const Reply before = Send(port, "GET", "/drain", /*keep_alive=*/true);
  CHECK(before.status == 202);
  CHECK(nlohmann::json::parse(before.body) == nlohmann::json{{"draining", false}, {"inflight", 0}});
  CHECK(before.connection != "close");

  std::future<Reply> work = GetAsync(port, "/work?ms=500");
  REQUIRE(InflightReaches(port, 1));
  const Reply trigger = Post(port, "/drain");
  CHECK(trigger.status == 202);
  CHECK(nlohmann::json::parse(trigger.body) == nlohmann::json{{"draining", true}, {"inflight", 1}});
  CHECK(Post(port, "/drain").status == 202);  // idempotent

  const Reply during = Send(port, "GET", "/drain", /*keep_alive=*/true);
  CHECK(during.status == 202);
  CHECK(nlohmann::json::parse(during.body) == nlohmann::json{{"draining", true}, {"inflight", 1}});
  CHECK(during.connection == "close");  // keep-alive clients should reconnect elsewhere

  // Draining still serves what arrives: the load balancer stops sending, not the app.
  const Reply late = Send(port, "GET", "/work?ms=1", /*keep_alive=*/true);
  CHECK(late.status == 200);
  CHECK(late.connection == "close");

  const Reply finished = work.get();
  CHECK(finished.status == 200);
  // The work counts until its response is written, so the poll may need a moment after the client
  // has it; it must never be 200 before.
  CHECK(Eventually([&] { return Get(port, "/drain").status == 200; }, 500ms));
  const Reply drained = Get(port, "/drain");
  CHECK(drained.status == 200);
  CHECK(nlohmann::json::parse(drained.body) == nlohmann::json{{"draining", true}, {"inflight", 0}});
  CHECK(Status(port)["served"] == 2);
}

TEST_CASE("drainable_app: SIGTERM lets in-flight work finish, then exits 0") {
  AppProcess app({});
  const int port = app.RequirePort();

  std::future<Reply> work = GetAsync(port, "/work?ms=800");
  REQUIRE(InflightReaches(port, 1));
  const Clock::time_point signalled = Clock::now();
  app.Signal(SIGTERM);

  // The listener closes at once; the process stays for the work.
  CHECK(Eventually([&] { return !Get(port, "/").ok; }, 500ms * kSlowdown));
  CHECK_FALSE(app.WaitExit(0ms).has_value());

  const Reply finished = work.get();
  CHECK(finished.ok);
  CHECK(finished.status == 200);
  CHECK(nlohmann::json::parse(finished.body)["slept_ms"] == 800);
  CHECK(finished.connection == "close");
  CHECK(app.WaitExitCode(1s * kSlowdown) == 0);
  CHECK(Since(signalled) < 1500ms * kSlowdown);
}

TEST_CASE("drainable_app: SIGINT on an idle app exits 0 at once") {
  AppProcess app({});
  app.RequirePort();
  app.Signal(SIGINT);
  CHECK(app.WaitExitCode(500ms) == 0);
}

TEST_CASE("drainable_app: idle keep-alive connections do not hold up shutdown") {
  AppProcess app({});
  const int port = app.RequirePort();

  // httplib waits out the 5 s keep-alive timeout of idle connections before stop() completes.
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  const httplib::Result warm = client.Get("/");
  REQUIRE(warm);
  REQUIRE(warm->status == 200);

  const Clock::time_point signalled = Clock::now();
  app.Signal(SIGTERM);
  CHECK(app.WaitExitCode(1s) == 0);
  CHECK(Since(signalled) < 500ms);
}

TEST_CASE("drainable_app: --shutdown-timeout bounds the wait for in-flight work") {
  AppProcess app({"--shutdown-timeout", "200ms"});
  const int port = app.RequirePort();

  std::future<Reply> work = GetAsync(port, "/work?ms=3000");
  REQUIRE(InflightReaches(port, 1));
  const Clock::time_point signalled = Clock::now();
  app.Signal(SIGTERM);
  CHECK(app.WaitExitCode(1s) == 1);
  CHECK(Since(signalled) >= 200ms);
  CHECK_FALSE(work.get().ok);
}

TEST_CASE("drainable_app: --naive exits at once and drops in-flight work") {
  AppProcess app({"--naive"});
  const int port = app.RequirePort();

  std::future<Reply> work = GetAsync(port, "/work?ms=800");
  REQUIRE(InflightReaches(port, 1));
  const Clock::time_point signalled = Clock::now();
  app.Signal(SIGTERM);
  CHECK(app.WaitExitCode(300ms) == 0);
  CHECK(Since(signalled) < 300ms);
  const Reply dropped = work.get();
  CHECK_FALSE(dropped.ok);
}

TEST_CASE("drainable_app: --drain-exit shuts down once drained") {
  AppProcess app({"--drain-exit"});
  const int port = app.RequirePort();

  std::future<Reply> work = GetAsync(port, "/work?ms=400");
  REQUIRE(InflightReaches(port, 1));
  CHECK(Post(port, "/drain").status == 202);
  CHECK_FALSE(app.WaitExit(100ms).has_value());  // still has work
  CHECK(work.get().status == 200);
  CHECK(app.WaitExitCode(1s) == 0);
}

TEST_CASE("drainable_app: --no-drain-endpoint answers 404 on /drain") {
  AppProcess app({"--no-drain-endpoint"});
  const int port = app.RequirePort();

  CHECK(Get(port, "/drain").status == 404);
  CHECK(Post(port, "/drain").status == 404);
  CHECK(Get(port, "/work?ms=1").status == 200);
  CHECK(Status(port)["draining"] == false);
}

TEST_CASE("drainable_app: bad flags exit 2") {
  const std::vector<std::vector<std::string>> cases = {
      {"--shutdown-timeout", "soon"},
      {"--shutdown-timeout", "5"},
      {"--shutdown-timeout", "-5s"},
      {"--listen", "8080"},
      {"--listen", "127.0.0.1:70000"},
      {"--threads", "0"},
      {"--no-such-flag"},
  };
  for (const std::vector<std::string>& flags : cases) {
    CAPTURE(flags[0]);
    AppProcess app(flags);
    CHECK(app.WaitExitCode(2s) == 2);
  }
}

TEST_CASE("drainable_app: accepts compound durations and logs requests on demand") {
  AppProcess app({"--shutdown-timeout", "1m30s", "--log-requests"});
  const int port = app.RequirePort();
  CHECK(Get(port, "/work?ms=1").status == 200);
  CHECK(app.ReadLine(1s) == "GET /work?ms=1 200");
  app.Signal(SIGTERM);
  CHECK(app.WaitExitCode(1s) == 0);
}

TEST_CASE("drainable_app: a port in use is an error, not a second listener") {
  AppProcess first({});
  const int port = first.RequirePort();
  AppProcess second({"--listen", "127.0.0.1:" + std::to_string(port)});
  CHECK(second.WaitExitCode(2s) == 1);
}

TEST_CASE("drainable_app: polls are answered while many long requests run") {
  AppProcess app({});
  const int port = app.RequirePort();

  constexpr int kRequests = 32;  // more than httplib's default pool of 8 threads
  std::vector<std::future<Reply>> work;
  for (int i = 0; i < kRequests; ++i) work.push_back(GetAsync(port, "/work?ms=1000"));
  REQUIRE(InflightReaches(port, kRequests));

  const Clock::time_point polled = Clock::now();
  CHECK(Post(port, "/drain").status == 202);
  const Reply poll = Get(port, "/drain");
  CHECK(Since(polled) < 300ms);
  CHECK(poll.status == 202);
  CHECK(nlohmann::json::parse(poll.body)["inflight"] == kRequests);

  for (std::future<Reply>& reply : work) CHECK(reply.get().status == 200);
  CHECK(Eventually([&] { return Get(port, "/drain").status == 200; }, 500ms));
  CHECK(Status(port)["served"] == kRequests);
}

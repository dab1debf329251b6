// Answers lastcall must survive without a crash, a hang or unbounded memory: a sidecar that
// answers `lastcall prestop` with JSON of the wrong shape, an app whose monitor answers are huge
// or deeply nested, a status monitor that only ever sees server errors, a URL with a host name.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "fake_app.h"
#include "harness.h"
#include "http/http_server.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;

// A stand-in for the sidecar's control endpoint on 127.0.0.1: POST /prestop?wait=false and GET
// /status answer what the test scripts; GET /prestop is answered `hold` later, from a thread.
class FakeSidecar {
 public:
  FakeSidecar(std::string started, std::string status, std::string final_body, milliseconds hold)
      : server_(HttpServerOptions{}, [this, started, status, final_body, hold](
                                         const ServerRequest& request, Responder respond) {
          if (request.method == "POST") {
            respond(FakeApp::Answer(202, started));
          } else if (request.path == "/status") {
            respond(FakeApp::Answer(200, status));
          } else {
            std::lock_guard lock(mu_);
            answerers_.emplace_back([respond, final_body, hold] {
              std::this_thread::sleep_for(hold);
              respond(FakeApp::Answer(200, final_body));
            });
          }
        }) {
    ListenAddress address;
    address.host = "127.0.0.1";
    const std::string error = server_.Listen(address);
    if (!error.empty()) throw std::runtime_error(error);
    server_.Start();
  }
  ~FakeSidecar() {
    std::lock_guard lock(mu_);
    for (std::thread& t : answerers_) t.join();
  }
  std::string control() const { return "127.0.0.1:" + std::to_string(server_.port()); }

 private:
  std::mutex mu_;
  std::vector<std::thread> answerers_;
  HttpServer server_;
};

constexpr char kGoodStarted[] =
    R"({"phase":"unready","detail":"","timeline":[{"phase":"unready","elapsed_ms":0,)"
    R"("detail":"preStop call"}],"last_value":null,"budget_ms":3000})";
constexpr char kGoodFinal[] =
    R"({"phase":"drained","detail":"drained","timeline":[{"phase":"unready","elapsed_ms":0,)"
    R"("detail":"preStop call"},{"phase":"drained","elapsed_ms":400,"detail":"HTTP 200"}],)"
    R"("last_value":0,"budget_ms":3000})";

TEST_CASE("lastcall prestop: a sidecar answering JSON of the wrong shape never crashes it") {
  struct Case {
    std::string name;
    std::string started;
    std::string status;
    std::string final_body;
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      // Before the fix: std::terminate (exit 134) from the /status follow loop.
      {"/status timeline of another type", kGoodStarted, R"({"timeline": 5})", kGoodFinal, 0,
       "bad answer from the sidecar to GET /status: field \"timeline\" is a number, not an "
       "array"},
      {"/status entry field of another type", kGoodStarted,
       R"({"timeline": [{"elapsed_ms": "soon", "phase": 3}]})", kGoodFinal, 0,
       "timeline[0].elapsed_ms is a string, not a number"},
      {"/status is an array", kGoodStarted, "[]", kGoodFinal, 0,
       "bad answer from the sidecar to GET /status: the answer is an array, not a JSON object"},
      {"the first answer's budget is a string", R"({"budget_ms": "3000"})", "{}", kGoodFinal, 3,
       "bad answer from the sidecar to POST /prestop: field \"budget_ms\" is a string, not a "
       "number"},
      {"the first answer's timeline holds a number", R"({"timeline": [1]})", "{}", kGoodFinal, 3,
       "timeline[0] is a number, not an object"},
      {"the final answer's detail is an object", kGoodStarted, "{}",
       R"({"phase": "drained", "detail": {"x": 1}})", 3,
       "bad answer from the sidecar to GET /prestop: field \"detail\" is an object, not a "
       "string"},
      {"the final answer nests deeply", kGoodStarted, "{}",
       std::string(5000, '[') + "1" + std::string(5000, ']'), 3,
       "the answer nests deeper than 16 levels"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    FakeSidecar sidecar(c.started, c.status, c.final_body, milliseconds(400));
    const auto start = Steady::now();
    Process hook = Process::Spawn({LASTCALL_BINARY, "prestop", "--control", sidecar.control()});
    const auto code = hook.WaitExit(milliseconds(5000));
    REQUIRE(code);
    CAPTURE(hook.Output());
    CHECK(*code == c.exit_code);
    CHECK(hook.Output().find(c.message) != std::string::npos);
    CHECK(ElapsedMs(start) < 2000);
  }
}

// Runs `lastcall run` against `app` with the given monitor flags, starts the sequence with
// SIGTERM (lb_delay 0, drain timeout 500 ms), and returns the exit code and the log.
struct Run {
  int code = -1;
  long long exit_ms = 0;  // SIGTERM -> exit
  std::string log;
};
Run DrainAgainst(const FakeApp& app, std::vector<std::string> flags) {
  std::vector<std::string> args = {"--lb-delay",      "0s",   "--drain-timeout", "500ms",
                                   "--poll-interval", "50ms", "--drain-url=",    "--monitor-url",
                                   app.url("/drain")};
  args.insert(args.end(), flags.begin(), flags.end());
  Sidecar sidecar = StartLastcall(args);
  const auto start = Steady::now();
  sidecar.process.Signal(SIGTERM);
  Run run;
  const auto code = sidecar.process.WaitExit(milliseconds(5000));
  run.exit_ms = ElapsedMs(start);
  run.code = code.value_or(-1);
  run.log = sidecar.process.Output();
  return run;
}

TEST_CASE("json monitor: a deeply nested answer is an error, read in bounded time") {
  const std::string nested = "{\"inflight\": 0, \"x\": " + std::string(3 << 20, '[');
  FakeApp app([&](const ServerRequest&) { return FakeApp::Answer(200, nested); });
  const Run run = DrainAgainst(app, {"--monitor", "json"});
  CAPTURE(run.log.substr(0, 4000));
  CHECK(run.code == 1);  // never drained: the answer cannot be trusted
  CHECK(run.log.find("body nests arrays and objects deeper than 64 levels") != std::string::npos);
  MESSAGE("SIGTERM -> exit " << run.exit_ms << " ms with a 500 ms drain timeout");
  CHECK(run.exit_ms < 500 + 400);  // the figure that matters is in bench/; this catches seconds
}

TEST_CASE("max_body: a longer answer is an error found while reading") {
  const std::string big = "{\"inflight\": 0, \"pad\": \"" + std::string(100 * 1024, 'x') + "\"}";
  FakeApp app([&](const ServerRequest&) { return FakeApp::Answer(200, big); });
  const Run limited = DrainAgainst(app, {"--monitor", "json", "--max-body", "64KiB"});
  CAPTURE(limited.log.substr(0, 4000));
  CHECK(limited.code == 1);
  CHECK(limited.log.find("the response body exceeds 65536 bytes (max_body)") != std::string::npos);
  const Run roomy = DrainAgainst(app, {"--monitor", "json", "--max-body", "128KiB"});
  CHECK(roomy.code == 0);
}

TEST_CASE("status monitor: a server error or redirect is busy, with one warning per kind") {
  std::atomic<int> polls{0};
  FakeApp app([&](const ServerRequest&) {
    const int n = ++polls;
    if (n <= 3) return FakeApp::Answer(503, "upstream down", "text/plain");
    if (n <= 6) return FakeApp::Answer(307, "", "text/plain");
    return FakeApp::Answer(200, "{}");
  });
  const Run run = DrainAgainst(app, {"--monitor", "status", "--poll-interval", "20ms"});
  CAPTURE(run.log.substr(0, 4000));
  CHECK(run.code == 0);
  auto count = [&](std::string_view needle) {
    size_t n = 0;
    for (size_t at = run.log.find(needle); at != std::string::npos;
         at = run.log.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  CHECK(count("the status monitor got a server error") == 1);
  CHECK(count("the status monitor got a redirect") == 1);
}

TEST_CASE("a URL with a host name is a config error naming the key and the URL") {
  Process check = Process::Spawn(
      {LASTCALL_BINARY, "check", "--monitor-url", "http://app.default.svc:8080/drain"});
  const auto code = check.WaitExit(milliseconds(3000));
  REQUIRE(code);
  CHECK(*code == 2);
  const std::string out = check.Output();
  CAPTURE(out);
  CHECK(out.find("--monitor-url") != std::string::npos);
  CHECK(out.find("\"app.default.svc\" must be an IP address or localhost") != std::string::npos);
}

}  // namespace
}  // namespace lastcall::test

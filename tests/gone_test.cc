// "Gone means gone" and "a push ends the drain at once" (issue 23, cases 2 and 3), against the
// real binary: an app on [::1] only with lastcall's URLs on 127.0.0.1 is not gone; an app with
// nothing listening at all still is; a push while a poll hangs ends the drain at once.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "http/http_server.h"
#include "http_testing.h"
#include "test_timing.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;

// An app on one address that accepts the drain trigger (202) and answers every GET busy (202),
// or, with `hang_gets`, never: each GET waits for an answer that comes only when the app stops.
class App {
 public:
  App(const std::string& host, bool hang_gets = false)
      : server_(HttpServerOptions{}, [this, hang_gets](const ServerRequest& r, Responder respond) {
          std::lock_guard lock(mu_);
          seen_.push_back(r.method + " " + r.path);
          if (r.method == "GET" && hang_gets) {
            held_.push_back(std::move(respond));  // never answered: the poll hangs
            return;
          }
          ServerResponse response;
          response.status = 202;
          response.body = "{\"inflight\":1}";
          response.content_type = "application/json";
          respond(response);
        }) {
    ListenAddress address;
    address.host = host;
    address.port = 0;
    const std::string error = server_.Listen(address);
    if (!error.empty()) throw std::runtime_error(error);
    server_.Start();
  }
  ~App() { server_.Stop(); }
  uint16_t port() const { return server_.port(); }
  int Count(const std::string& method_and_path) {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& s : seen_) n += s == method_and_path ? 1 : 0;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> seen_;  // GUARDED_BY(mu_)
  std::vector<Responder> held_;    // GUARDED_BY(mu_)
  HttpServer server_;
};

HttpResponse Control(const Sidecar& sidecar, const std::string& method, const std::string& target) {
  std::string error;
  std::optional<Url> url = ParseUrl("unix://" + sidecar.socket, &error);
  REQUIRE(url);
  HttpRequest request;
  request.method = method;
  request.url = *url;
  request.url.target = target;
  return PosixHttpClient{}.Send(request, Steady::now() + milliseconds(10000));
}

std::vector<std::string> FlagsFor(uint16_t port) {
  return {"--drain-url",     "http://127.0.0.1:" + std::to_string(port) + "/drain",
          "--lb-delay",      "600ms",
          "--drain-timeout", "400ms",
          "--poll-interval", "50ms"};
}

std::string StartWarning(uint16_t port) {
  const std::string p = std::to_string(port);
  return "nothing listens on 127.0.0.1:" + p + ", but [::1]:" + p +
         " does (IPv6): use http://[::1]:" + p + "/drain";
}

TEST_CASE("an app listening only on [::1], URLs on 127.0.0.1: warned at start, never gone") {
  // Node >= 17 binds `localhost` to ::1 first; lastcall's default URL is on 127.0.0.1.
  App app("::1");
  Sidecar sidecar = StartLastcall(FlagsFor(app.port()));
  CHECK_MESSAGE(sidecar.process.WaitForOutput(StartWarning(app.port()), milliseconds(3000)),
                sidecar.process.Output());
  const auto start = Steady::now();
  sidecar.process.Signal(SIGTERM);
  const std::optional<int> code = sidecar.process.WaitExit(milliseconds(5000));
  const long long elapsed = ElapsedMs(start);
  REQUIRE(code);
  const std::string output = sidecar.process.Output();
  CHECK_MESSAGE(*code == 1, output);  // timed out: never "drained" by a refused connection
  CHECK(elapsed >= 600 + 400);        // lb_delay waited, then the drain timeout
  CHECK(output.find("skipping the rest of lb_delay") == std::string::npos);
  CHECK(output.find("yet the app is not gone: an IPv6 socket listens on port " +
                    std::to_string(app.port())) != std::string::npos);
}

TEST_CASE("an app that starts on [::1] after lastcall is warned about once it listens") {
  const uint16_t port = FreePort();
  Sidecar sidecar = StartLastcall(FlagsFor(port));
  std::this_thread::sleep_for(milliseconds(300));  // lastcall found nothing on the port yet
  CHECK(sidecar.process.Output().find("nothing listens on 127.0.0.1") == std::string::npos);
  HttpServer late(HttpServerOptions{}, [](const ServerRequest&, Responder respond) {
    ServerResponse response;
    response.status = 202;
    respond(response);
  });
  ListenAddress address;
  address.host = "::1";
  address.port = port;
  REQUIRE(late.Listen(address).empty());
  late.Start();
  CHECK_MESSAGE(sidecar.process.WaitForOutput(StartWarning(port), milliseconds(3000)),
                sidecar.process.Output());
  late.Stop();
}

TEST_CASE("an app with nothing listening in any family is still gone: lb_delay skipped, exit 0") {
  const testing::ClosedPort closed;  // held, so no other test's server can take the port
  const std::string url = "http://127.0.0.1:" + std::to_string(closed.port()) + "/drain";
  Sidecar sidecar = StartLastcall({"--lb-delay", "5s", "--drain-url", url});
  const auto start = Steady::now();
  sidecar.process.Signal(SIGTERM);
  const std::optional<int> code = sidecar.process.WaitExit(milliseconds(3000));
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(ElapsedMs(start) < 1000);
  const std::string output = sidecar.process.Output();
  CHECK(output.find("the app is gone") != std::string::npos);
  CHECK(output.find("in any address family") != std::string::npos);
  CHECK(output.find("nothing listens on 127.0.0.1") == std::string::npos);  // no start warning
}

TEST_CASE("a push while a poll hangs ends the drain at once, the abandoned poll holds nothing") {
  App app("127.0.0.1", /*hang_gets=*/true);
  const std::string url = "http://127.0.0.1:" + std::to_string(app.port()) + "/drain";
  // Each poll would hang for 3 s (the monitor timeout); the drain timeout is far away.
  Sidecar sidecar = StartLastcall({"--drain-url", url, "--lb-delay", "0s", "--monitor-timeout",
                                   "3s", "--drain-timeout", "20s", "--poll-interval", "20ms"});
  REQUIRE(Control(sidecar, "POST", "/prestop?wait=false").status == 202);
  REQUIRE(WaitUntil([&] { return app.Count("GET /drain") >= 1; }, milliseconds(3000)));
  std::this_thread::sleep_for(milliseconds(100));  // the poll is well under way
  const HttpResponse push = Control(sidecar, "POST", "/drained");
  const auto pushed = Steady::now();
  REQUIRE(push.status == 200);
  const HttpResponse result = Control(sidecar, "GET", "/prestop");  // blocks until the end
  const long long after_push = ElapsedMs(pushed);
  MESSAGE("push during a hanging poll: the sequence ended " << after_push
                                                            << " ms after the push's answer");
  REQUIRE(result.ok());
  CHECK(result.status == 200);
  CHECK(after_push <= 50);  // the poll would have hung for 3 s
  CHECK(nlohmann::json::parse(result.body)["detail"] ==
        "the app said it is drained (POST /drained)");
  CHECK(app.Count("GET /drain") == 1);  // the poll in flight was abandoned, not repeated
  // The abandoned poll is still hanging: the exit does not wait for it.
  const auto signalled = Steady::now();
  sidecar.process.Signal(SIGTERM);
  const std::optional<int> code = sidecar.process.WaitExit(milliseconds(3000));
  REQUIRE(code);
  CHECK(*code == 0);
  // Under TSan the exit also holds TSan's own sleep, as the abandoned poll's thread still runs.
  CHECK(ElapsedMs(signalled) < 500 + testing::kTsanExitSleepMs);
}

}  // namespace
}  // namespace lastcall::test

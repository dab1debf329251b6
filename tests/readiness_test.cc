// readiness.upstream end to end: /readyz gated on the app's health URL, cached, with its own
// timeout, and 503 regardless once the sequence starts.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "fake_app.h"
#include "harness.h"
#include "http_testing.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;

// A TCP port on 127.0.0.1 whose connections the kernel completes but nobody ever answers (it
// never accepts): a health URL that hangs.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(fd_, 64) == 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// An app whose /healthz answers `health` (changeable while the test runs).
struct HealthApp {
  std::atomic<int> health{200};
  FakeApp app{[this](const ServerRequest& request) {
    if (request.path == "/healthz") return FakeApp::Answer(health.load(), "", "text/plain");
    return FakeApp::Answer(404, "", "text/plain");
  }};
};

bool ReadyzIs(uint16_t port, int status, const std::string& body_part = "") {
  const HttpResponse response = Get(port, "/readyz");
  return response.ok() && response.status == status &&
         response.body.find(body_part) != std::string::npos;
}

TEST_CASE("/readyz follows the upstream: 200 while it answers 2xx, 503 with the reason if not") {
  HealthApp health;
  Sidecar sidecar =
      StartLastcall({"--readiness-upstream", health.app.url("/healthz"), "--readiness-interval",
                     "50ms", "--drain-url", "", "--monitor", "none"});
  CHECK(WaitUntil([&] { return ReadyzIs(sidecar.probe_port, 200, "ok"); }, milliseconds(2000)));

  health.health = 500;
  CHECK(WaitUntil([&] { return ReadyzIs(sidecar.probe_port, 503, "answered 500"); },
                  milliseconds(2000)));
  const HttpResponse unhealthy = Get(sidecar.probe_port, "/readyz");
  CHECK(unhealthy.body.find(health.app.url("/healthz")) != std::string::npos);

  health.health = 204;  // any 2xx
  CHECK(WaitUntil([&] { return ReadyzIs(sidecar.probe_port, 200, "ok"); }, milliseconds(2000)));
  CHECK(Status(sidecar.probe_port, "/livez") == 200);  // liveness never follows the upstream

  health.health = 302;  // a redirect is not healthy (the kubelet would follow it; we do not)
  CHECK(WaitUntil([&] { return ReadyzIs(sidecar.probe_port, 503, "answered 302"); },
                  milliseconds(2000)));
}

TEST_CASE("an upstream that refuses connections makes /readyz 503, naming the error") {
  const testing::ClosedPort closed;  // held, so no other test's server can take the port
  const std::string gone = "http://127.0.0.1:" + std::to_string(closed.port()) + "/healthz";
  Sidecar sidecar = StartLastcall({"--readiness-upstream", gone, "--readiness-interval", "50ms",
                                   "--drain-url", "", "--monitor", "none"});
  HttpResponse last;
  const bool refused = WaitUntil(
      [&] {
        last = Get(sidecar.probe_port, "/readyz");
        return last.ok() && last.status == 503 && last.body.find("refused") != std::string::npos;
      },
      milliseconds(2000));
  CHECK_MESSAGE(refused, "last /readyz: " << last.status << " " << last.body
                                          << "\nlastcall's output:\n"
                                          << sidecar.process.Output());
}

TEST_CASE("a probe storm on /readyz reaches the upstream at most once per readiness interval") {
  HealthApp health;
  constexpr milliseconds kInterval{100};
  Sidecar sidecar =
      StartLastcall({"--readiness-upstream", health.app.url("/healthz"), "--readiness-interval",
                     "100ms", "--drain-url", "", "--monitor", "none"});
  REQUIRE(WaitUntil([&] { return ReadyzIs(sidecar.probe_port, 200); }, milliseconds(2000)));

  // 500 probes from 4 clients, spread over about a second so that the cache must refresh.
  const int before = health.app.Count("GET /healthz");
  const auto start = Steady::now();
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 125; ++i) {
        ok += Status(sidecar.probe_port, "/readyz") == 200 ? 1 : 0;
        std::this_thread::sleep_for(milliseconds(8));
      }
    });
  }
  for (auto& client : clients) client.join();
  const long long storm_ms = ElapsedMs(start);
  const int hits = health.app.Count("GET /healthz") - before;

  CHECK(ok == 500);
  MESSAGE("500 /readyz in " << storm_ms << " ms reached the upstream " << hits << " times");
  CHECK(hits <= storm_ms / kInterval.count() + 2);
  CHECK(hits >= storm_ms / kInterval.count() / 2);  // and the cached answer is refreshed
}

TEST_CASE("an upstream that never answers: /readyz is 503 after the upstream timeout, and fast") {
  SilentListener silent;
  Sidecar sidecar = StartLastcall({"--readiness-upstream", silent.url("/healthz"),
                                   "--readiness-interval", "100ms", "--readiness-timeout", "300ms",
                                   "--drain-url", "", "--monitor", "none"});
  CHECK(WaitUntil([&] { return ReadyzIs(sidecar.probe_port, 503, "before the deadline"); },
                  milliseconds(3000)));
  // Probes while upstream checks hang: the kubelet's probe must not wait on the app.
  long long slowest = 0;
  for (int i = 0; i < 40; ++i) {
    const auto start = Steady::now();
    const HttpResponse response = Get(sidecar.probe_port, "/readyz");
    slowest = std::max(slowest, ElapsedMs(start));
    CHECK(response.ok());
    CHECK(response.status == 503);
    std::this_thread::sleep_for(milliseconds(25));
  }
  MESSAGE("slowest /readyz while the upstream hangs: " << slowest << " ms");
  CHECK(slowest < 100);  // typically 0-1 ms; a loaded CI core can stall a thread for tens
}

TEST_CASE("once the sequence starts, /readyz is 503 even though the upstream is healthy") {
  HealthApp health;
  Sidecar sidecar =
      StartLastcall({"--readiness-upstream", health.app.url("/healthz"), "--readiness-interval",
                     "50ms", "--lb-delay", "2s", "--drain-url", "", "--monitor", "none"});
  REQUIRE(WaitUntil([&] { return ReadyzIs(sidecar.probe_port, 200); }, milliseconds(2000)));
  sidecar.process.Signal(SIGTERM);
  CHECK(WaitUntil([&] { return ReadyzIs(sidecar.probe_port, 503, "unready"); }, milliseconds(100)));
  // The upstream stays healthy; /readyz stays 503 through lb_delay.
  std::this_thread::sleep_for(milliseconds(300));
  CHECK(ReadyzIs(sidecar.probe_port, 503, "unready"));
  CHECK(Status(sidecar.probe_port, "/livez") == 200);
}

}  // namespace
}  // namespace lastcall::test

// The mesh proxy is asked to quit after the drain, not before, and never holds the exit: the real
// binary through a whole sequence against stand-ins of Istio's and Linkerd's quit endpoints.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fake_app.h"
#include "harness.h"
#include "http_testing.h"
#include "mesh_proxy_stand_in.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;

// An app that is busy (GET /drain 202) until `busy_for` after its drain call, then drained
// (200). It remembers when it first answered drained: the sequence cannot end before that.
class DrainingApp {
 public:
  explicit DrainingApp(milliseconds busy_for)
      : app_([this, busy_for](const ServerRequest& r) {
          std::lock_guard lock(mu_);
          if (r.method == "POST") {
            if (!drain_called_) drain_called_ = Steady::now();
            return FakeApp::Answer(200, "{}");
          }
          if (!drain_called_ || Steady::now() - *drain_called_ < busy_for) {
            return FakeApp::Answer(202, "{\"inflight\":1}");
          }
          if (!drained_at_) drained_at_ = Steady::now();
          return FakeApp::Answer(200, "{\"inflight\":0}");
        }) {}
  std::string url() const { return app_.url("/drain"); }
  std::optional<Steady::time_point> drained_at() const {
    std::lock_guard lock(mu_);
    return drained_at_;
  }

 private:
  mutable std::mutex mu_;
  std::optional<Steady::time_point> drain_called_;  // GUARDED_BY(mu_)
  std::optional<Steady::time_point> drained_at_;    // GUARDED_BY(mu_)
  FakeApp app_;
};

std::vector<std::string> SequenceFlags(const DrainingApp& app, const std::string& quit_url) {
  return {"--lb-delay",      "100ms", "--drain-url",  app.url(), "--poll-interval",  "20ms",
          "--drain-timeout", "3s",    "--exit-delay", "200ms",   "--proxy-quit-url", quit_url};
}

long long MsBetween(Steady::time_point from, Steady::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

TEST_CASE("the mesh proxy is asked to quit once the drain ended and exit_delay passed") {
  for (MeshProxy mesh : {MeshProxy::kIstio, MeshProxy::kLinkerd}) {
    const bool istio = mesh == MeshProxy::kIstio;
    CAPTURE(istio);
    MeshProxyStandIn proxy(mesh);
    DrainingApp app(milliseconds(400));
    Sidecar sidecar = StartLastcall(SequenceFlags(app, proxy.quit_url()));
    sidecar.process.Signal(SIGTERM);

    // Draining: the proxy still serves the app's calls, and nobody asked it to go.
    REQUIRE(sidecar.process.WaitForOutput("phase draining", milliseconds(2000)));
    std::this_thread::sleep_for(milliseconds(200));
    CHECK(proxy.seen().empty());

    const auto code = sidecar.process.WaitExit(milliseconds(5000));
    const auto exited = Steady::now();
    REQUIRE(code);
    CHECK(*code == 0);
    const std::vector<MeshProxyStandIn::Seen> seen = proxy.seen();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].method == "POST");
    CHECK(seen[0].target == (istio ? "/quitquitquit" : "/shutdown"));
    REQUIRE(proxy.quit_at());
    REQUIRE(app.drained_at());
    // After the app's first "drained" answer and exit_delay (200 ms), and before the exit.
    CHECK(MsBetween(*app.drained_at(), *proxy.quit_at()) >= 200);
    CHECK(MsBetween(*app.drained_at(), *proxy.quit_at()) < 200 + 300);
    CHECK(*proxy.quit_at() <= exited);
    const std::string log = sidecar.process.Output();
    CHECK(log.find("asked the mesh proxy to quit") != std::string::npos);
    CHECK(log.find(istio ? "answer=OK" : "answer=shutdown") != std::string::npos);
    CHECK(log.find("status=200") != std::string::npos);
    CHECK(log.find("phase drained") < log.find("asked the mesh proxy to quit"));
  }
}

TEST_CASE("a timed-out sequence asks the proxy too, and keeps its exit code 1") {
  MeshProxyStandIn proxy(MeshProxy::kIstio);
  DrainingApp app(milliseconds(60000));
  std::vector<std::string> flags = SequenceFlags(app, proxy.quit_url());
  flags.insert(flags.end(), {"--drain-timeout", "300ms"});
  Sidecar sidecar = StartLastcall(flags);
  sidecar.process.Signal(SIGTERM);
  const auto code = sidecar.process.WaitExit(milliseconds(5000));
  REQUIRE(code);
  CHECK(*code == 1);
  REQUIRE(proxy.seen().size() == 1);
  CHECK(proxy.quit_at());
}

TEST_CASE("Linkerd without proxy-admin-shutdown: the 404 is logged with the fix, exit stays 0") {
  MeshProxyStandIn proxy(MeshProxy::kLinkerdShutdownDisabled);
  DrainingApp app(milliseconds(0));
  Sidecar sidecar = StartLastcall(SequenceFlags(app, proxy.quit_url()));
  sidecar.process.Signal(SIGTERM);
  const auto code = sidecar.process.WaitExit(milliseconds(5000));
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(proxy.seen().size() == 1);
  const std::string log = sidecar.process.Output();
  CHECK(log.find("the mesh proxy did not take the request to quit") != std::string::npos);
  CHECK(log.find("status=404") != std::string::npos);
  CHECK(log.find("config.linkerd.io/proxy-admin-shutdown: enabled") != std::string::npos);
}

TEST_CASE("a hung or absent proxy costs the exit at most the quit request's bound") {
  DrainingApp app(milliseconds(0));
  SUBCASE("hung: the default bound, 1 s") {
    HungProxy hung;
    Sidecar sidecar = StartLastcall(SequenceFlags(app, hung.url("/quitquitquit")));
    sidecar.process.Signal(SIGTERM);
    const auto code = sidecar.process.WaitExit(milliseconds(5000));
    const auto exited = Steady::now();
    REQUIRE(code);
    CHECK(*code == 0);
    REQUIRE(app.drained_at());
    const long long after_drain = MsBetween(*app.drained_at(), exited);
    CHECK(after_drain >= 200 + 1000);       // exit_delay, then the whole bound
    CHECK(after_drain < 200 + 1000 + 400);  // and not a moment more than noise
    const std::string log = sidecar.process.Output();
    CHECK(log.find("error=timeout") != std::string::npos);
  }
  SUBCASE("hung, with a shorter bound") {
    HungProxy hung;
    std::vector<std::string> flags = SequenceFlags(app, hung.url("/shutdown"));
    flags.insert(flags.end(), {"--proxy-quit-timeout", "250ms"});
    Sidecar sidecar = StartLastcall(flags);
    sidecar.process.Signal(SIGTERM);
    const auto code = sidecar.process.WaitExit(milliseconds(5000));
    const auto exited = Steady::now();
    REQUIRE(code);
    CHECK(*code == 0);
    REQUIRE(app.drained_at());
    const long long after_drain = MsBetween(*app.drained_at(), exited);
    CHECK(after_drain >= 200 + 250);
    CHECK(after_drain < 200 + 250 + 400);
  }
  SUBCASE("refused: nothing listens, the exit follows at once") {
    const testing::ClosedPort closed;  // held, so no other test's server can take the port
    const std::string absent =
        "http://127.0.0.1:" + std::to_string(closed.port()) + "/quitquitquit";
    Sidecar sidecar = StartLastcall(SequenceFlags(app, absent));
    sidecar.process.Signal(SIGTERM);
    const auto code = sidecar.process.WaitExit(milliseconds(5000));
    const auto exited = Steady::now();
    REQUIRE(code);
    CHECK(*code == 0);
    REQUIRE(app.drained_at());
    CHECK(MsBetween(*app.drained_at(), exited) < 200 + 300);
    const std::string log = sidecar.process.Output();
    CHECK(log.find("error=refused") != std::string::npos);
    CHECK(log.find("nothing listens there") != std::string::npos);
  }
}

TEST_CASE("no proxy_quit.url: nothing is sent, nothing is logged about a proxy") {
  MeshProxyStandIn proxy(MeshProxy::kIstio);
  DrainingApp app(milliseconds(0));
  std::vector<std::string> flags = SequenceFlags(app, proxy.quit_url());
  flags.resize(flags.size() - 2);
  Sidecar sidecar = StartLastcall(flags);
  sidecar.process.Signal(SIGTERM);
  const auto code = sidecar.process.WaitExit(milliseconds(5000));
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(proxy.seen().empty());
  CHECK(sidecar.process.Output().find("mesh proxy") == std::string::npos);
}

}  // namespace
}  // namespace lastcall::test

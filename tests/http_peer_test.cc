// cpp-httplib as an independent HTTP/1.1 peer of lastcall's own HTTP layer: its client against
// the real binary's server for every endpoint, and its server behind the real binary's client for
// every HTTP monitor kind, the drain trigger and the readiness upstream, answering with
// Content-Length or chunked bodies on kept-alive connections. lastcall's own tests of the same
// code (src/http_*_test.cc, tests/fake_app.h) use lastcall on both ends; these do not.
#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace lastcall::test {
namespace {

using Steady = std::chrono::steady_clock;

long long NowMs() {
  return std::chrono::duration_cast<milliseconds>(Steady::now().time_since_epoch()).count();
}

// --- cpp-httplib's client against lastcall's server ------------------------------------------

httplib::Client ProbeClient(const Sidecar& sidecar) {
  httplib::Client client("127.0.0.1", sidecar.probe_port);
  client.set_keep_alive(true);  // one connection for every request of a test
  client.set_read_timeout(5, 0);
  return client;
}

TEST_CASE(
    "cpp-httplib client: /livez, /readyz, /metrics, /status and HEAD on one kept-alive "
    "connection") {
  Sidecar sidecar = StartLastcall(
      {"--drain-url=", "--monitor", "none", "--lb-delay", "200ms", "--drain-timeout", "100ms"});
  httplib::Client client = ProbeClient(sidecar);

  auto livez = client.Get("/livez");
  REQUIRE(livez);
  CHECK(livez->status == 200);
  CHECK(livez->body == "ok\n");

  auto readyz = client.Get("/readyz");
  REQUIRE(readyz);
  CHECK(readyz->status == 200);
  auto head = client.Head("/readyz");
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->body.empty());
  CHECK(head->get_header_value("Content-Length") == "3");

  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(metrics->body.find("lastcall_") != std::string::npos);

  auto status = client.Get("/status");
  REQUIRE(status);
  CHECK(status->status == 200);
  CHECK(nlohmann::json::parse(status->body).at("phase") == "serving");

  auto missing = client.Get("/nope");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto post = client.Post("/readyz", "x", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 405);
  CHECK(post->get_header_value("Allow") == "GET, HEAD");

  sidecar.process.Signal(SIGTERM);
  CHECK(WaitUntil(
      [&] {
        auto unready = client.Get("/readyz");
        return unready && unready->status == 503;
      },
      milliseconds(1000)));
  auto livez_draining = client.Get("/livez");
  REQUIRE(livez_draining);
  CHECK(livez_draining->status == 200);
  const auto code = sidecar.process.WaitExit(milliseconds(3000));
  INFO(sidecar.process.Output());
  REQUIRE(code);
  CHECK(*code == 0);  // monitor none: waiting out the drain timeout counts as drained
}

// An app whose drain takes 150 ms from the trigger on: enough for lastcall to poll a few times.
class PeerApp {
 public:
  enum class Framing { kContentLength, kChunked };
  explicit PeerApp(Framing framing) : framing_(framing) {
    server_.Post("/drain", [this](const httplib::Request&, httplib::Response& res) {
      ++triggers_;
      long long expected = 0;
      triggered_at_.compare_exchange_strong(expected, NowMs());
      Reply(res, 202, "{}", "application/json");
    });
    server_.Get("/drain", [this](const httplib::Request&, httplib::Response& res) {
      ++polls_;
      Reply(res, Drained() ? 200 : 202, Json(), "application/json");
    });
    server_.Get("/inflight", [this](const httplib::Request&, httplib::Response& res) {
      ++polls_;
      Reply(res, 200, Json(), "application/json");
    });
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      ++polls_;
      const int inflight = Drained() ? 0 : 3;
      Reply(res, 200,
            "# TYPE app_inflight gauge\n"
            "app_inflight{route=\"/api\"} " +
                std::to_string(inflight) +
                "\n"
                "app_inflight{route=\"/healthz\"} 1\n",
            "text/plain; version=0.0.4");
    });
    server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      Reply(res, healthy_ ? 200 : 500, healthy_ ? "ok" : "sick", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    REQUIRE(WaitUntil([this] { return server_.is_running(); }, milliseconds(2000)));
  }
  ~PeerApp() {
    server_.stop();
    thread_.join();
  }
  PeerApp(const PeerApp&) = delete;
  PeerApp& operator=(const PeerApp&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int triggers() const { return triggers_; }
  int polls() const { return polls_; }
  void set_healthy(bool healthy) { healthy_ = healthy; }

 private:
  bool Drained() const {
    const long long at = triggered_at_.load();
    return at != 0 && NowMs() - at >= 150;
  }
  std::string Json() const {
    return std::string("{\"inflight\": ") + (Drained() ? "0" : "2") + ", \"pad\": \"" +
           std::string(3000, 'x') + "\"}";
  }
  // Chunked: the body goes out in 1000-byte chunks, so a chunk boundary falls inside the JSON.
  void Reply(httplib::Response& res, int status, std::string body, const char* type) {
    res.status = status;
    if (framing_ == Framing::kContentLength) {
      res.set_content(body, type);
      return;
    }
    auto shared = std::make_shared<std::string>(std::move(body));
    res.set_chunked_content_provider(type, [shared](size_t offset, httplib::DataSink& sink) {
      if (offset < shared->size()) {
        sink.write(shared->data() + offset, std::min<size_t>(1000, shared->size() - offset));
      } else {
        sink.done();
      }
      return true;
    });
  }

  const Framing framing_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<long long> triggered_at_{0};
  std::atomic<int> triggers_{0};
  std::atomic<int> polls_{0};
  std::atomic<bool> healthy_{true};
};

void RequireDrainedRun(const PeerApp& app, const std::vector<std::string>& monitor_flags) {
  CAPTURE(monitor_flags.back());
  std::vector<std::string> flags{
      "--drain-url", app.url("/drain"), "--lb-delay", "0s", "--poll-interval",
      "20ms",        "--drain-timeout", "5s"};
  flags.insert(flags.end(), monitor_flags.begin(), monitor_flags.end());
  Sidecar sidecar = StartLastcall(flags);
  const auto start = Steady::now();
  sidecar.process.Signal(SIGTERM);
  const auto code = sidecar.process.WaitExit(milliseconds(5000));
  const long long took = ElapsedMs(start);
  INFO(sidecar.process.Output());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(took >= 150);  // it waited for the app, not for a misread answer
  // A misread answer keeps polling until the 5 s drain timeout; slack below that for a sanitizer
  // build beside other tests on two cores.
  CHECK(took < 4000);
  CHECK(app.triggers() == 1);
  CHECK(app.polls() >= 2);
}

TEST_CASE(
    "cpp-httplib server behind lastcall's client: the trigger and every HTTP monitor, "
    "Content-Length and chunked answers") {
  // Each SUBCASE loops over both framings itself: doctest cannot tell apart one SUBCASE met
  // twice in a loop.
  constexpr PeerApp::Framing kFramings[] = {PeerApp::Framing::kContentLength,
                                            PeerApp::Framing::kChunked};
  SUBCASE("status monitor") {
    for (PeerApp::Framing framing : kFramings) {
      PeerApp app(framing);
      RequireDrainedRun(app, {"--monitor", "status", "--monitor-url", app.url("/drain")});
    }
  }
  SUBCASE("json monitor") {
    for (PeerApp::Framing framing : kFramings) {
      PeerApp app(framing);
      RequireDrainedRun(app, {"--monitor", "json", "--monitor-url", app.url("/inflight"),
                              "--monitor-field", "/inflight"});
    }
  }
  SUBCASE("prometheus monitor") {
    for (PeerApp::Framing framing : kFramings) {
      PeerApp app(framing);
      RequireDrainedRun(app, {"--monitor", "prometheus", "--monitor-url", app.url("/metrics"),
                              "--monitor-metric", "app_inflight{route=\"/api\"}"});
    }
  }
}

TEST_CASE("cpp-httplib server as the readiness upstream, chunked and with Content-Length") {
  for (PeerApp::Framing framing : {PeerApp::Framing::kContentLength, PeerApp::Framing::kChunked}) {
    PeerApp app(framing);
    Sidecar sidecar =
        StartLastcall({"--readiness-upstream", app.url("/healthz"), "--readiness-interval", "50ms",
                       "--drain-url=", "--monitor", "none"});
    CHECK(WaitUntil([&] { return Status(sidecar.probe_port, "/readyz") == 200; },
                    milliseconds(2000)));
    app.set_healthy(false);
    CHECK(WaitUntil([&] { return Status(sidecar.probe_port, "/readyz") == 503; },
                    milliseconds(2000)));
    app.set_healthy(true);
    CHECK(WaitUntil([&] { return Status(sidecar.probe_port, "/readyz") == 200; },
                    milliseconds(2000)));
  }
}

// --- /prestop through cpp-httplib's client: token auth, ?wait=false, the blocking call ------

TEST_CASE("cpp-httplib client: /prestop with a token on the probe port and the control socket") {
  PeerApp app(PeerApp::Framing::kContentLength);
  const std::string token_file = TempDir() + "/token";
  std::ofstream(token_file) << "s3cret\n";
  Sidecar sidecar =
      StartLastcall({"--token-file", token_file, "--drain-url", app.url("/drain"), "--lb-delay",
                     "100ms", "--poll-interval", "20ms", "--drain-timeout", "5s"});
  httplib::Client probe = ProbeClient(sidecar);
  const httplib::Headers good{{"Authorization", "Bearer s3cret"}};

  auto missing = probe.Get("/prestop");
  REQUIRE(missing);
  CHECK(missing->status == 401);
  CHECK(missing->get_header_value("WWW-Authenticate") == "Bearer");
  auto wrong = probe.Get("/prestop", httplib::Headers{{"Authorization", "Bearer nope"}});
  REQUIRE(wrong);
  CHECK(wrong->status == 403);
  CHECK(app.triggers() == 0);

  auto started = probe.Post("/prestop?wait=false", good, "", "text/plain");
  REQUIRE(started);
  CHECK(started->status == 202);

  // The blocking call, the kubelet's httpGet hook: answered when the sequence ends.
  const auto start = Steady::now();
  auto waited = probe.Get("/prestop", good);
  REQUIRE(waited);
  CHECK(waited->status == 200);
  CHECK(nlohmann::json::parse(waited->body).at("result") == "drained");
  CHECK(ElapsedMs(start) >= 100);
  CHECK(app.triggers() == 1);

  // The same over the Unix control socket: the stored result, at once.
  httplib::Client control(sidecar.socket);
  control.set_address_family(AF_UNIX);
  control.set_read_timeout(5, 0);
  auto unauthorized = control.Get("/prestop");
  REQUIRE(unauthorized);
  CHECK(unauthorized->status == 401);
  auto stored = control.Get("/prestop", good);
  REQUIRE(stored);
  CHECK(stored->status == 200);
  auto status = control.Get("/status", good);
  REQUIRE(status);
  CHECK(nlohmann::json::parse(status->body).at("result") == "drained");

  sidecar.process.Signal(SIGTERM);
  CHECK(sidecar.process.WaitExit(milliseconds(3000)) == 0);
}

}  // namespace
}  // namespace lastcall::test

#include "rehearse_load.h"

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/http_server.h"
#include "http_testing.h"
#include "rehearse_balancer.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

// A scripted app: /ok answers 200, /503 answers 503, /slow never answers (the test stops the
// server, or the request times out).
class ScriptedApp {
 public:
  explicit ScriptedApp(HttpServerOptions options = {}) {
    server_ = std::make_unique<HttpServer>(
        std::move(options), [this](const ServerRequest& request, Responder respond) {
          ServerResponse response;
          if (request.path == "/slow") {
            std::lock_guard lock(mu_);
            parked_.push_back(std::move(respond));  // answered never
            return;
          }
          response.status = request.path == "/503" ? 503 : 200;
          response.body = "app";
          respond(std::move(response));
        });
    std::string error;
    REQUIRE(server_->Listen(*ParseListenAddress("127.0.0.1:0", &error)).empty());
    server_->Start();
  }
  uint16_t port() const { return server_->port(); }
  void Stop() { server_->Stop(); }

 private:
  std::mutex mu_;
  std::vector<Responder> parked_;
  std::unique_ptr<HttpServer> server_;
};

bool WaitUntil(const std::function<bool()>& condition, milliseconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (!condition()) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

size_t CountOf(const std::vector<RequestRecord>& records, RequestOutcome outcome) {
  size_t count = 0;
  for (const RequestRecord& record : records) count += record.outcome == outcome ? 1 : 0;
  return count;
}

LoadOptions Options(uint16_t port, std::vector<std::string> paths, int rps, int duration_ms) {
  LoadOptions options;
  options.port = port;
  options.paths = std::move(paths);
  options.rps = rps;
  options.duration = Millis(duration_ms);
  return options;
}

TEST_CASE("outcomes are counted by cause: ok, non-2xx, timeout") {
  ScriptedApp app;
  LoadOptions options = Options(app.port(), {"/ok", "/503", "/slow"}, 30, 300);
  options.request_timeout = Millis(300);
  LoadGenerator load(options);
  REQUIRE(load.Start().empty());
  const std::vector<RequestRecord> records = load.Finish(Steady::now() + milliseconds(3000));
  REQUIRE(records.size() == 9);  // 30/s for 300 ms, open loop: on schedule, slow or not
  CHECK(CountOf(records, RequestOutcome::kOk) == 3);
  CHECK(CountOf(records, RequestOutcome::kNon2xx) == 3);
  CHECK(CountOf(records, RequestOutcome::kTimeout) == 3);
  for (size_t i = 0; i < records.size(); ++i) {
    CAPTURE(i);
    CHECK(records[i].path_index == i % 3);
    CHECK(records[i].sent_at >= Millis(static_cast<long long>(i) * 33 - 1));
    CHECK(records[i].finished_at >= records[i].sent_at);
    if (records[i].outcome == RequestOutcome::kNon2xx) CHECK(records[i].status == 503);
    if (records[i].outcome == RequestOutcome::kTimeout) {
      CHECK(records[i].finished_at - records[i].sent_at >= Millis(300));
    }
  }
  const LoadSnapshot snapshot = load.Snapshot();
  CHECK(snapshot.sent == 9);
  CHECK(snapshot.ok == 3);
  CHECK(snapshot.failed == 6);
  CHECK(snapshot.in_flight == 0);
}

TEST_CASE("refused and reset") {
  {
    testing::ClosedPort closed;
    LoadGenerator load(Options(closed.port(), {"/"}, 20, 200));
    REQUIRE(load.Start().empty());
    const std::vector<RequestRecord> records = load.Finish(Steady::now() + milliseconds(2000));
    REQUIRE(records.size() == 4);
    CHECK(CountOf(records, RequestOutcome::kRefused) == 4);
  }
  {
    ScriptedApp app;
    LoadGenerator load(Options(app.port(), {"/slow"}, 20, 100));
    REQUIRE(load.Start().empty());
    REQUIRE(WaitUntil([&] { return load.Snapshot().in_flight == 2 && load.sending_done(); },
                      milliseconds(2000)));
    app.Stop();  // the app dies with two requests in flight
    const std::vector<RequestRecord> records = load.Finish(Steady::now() + milliseconds(2000));
    REQUIRE(records.size() == 2);
    CHECK(CountOf(records, RequestOutcome::kReset) == 2);
  }
}

TEST_CASE("connections are kept alive and reused, and never reused once the server closed them") {
  {
    ScriptedApp app;
    LoadGenerator load(Options(app.port(), {"/ok"}, 50, 400));
    REQUIRE(load.Start().empty());
    const std::vector<RequestRecord> records = load.Finish(Steady::now() + milliseconds(2000));
    REQUIRE(records.size() == 20);
    CHECK(CountOf(records, RequestOutcome::kOk) == 20);
    size_t reused = 0;
    for (const RequestRecord& record : records) reused += record.reused_connection ? 1 : 0;
    CHECK(reused >= 18);  // one connection serves them all, one after the other
  }
  {
    HttpServerOptions options;
    options.idle_timeout = milliseconds(30);  // closes each connection between two requests
    ScriptedApp app(options);
    LoadGenerator load(Options(app.port(), {"/ok"}, 10, 500));
    REQUIRE(load.Start().empty());
    const std::vector<RequestRecord> records = load.Finish(Steady::now() + milliseconds(2000));
    REQUIRE(records.size() == 5);
    CHECK(CountOf(records, RequestOutcome::kOk) == 5);
    for (const RequestRecord& record : records) CHECK_FALSE(record.reused_connection);
  }
}

TEST_CASE("through the balancer: the replica, then the rest of the Service, then refused") {
  ScriptedApp app;
  LoadBalancer balancer("127.0.0.1", app.port());
  REQUIRE(balancer.Start().empty());
  LoadGenerator load(Options(balancer.port(), {"/ok"}, 40, 200));
  REQUIRE(load.Start().empty());
  std::vector<RequestRecord> records = load.Finish(Steady::now() + milliseconds(2000));
  CHECK(CountOf(records, RequestOutcome::kOk) == 8);

  balancer.RemoveEndpoint();
  LoadGenerator elsewhere(Options(balancer.port(), {"/ok"}, 40, 200));
  REQUIRE(elsewhere.Start().empty());
  records = elsewhere.Finish(Steady::now() + milliseconds(2000));
  CHECK(CountOf(records, RequestOutcome::kOtherReplica) == 8);
  CHECK_FALSE(IsFailure(RequestOutcome::kOtherReplica));

  testing::ClosedPort closed;
  LoadBalancer refusing("127.0.0.1", closed.port());
  REQUIRE(refusing.Start().empty());
  LoadGenerator refused(Options(refusing.port(), {"/ok"}, 40, 100));
  REQUIRE(refused.Start().empty());
  records = refused.Finish(Steady::now() + milliseconds(2000));
  CHECK(CountOf(records, RequestOutcome::kRefused) == 4);
}

TEST_CASE("outcome names and which ones lose a request") {
  CHECK(ToString(RequestOutcome::kOk) == "ok");
  CHECK(ToString(RequestOutcome::kNon2xx) == "non_2xx");
  CHECK(ToString(RequestOutcome::kOtherReplica) == "other_replica");
  for (RequestOutcome outcome :
       {RequestOutcome::kRefused, RequestOutcome::kReset, RequestOutcome::kTimeout,
        RequestOutcome::kNon2xx, RequestOutcome::kMalformed}) {
    CHECK(IsFailure(outcome));
  }
  CHECK_FALSE(IsFailure(RequestOutcome::kOk));
  CHECK_FALSE(IsFailure(RequestOutcome::kNotSent));
}

}  // namespace
}  // namespace lastcall

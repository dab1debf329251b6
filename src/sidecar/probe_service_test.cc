#include "sidecar/probe_service.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "base/logging.h"
#include "sidecar/coordinator.h"
#include "sidecar/metrics.h"
#include "sidecar/sequence_listeners.h"
#include "test_fakes.h"

namespace lastcall {
namespace {

struct Rig {
  Rig() { InitLogging(LogFormat::kText, LogLevel::kError); }
  Config config;
  testing::FakeClock clock;
  testing::FakeHttpClient http{clock};
  testing::FakeBackgroundRequest trigger{clock, http};
  testing::FakeMonitor monitor{clock};
  Metrics metrics;
  SequenceMetrics sequence_metrics{metrics};
  SequenceReporter reporter{config.shutdown.Budget()};
  ShutdownCoordinator coordinator{config,
                                  clock,
                                  trigger,
                                  monitor,
                                  std::vector<SequenceListener*>{&sequence_metrics, &reporter},
                                  nullptr,
                                  clock.wall_clock()};
};

ServerResponse Get(ProbeService& service, const std::string& path) {
  ServerRequest request;
  request.method = "GET";
  request.target = path;
  request.path = path;
  ServerResponse got;
  service.Handle(request, [&got](ServerResponse response) { got = std::move(response); });
  return got;
}

TEST_CASE("/readyz is 503 as soon as a shutdown signal is pending, before the watcher reads it") {
  Rig rig;
  bool pending = false;
  ProbeService service(rig.coordinator, rig.reporter, rig.metrics, nullptr, nullptr,
                       [&pending] { return pending; });
  CHECK(Get(service, "/readyz").status == 200);
  pending = true;  // SIGTERM arrived; the watcher thread has not run yet
  const ServerResponse unready = Get(service, "/readyz");
  CHECK(unready.status == 503);
  CHECK(unready.body == "unready\n");
  CHECK(rig.coordinator.phase() == Phase::kServing);  // the watcher starts the sequence, not this
  pending = false;
  CHECK(Get(service, "/readyz").status == 200);
  // /livez stays live whatever is pending.
  pending = true;
  CHECK(Get(service, "/livez").status == 200);
}

TEST_CASE("/readyz without a pending-signal check answers from the phase alone") {
  Rig rig;
  ProbeService service(rig.coordinator, rig.reporter, rig.metrics, nullptr, nullptr);
  CHECK(Get(service, "/readyz").status == 200);
}

}  // namespace
}  // namespace lastcall

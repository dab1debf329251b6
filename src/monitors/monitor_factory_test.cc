#include <doctest/doctest.h>

#include <string>

#include "monitor_test_fakes.h"
#include "monitors/monitor.h"

namespace lastcall {
namespace {

TEST_CASE("MakeMonitor builds the kind the config asks for") {
  struct Case {
    MonitorKind kind;
    std::string name;
  };
  const Case cases[] = {
      {MonitorKind::kStatus, "status"},
      {MonitorKind::kJson, "json"},
      {MonitorKind::kPrometheus, "prometheus"},
      {MonitorKind::kConnections, "connections"},
      {MonitorKind::kNone, "none"},
  };
  testing::CannedHttpClient http;
  testing::FakeFileReader files;
  for (const Case& c : cases) {
    Config config = testing::MonitorConfig(c.kind);
    config.shutdown.drain.monitor.metric = "rq";
    std::unique_ptr<DrainMonitor> monitor = MakeMonitor(config, http, files);
    REQUIRE(monitor != nullptr);
    CHECK(monitor->kind() == c.name);
  }
}

TEST_CASE("PollOutcome prints as a word") {
  CHECK(ToString(PollOutcome::kDrained) == "drained");
  CHECK(ToString(PollOutcome::kBusy) == "busy");
  CHECK(ToString(PollOutcome::kRefused) == "refused");
  CHECK(ToString(PollOutcome::kError) == "error");
}

}  // namespace
}  // namespace lastcall

#include "sequence/lb_wait.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "test_fakes.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using testing::FakeClock;
using testing::ScriptedTraffic;

LbDelay::Auto Auto(int min_ms = 1000, int max_ms = 30000, int quiet_ms = 1000) {
  LbDelay::Auto config;
  config.min = milliseconds(min_ms);
  config.max = milliseconds(max_ms);
  config.quiet = milliseconds(quiet_ms);
  return config;
}

struct Run {
  LbWaitOutcome outcome;
  Millis waited;
};

Run Wait(FakeClock& clock, ScriptedTraffic& traffic, const LbDelay::Auto& config,
         Millis hard_end = milliseconds(60000)) {
  const auto unready = clock.Now();
  LbWaitOutcome outcome = WaitForQuietPorts(config, unready, unready + hard_end, clock, traffic);
  return {outcome, std::chrono::duration_cast<Millis>(outcome.ended - unready)};
}

TEST_CASE("lb wait auto: ends quiet after the last request routed to the pod") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  // Gaps shorter than quiet: the wait goes on until a whole quiet window passed.
  traffic.requests = {milliseconds(200), milliseconds(900), milliseconds(1600), milliseconds(2300)};
  const Run run = Wait(clock, traffic, Auto());
  CHECK(run.outcome.end == LbWaitEnd::kQuiet);
  // The kernel dates the last request (2.3s): the wait ends one quiet later, to the
  // millisecond, not at the next look after it.
  CHECK(run.waited == milliseconds(3300));
  REQUIRE(run.outcome.last_activity.has_value());
  CHECK(run.outcome.detail ==
        "lb_delay auto: no new connection or request for quiet 1s; traffic: the last at "
        "+2.300s after unready");
  // The ports were looked at every kLbWaitInterval at most.
  for (size_t i = 1; i < traffic.looks.size(); ++i) {
    CHECK(traffic.looks[i] - traffic.looks[i - 1] <= kLbWaitInterval);
  }
}

TEST_CASE("lb wait auto: at low traffic a quiet window falls between two requests") {
  // The trade-off docs/monitors.md states: a gap longer than quiet ends the wait, even though
  // the balancer may still route the next request here; min is the user's floor.
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  traffic.requests = {milliseconds(400), milliseconds(1700)};
  CHECK(Wait(clock, traffic, Auto(1000, 30000, 1000)).waited == milliseconds(1400));
  FakeClock floor_clock;
  ScriptedTraffic same(floor_clock);
  same.requests = traffic.requests;
  CHECK(Wait(floor_clock, same, Auto(2000, 30000, 1000)).waited == milliseconds(2700));
}

TEST_CASE("lb wait auto: no traffic at all ends at min") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  const Run run = Wait(clock, traffic, Auto(1500, 30000, 1000));
  CHECK(run.outcome.end == LbWaitEnd::kQuiet);
  CHECK(run.waited == milliseconds(1500));
  CHECK_FALSE(run.outcome.last_activity.has_value());
  CHECK(run.outcome.detail ==
        "lb_delay auto: no new connection or request for quiet 1s; traffic: none since "
        "unready");
  // min 0: the first look that shows a quiet port ends it... after `quiet` from unready.
  FakeClock clock0;
  ScriptedTraffic idle(clock0);
  CHECK(Wait(clock0, idle, Auto(0, 30000, 400)).waited == milliseconds(400));
}

TEST_CASE("lb wait auto: traffic that never stops ends at max") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  for (int ms = 0; ms < 40000; ms += 300) traffic.requests.push_back(milliseconds(ms));
  const Run run = Wait(clock, traffic, Auto(1000, 10000, 1000));
  CHECK(run.outcome.end == LbWaitEnd::kMax);
  CHECK(run.waited == milliseconds(10000));
  CHECK(run.outcome.detail.rfind("lb_delay auto: traffic kept arriving until max 10s; the last "
                                 "at +9.",
                                 0) == 0);
}

TEST_CASE("lb wait auto: a connection seen only in TIME_WAIT counts as traffic") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  traffic.short_connections = {milliseconds(1530)};
  const Run run = Wait(clock, traffic, Auto(2000, 30000, 1000));
  CHECK(run.outcome.end == LbWaitEnd::kQuiet);
  // Noticed at the first look after it (every 50ms), then one quiet.
  CHECK(run.waited >= milliseconds(2530));
  CHECK(run.waited <= milliseconds(2530) + kLbWaitInterval);
}

TEST_CASE("lb wait auto: what cannot be seen is not quiet") {
  SUBCASE("every look fails: waits max") {
    FakeClock clock;
    ScriptedTraffic traffic(clock);
    traffic.fail = true;
    const Run run = Wait(clock, traffic, Auto(1000, 8000, 1000));
    CHECK(run.outcome.end == LbWaitEnd::kMax);
    CHECK(run.waited == milliseconds(8000));
    CHECK(run.outcome.detail ==
          "lb_delay auto: traffic could not be observed (sock_diag socket: Operation not "
          "permitted): waited max 8s");
  }
  SUBCASE("the /proc fallback: an open keep-alive connection may carry requests") {
    FakeClock clock;
    ScriptedTraffic traffic(clock);
    traffic.no_info = true;
    const Run run = Wait(clock, traffic, Auto(1000, 8000, 1000));
    CHECK(run.outcome.end == LbWaitEnd::kMax);
    CHECK(run.waited == milliseconds(8000));
  }
}

TEST_CASE("lb wait auto: the caller's hard end (the grace period) comes first") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  for (int ms = 0; ms < 40000; ms += 300) traffic.requests.push_back(milliseconds(ms));
  const Run run = Wait(clock, traffic, Auto(1000, 30000, 1000), milliseconds(12000));
  CHECK(run.outcome.end == LbWaitEnd::kDeadline);
  CHECK(run.waited == milliseconds(12000));
}

}  // namespace
}  // namespace lastcall

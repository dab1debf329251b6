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

// The cluster's view as a script on the fake clock: starting until `listed_at` (never, if unset),
// then routed until `removed_at` (never, if unset), then removed; or unavailable throughout.
class ScriptedView final : public EndpointView {
 public:
  explicit ScriptedView(FakeClock& clock) : clock_(clock), unready_(clock.Now()) {}
  std::optional<Millis> listed_at = Millis(0);
  std::optional<Millis> removed_at;
  bool unavailable = false;
  bool not_listed = false;
  int asked = 0;

  EndpointRemovalView Removal(Clock::time_point trigger) override {
    asked += 1;
    CHECK(trigger == unready_);
    EndpointRemovalView view;
    const Clock::time_point now = clock_.Now();
    view.slices = 2;
    if (unavailable) {
      view.state = EndpointViewState::kUnavailable;
      view.detail = "403 Forbidden";
    } else if (!listed_at || now < unready_ + *listed_at) {
      view.state = EndpointViewState::kStarting;
      view.detail = "the EndpointSlice watch is starting";
    } else if (not_listed) {
      view.state = EndpointViewState::kNotListed;
      view.slices = 0;
    } else if (!removed_at || now < unready_ + *removed_at) {
      view.state = EndpointViewState::kRouted;
      view.removed = 1;
      view.detail = "web-a (IPv4) not ready at +0.300s, web-b (IPv6) still ready";
    } else {
      view.state = EndpointViewState::kRemoved;
      view.removed = 2;
      view.removed_at = unready_ + *removed_at;
    }
    return view;
  }

 private:
  FakeClock& clock_;
  const Clock::time_point unready_;
};

Run WaitWithView(FakeClock& clock, ScriptedTraffic& traffic, ScriptedView& view,
                 const LbDelay::Auto& config, Millis hard_end = milliseconds(60000)) {
  const auto unready = clock.Now();
  LbWaitOutcome outcome =
      WaitForQuietPorts(config, unready, unready + hard_end, clock, traffic, {}, &view);
  return {outcome, std::chrono::duration_cast<Millis>(outcome.ended - unready)};
}

TEST_CASE("lb wait auto: waits for every EndpointSlice to show the change, then quiet") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  ScriptedView view(clock);
  // No traffic at all: today the wait would end at min (1s); the cluster removes the pod from
  // its last slice at 2.4s, so the wait ends one quiet after that.
  view.removed_at = milliseconds(2400);
  const Run run = WaitWithView(clock, traffic, view, Auto());
  CHECK(run.outcome.end == LbWaitEnd::kQuiet);
  CHECK(run.waited == milliseconds(3400));
  REQUIRE(run.outcome.endpoint_removed.has_value());
  CHECK(run.outcome.endpoints == EndpointViewState::kRemoved);
  CHECK(run.outcome.detail ==
        "lb_delay auto: no new connection or request for quiet 1s; traffic: none since unready; "
        "EndpointSlices: all 2 removed the pod, the last at +2.400s after unready");
}

TEST_CASE("lb wait auto: traffic after the slices changed still counts") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  ScriptedView view(clock);
  view.removed_at = milliseconds(500);
  traffic.requests = {milliseconds(1200), milliseconds(1900)};
  CHECK(WaitWithView(clock, traffic, view, Auto()).waited == milliseconds(2900));
}

TEST_CASE("lb wait auto: the cluster still routing at max ends at max, never beyond") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  ScriptedView view(clock);  // routed forever
  const Run run = WaitWithView(clock, traffic, view, Auto(1000, 8000, 1000));
  CHECK(run.outcome.end == LbWaitEnd::kMax);
  CHECK(run.waited == milliseconds(8000));
  CHECK(run.outcome.endpoints == EndpointViewState::kRouted);
  CHECK(run.outcome.detail ==
        "lb_delay auto: the cluster still routed to the pod at max 8s; traffic: none since "
        "unready; EndpointSlices: 1 of 2 still route to the pod (web-a (IPv4) not ready at "
        "+0.300s, web-b (IPv6) still ready)");
  // The grace period too.
  FakeClock clock2;
  ScriptedTraffic traffic2(clock2);
  ScriptedView view2(clock2);
  const Run cut =
      WaitWithView(clock2, traffic2, view2, Auto(1000, 30000, 1000), milliseconds(5000));
  CHECK(cut.outcome.end == LbWaitEnd::kDeadline);
  CHECK(cut.waited == milliseconds(5000));
}

TEST_CASE("lb wait auto: a watch that cannot start in time costs endpoint_wait at most") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  ScriptedView view(clock);
  view.listed_at.reset();  // never starts
  LbDelay::Auto config = Auto(1000, 30000, 1000);
  config.endpoint_wait = milliseconds(2500);
  const Run run = WaitWithView(clock, traffic, view, config);
  CHECK(run.outcome.end == LbWaitEnd::kQuiet);
  // Quiet since min (1s), held by the starting watch until endpoint_wait (2.5s), then as today.
  CHECK(run.waited == milliseconds(2500));
  CHECK(run.outcome.endpoints == EndpointViewState::kUnavailable);
  CHECK(run.outcome.detail.find("EndpointSlices: no view (the EndpointSlice watch did not start "
                                "within endpoint_wait 2.5s)") != std::string::npos);
  // Once given up, the view is not asked again.
  const int asked = view.asked;
  CHECK(asked > 0);
}

TEST_CASE("lb wait auto: a watch that starts late within endpoint_wait is used") {
  FakeClock clock;
  ScriptedTraffic traffic(clock);
  ScriptedView view(clock);
  view.listed_at = milliseconds(1500);
  view.removed_at = milliseconds(1800);
  CHECK(WaitWithView(clock, traffic, view, Auto()).waited == milliseconds(2800));
}

TEST_CASE("lb wait auto: without a view it is exactly as today") {
  SUBCASE("unavailable (no API access, RBAC refused)") {
    FakeClock clock;
    ScriptedTraffic traffic(clock);
    ScriptedView view(clock);
    view.unavailable = true;
    traffic.requests = {milliseconds(200), milliseconds(900), milliseconds(1600),
                        milliseconds(2300)};
    const Run run = WaitWithView(clock, traffic, view, Auto());
    CHECK(run.outcome.end == LbWaitEnd::kQuiet);
    CHECK(run.waited == milliseconds(3300));
    CHECK(view.asked == 1);
  }
  SUBCASE("the pod is in no slice (no Service selects it)") {
    FakeClock clock;
    ScriptedTraffic traffic(clock);
    ScriptedView view(clock);
    view.not_listed = true;
    CHECK(WaitWithView(clock, traffic, view, Auto(1500, 30000, 1000)).waited == milliseconds(1500));
  }
}

}  // namespace
}  // namespace lastcall

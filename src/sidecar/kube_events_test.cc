#include "sidecar/kube_events.h"

#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using SysClock = std::chrono::system_clock;

struct Sent {
  std::mutex mu;
  std::vector<kubeapi::EventSpec> specs;
};

EventContext At(SysClock::time_point triggered, milliseconds since) {
  EventContext context;
  context.state.triggered_at = triggered;
  context.wall = triggered + since;
  return context;
}

// A sender that records every Event it is handed, and succeeds.
KubeEventReporter::SendFn RecordInto(Sent& sent) {
  return [&sent](const kubeapi::EventSpec& spec, kubeapi::Deadline) {
    std::lock_guard lock(sent.mu);
    sent.specs.push_back(spec);
    return Status();
  };
}

SequenceEvent Triggered(TriggerSource source, std::string detail = "") {
  SequenceEvent event;
  event.kind = EventKind::kTriggered;
  event.source = source;
  event.detail = std::move(detail);
  return event;
}

SequenceEvent Phased(Phase phase) {
  SequenceEvent event;
  event.kind = EventKind::kPhase;
  event.phase = phase;
  return event;
}

TEST_CASE("KubeEventReporter tells the sequence in one line from its records") {
  Sent sent;
  const SysClock::time_point t0 = SysClock::now();
  {
    KubeEventReporter reporter(RecordInto(sent));
    reporter.OnEvent(Triggered(TriggerSource::kSignal, "SIGTERM"), At(t0, milliseconds(0)));
    SequenceEvent lb;
    lb.kind = EventKind::kLbWaitEnded;
    lb.lb_end = LbWaitWhy::kQuiet;
    lb.waited = Millis{2400};
    lb.last_traffic = Millis{1200};
    reporter.OnEvent(lb, At(t0, milliseconds(2400)));
    reporter.OnEvent(Phased(Phase::kDraining), At(t0, milliseconds(2401)));
    SequenceEvent drained = Phased(Phase::kDrained);
    drained.drain_end = DrainEndReason::kMonitor;
    drained.last_poll = "idle: in_flight 0";
    reporter.OnEvent(drained, At(t0, milliseconds(3100)));
    // An exit after the outcome sends nothing more.
    SequenceEvent exit;
    exit.kind = EventKind::kExit;
    reporter.OnEvent(exit, At(t0, milliseconds(3200)));
    reporter.AwaitSent(std::chrono::steady_clock::now() + milliseconds(500));
  }
  REQUIRE(sent.specs.size() == 1);
  const kubeapi::EventSpec& spec = sent.specs[0];
  CHECK(spec.reason == "Drained");
  CHECK_FALSE(spec.warning);
  CHECK(spec.time == t0 + milliseconds(3100));
  CHECK(spec.note ==
        "unready at +0 ms by signal SIGTERM; LB wait ended at +2400 ms (quiet: no traffic for "
        "the quiet window); drain ended at +3100 ms (the monitor found the app idle: idle: "
        "in_flight 0); traffic after unready: last at +1200 ms; exit code 0");
}

TEST_CASE("KubeEventReporter: the Event says when the EndpointSlices dropped the pod") {
  Sent sent;
  const SysClock::time_point t0 = SysClock::now();
  {
    KubeEventReporter reporter(RecordInto(sent));
    reporter.OnEvent(Triggered(TriggerSource::kPreStop), At(t0, milliseconds(0)));
    SequenceEvent removed;
    removed.kind = EventKind::kEndpointRemoved;
    removed.elapsed = Millis{850};
    removed.slices = 2;
    reporter.OnEvent(removed, At(t0, milliseconds(850)));
    SequenceEvent lb;
    lb.kind = EventKind::kLbWaitEnded;
    lb.lb_end = LbWaitWhy::kQuiet;
    lb.waited = Millis{1850};
    reporter.OnEvent(lb, At(t0, milliseconds(1850)));
    SequenceEvent drained = Phased(Phase::kDrained);
    drained.drain_end = DrainEndReason::kPushed;
    reporter.OnEvent(drained, At(t0, milliseconds(2000)));
    reporter.AwaitSent(std::chrono::steady_clock::now() + milliseconds(500));
  }
  REQUIRE(sent.specs.size() == 1);
  CHECK(sent.specs[0].note ==
        "unready at +0 ms by preStop; EndpointSlices dropped the pod at +850 ms (2 slices); LB "
        "wait ended at +1850 ms (quiet: no traffic for the quiet window); drain ended at +2000 ms "
        "(the app reported drained); traffic after unready: none seen; exit code 0");
}

TEST_CASE("KubeEventReporter: a timed-out drain is a Warning, a fixed lb_delay says so") {
  Sent sent;
  const SysClock::time_point t0 = SysClock::now();
  {
    KubeEventReporter reporter(RecordInto(sent));
    reporter.OnEvent(Triggered(TriggerSource::kPreStop), At(t0, milliseconds(0)));
    reporter.OnEvent(Phased(Phase::kDraining), At(t0, milliseconds(5000)));
    SequenceEvent timed_out = Phased(Phase::kTimedOut);
    timed_out.drain_end = DrainEndReason::kTimeout;
    reporter.OnEvent(timed_out, At(t0, milliseconds(35000)));
  }
  REQUIRE(sent.specs.size() == 1);
  CHECK(sent.specs[0].reason == "DrainTimedOut");
  CHECK(sent.specs[0].warning);
  CHECK(sent.specs[0].note ==
        "unready at +0 ms by preStop; LB wait ended at +5000 ms (lb_delay passed); drain ended "
        "at +35000 ms (drain.timeout passed with the app busy); traffic after unready: not "
        "watched (fixed lb_delay); exit code 1");
}

TEST_CASE("KubeEventReporter: the exit waits for a hanging API server at most its bound") {
  const SysClock::time_point t0 = SysClock::now();
  KubeEventReporter reporter([](const kubeapi::EventSpec&, kubeapi::Deadline deadline) {
    std::this_thread::sleep_until(deadline);  // what a hanging server costs the sender
    return Status::Unavailable("the deadline passed");
  });
  reporter.OnEvent(Triggered(TriggerSource::kSignal), At(t0, milliseconds(0)));
  reporter.OnEvent(Phased(Phase::kTimedOut), At(t0, milliseconds(10)));
  const auto start = std::chrono::steady_clock::now();
  reporter.AwaitSent(start + milliseconds(100));
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= milliseconds(99));
  CHECK(waited < milliseconds(150));
}

}  // namespace
}  // namespace lastcall

#include "sidecar/coordinator.h"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/exit_status.h"
#include "base/logging.h"
#include "sidecar/control_service.h"
#include "sidecar/metrics.h"
#include "sidecar/sequence_listeners.h"
#include "test_fakes.h"

// The coordinator on the fake clock: its sequence thread and the test's thread share one
// FakeClock, which never blocks, so fake time moves only when a thread sleeps. Events that must
// land at a given point of the sequence (a signal while DRAINING, a second trigger) are sent from
// the monitor's or WhenEnded's callbacks, on the sequence thread itself: no race decides a test.
// The only real-time waits are bounds that a working coordinator never comes near.
namespace lastcall {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;

// Only a broken coordinator makes a test wait this long; it then fails instead of hanging.
constexpr auto kHangBound = seconds(20);

class RecordingStore final : public SequenceStore {
 public:
  void Save(const PersistedSequence& state) override {
    std::lock_guard lock(mu_);
    saves_.push_back(state);
  }
  void Clear() override {
    std::lock_guard lock(mu_);
    ++clears_;
    cv_.notify_all();
  }
  // True once Clear() was called `n` times.
  bool WaitForClears(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kHangBound, [&] { return clears_ >= n; });
  }
  int clears() {
    std::lock_guard lock(mu_);
    return clears_;
  }
  std::vector<PersistedSequence> saves() {
    std::lock_guard lock(mu_);
    return saves_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PersistedSequence> saves_;
  int clears_ = 0;
};

Config TestConfig() {
  Config config;
  config.shutdown.lb_delay = LbDelay::Fixed{milliseconds(5000)};
  config.shutdown.drain.timeout = milliseconds(20000);
  config.shutdown.drain.monitor.interval = milliseconds(100);
  config.shutdown.grace_period = milliseconds(30000);  // recover_after auto: 32s
  return config;
}

PollResult Busy(double value) { return {PollOutcome::kBusy, value, ""}; }
PollResult Drained() { return {PollOutcome::kDrained, 0.0, ""}; }

struct Harness {
  // The coordinator logs every phase: keep the test's output to its checks.
  Harness() { InitLogging(LogFormat::kText, LogLevel::kError); }

  Config config = TestConfig();
  FakeClock clock;
  testing::FakeHttpClient http{clock};
  testing::FakeBackgroundRequest trigger{clock, http};
  testing::FakeMonitor monitor{clock};
  Metrics metrics;
  RecordingStore store;
  EventLog event_log{LogFormat::kText};
  SequenceMetrics sequence_metrics{metrics};
  StatePersister persister{store};
  std::optional<SequenceReporter> reporter;  // made in Start(), from the test's config
  // Last: destroyed first, joining its thread while the fakes still exist.
  std::unique_ptr<ShutdownCoordinator> coordinator;

  // Starts the coordinator once the test has set `config` and the fakes' answers.
  ShutdownCoordinator& Start() {
    reporter.emplace(config.shutdown.Budget());
    coordinator = std::make_unique<ShutdownCoordinator>(
        config, clock, trigger, monitor,
        std::vector<SequenceListener*>{&event_log, &sequence_metrics, &persister, &*reporter},
        nullptr, clock.wall_clock());
    return *coordinator;
  }

  // What /status shows.
  SequenceReport Report() const { return LiveReport(*coordinator, *reporter); }

  std::vector<Phase> TimelinePhases() const {
    std::vector<Phase> phases;
    for (const TimelineEntry& entry : Report().timeline) phases.push_back(entry.phase);
    return phases;
  }
};

// Waits (a bounded while) until the coordinator is in `phase`.
bool WaitForPhase(const ShutdownCoordinator& coordinator, Phase phase) {
  const auto give_up = std::chrono::steady_clock::now() + kHangBound;
  while (coordinator.phase() != phase) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// The ends WhenEnded reported, with the fake time of each.
class EndRecorder {
 public:
  explicit EndRecorder(Harness& h) : h_(h), clock_(h.clock) {}
  // A callback for WhenEnded; `then` runs after recording, on the same thread.
  ShutdownCoordinator::EndCallback Callback(std::function<void()> then = {}) {
    return [this, then = std::move(then)] {
      const SequenceReport report = h_.Report();
      {
        // Notified under the lock: once a waiter sees the end, this recorder is not touched
        // again, and the test may end (and destroy it).
        std::lock_guard lock(mu_);
        ends_.push_back({report, clock_.Elapsed()});
        cv_.notify_all();
      }
      if (then) then();
    };
  }
  struct End {
    SequenceReport report;
    Millis at;
  };
  std::vector<End> ends() {
    std::lock_guard lock(mu_);
    return ends_;
  }
  // The ends once there are `n`. WaitForExit may return before WhenEnded's callbacks ran: the
  // sequence's end is recorded first, and they are called after.
  std::vector<End> WaitForEnds(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kHangBound, [&] { return ends_.size() >= n; });
    return ends_;
  }

 private:
  Harness& h_;
  FakeClock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<End> ends_;
};

TEST_CASE("preStop, then SIGTERM after the hook's answer: one sequence, exit 0, no recovery") {
  Harness h;
  ShutdownCoordinator& coordinator = h.Start();
  EndRecorder ended(h);
  // The kubelet sends SIGTERM once the hook returned: the answer goes out when the sequence ends.
  coordinator.WhenEnded(ended.Callback([&] { coordinator.OnTerminationSignal("SIGTERM"); }));

  CHECK(coordinator.Trigger(TriggerSource::kPreStop, "POST /prestop"));
  CHECK(coordinator.phase() != Phase::kServing);  // unready before Trigger returns
  CHECK(coordinator.WaitForExit() == kExitDrained);

  CHECK(h.clock.Elapsed() == milliseconds(5000));  // lb_delay, then drained at the first poll
  REQUIRE(ended.ends().size() == 1);
  CHECK(ended.ends()[0].at == milliseconds(5000));
  const SequenceReport report = h.Report();
  CHECK(report.source == TriggerSource::kPreStop);
  CHECK(report.signal_received);
  CHECK(report.end == SequenceEnd::kDrained);
  CHECK(report.recoveries == 0);
  CHECK(h.TimelinePhases() ==
        std::vector<Phase>{Phase::kUnready, Phase::kDraining, Phase::kDrained});
  // Timeline times come from the injected wall clock, so they are exact.
  REQUIRE(report.timeline.size() == 3);
  CHECK(report.timeline[0].at == FakeClock::kWallStart);
  CHECK(report.timeline[1].at == FakeClock::kWallStart + seconds(5));
  CHECK(report.timeline[1].since_trigger == milliseconds(5000));
  CHECK(h.monitor.polls == std::vector<Millis>{milliseconds(5000)});
  REQUIRE(h.http.requests.size() == 1);  // the drain trigger, once
  CHECK(h.http.requests[0].at == milliseconds(5000));
  // The state file knew of the signal before the exit removed it.
  REQUIRE_FALSE(h.store.saves().empty());
  CHECK(h.store.saves().back().signal_received);
  CHECK(h.store.clears() == 1);
}

TEST_CASE("SIGTERM during DRAINING joins the preStop sequence; the exit follows its end") {
  Harness h;
  ShutdownCoordinator* coordinator = nullptr;
  Phase phase_at_signal = Phase::kServing;
  bool saved_at_signal = false;
  h.monitor.answer = [&](Millis at, Deadline) {
    if (at == milliseconds(5000)) {  // the first poll of DRAINING
      phase_at_signal = coordinator->phase();
      coordinator->OnTerminationSignal("SIGTERM");
      // Saved at once, mid-drain: a lastcall restarted now must not recover.
      const std::vector<PersistedSequence> saves = h.store.saves();
      saved_at_signal =
          !saves.empty() && saves.back().signal_received && saves.back().phase == Phase::kDraining;
      return Busy(2);
    }
    return Drained();
  };
  coordinator = &h.Start();
  CHECK(coordinator->Trigger(TriggerSource::kPreStop, "POST /prestop"));
  CHECK(coordinator->WaitForExit() == kExitDrained);

  CHECK(phase_at_signal == Phase::kDraining);
  CHECK(h.clock.Elapsed() == milliseconds(5100));  // the next poll saw it drained
  const SequenceReport report = h.Report();
  CHECK(report.source == TriggerSource::kPreStop);  // the signal joined, it did not restart
  CHECK(report.signal_received);
  CHECK(h.TimelinePhases() ==
        std::vector<Phase>{Phase::kUnready, Phase::kDraining, Phase::kDrained});
  CHECK(h.monitor.polls == std::vector<Millis>{milliseconds(5000), milliseconds(5100)});
  CHECK(h.http.requests.size() == 1);
  CHECK(saved_at_signal);
  CHECK(h.metrics.Render().find("lastcall_signals_total{signal=\"SIGTERM\"} 1") !=
        std::string::npos);
}

TEST_CASE("two triggers: the second joins the running sequence and starts nothing") {
  Harness h;
  ShutdownCoordinator* coordinator = nullptr;
  std::optional<bool> started_while_draining;
  h.monitor.answer = [&](Millis at, Deadline) {
    if (at == milliseconds(5000)) {
      started_while_draining = coordinator->Trigger(TriggerSource::kPreStop, "a late hook");
    }
    return Drained();
  };
  coordinator = &h.Start();
  EndRecorder ended(h);
  coordinator->WhenEnded(ended.Callback());

  coordinator->OnTerminationSignal("SIGTERM");
  CHECK_FALSE(coordinator->Trigger(TriggerSource::kPreStop, "POST /prestop"));
  CHECK(coordinator->WaitForExit() == kExitDrained);

  CHECK(started_while_draining == false);
  CHECK(ended.WaitForEnds(1).size() == 1);
  const SequenceReport report = h.Report();
  CHECK(report.source == TriggerSource::kSignal);  // the first trigger's
  CHECK(h.TimelinePhases() ==
        std::vector<Phase>{Phase::kUnready, Phase::kDraining, Phase::kDrained});
  // The app-gone probe at 0 (a signal started it), then DRAINING's poll: one sequence's polls.
  CHECK(h.monitor.polls == std::vector<Millis>{milliseconds(0), milliseconds(5000)});
  CHECK(h.http.requests.size() == 1);
  CHECK(h.metrics.Render().find("lastcall_sequences_total{result=\"drained\"} 1") !=
        std::string::npos);
}

TEST_CASE("recovery: a preStop hook no signal follows means SERVING again after recover_after") {
  Harness h;
  ShutdownCoordinator& coordinator = h.Start();
  CHECK(coordinator.Trigger(TriggerSource::kPreStop, "POST /prestop"));
  REQUIRE(h.store.WaitForClears(1));  // recovery removes the state file
  // The file is cleared (and the recovery logged and counted) before readiness flips; the report
  // changes under the lock with the flip.
  REQUIRE(WaitForPhase(coordinator, Phase::kServing));
  const SequenceReport report = h.Report();
  CHECK(report.phase == Phase::kServing);
  CHECK(coordinator.phase() == Phase::kServing);
  CHECK(report.recoveries == 1);
  CHECK_FALSE(report.ended);
  CHECK_FALSE(report.end.has_value());
  // Ended at 5s; recover_after auto = grace_period + 2s = 32s from that end.
  CHECK(h.clock.Elapsed() == milliseconds(37000));
  REQUIRE(report.timeline.size() == 4);
  CHECK(report.timeline.back().phase == Phase::kServing);
  CHECK(report.timeline.back().since_trigger == milliseconds(37000));
  CHECK(report.timeline.back().at == FakeClock::kWallStart + seconds(37));
  CHECK(h.metrics.Render().find("lastcall_recoveries_total 1") != std::string::npos);

  // The next hook starts a fresh sequence (and, unanswered by a signal, recovers again).
  CHECK(coordinator.Trigger(TriggerSource::kPreStop, "POST /prestop again"));
  REQUIRE(h.store.WaitForClears(2));
  REQUIRE(WaitForPhase(coordinator, Phase::kServing));
  const SequenceReport again = h.Report();
  CHECK(again.recoveries == 2);
  REQUIRE_FALSE(again.timeline.empty());
  CHECK(again.timeline.front().phase == Phase::kUnready);
  CHECK(again.timeline.front().at == FakeClock::kWallStart + seconds(37));
  CHECK(h.clock.Elapsed() == milliseconds(37000 + 5000 + 32000));
  CHECK(h.monitor.polls == std::vector<Millis>{milliseconds(5000), milliseconds(42000)});
}

TEST_CASE("exit_delay: the exit comes exit_delay after the end, or at once when it passed") {
  SUBCASE("a signal-started sequence exits exit_delay after it ended") {
    Harness h;
    h.config.shutdown.exit_delay = milliseconds(3000);
    ShutdownCoordinator& coordinator = h.Start();
    coordinator.OnTerminationSignal("SIGTERM");
    CHECK(coordinator.WaitForExit() == kExitDrained);
    const SequenceReport report = h.Report();
    REQUIRE_FALSE(report.timeline.empty());
    CHECK(report.timeline.back().phase == Phase::kDrained);
    CHECK(report.timeline.back().since_trigger == milliseconds(5000));
    CHECK(h.clock.Elapsed() == milliseconds(8000));
    CHECK(h.store.clears() == 1);  // removed at the exit, not at the end
    CHECK(report.budget == milliseconds(5000 + 20000 + 3000));
  }
  SUBCASE("a signal 10s after the end of a preStop sequence: exit_delay has passed already") {
    Harness h;
    h.config.shutdown.exit_delay = milliseconds(3000);
    ShutdownCoordinator& coordinator = h.Start();
    EndRecorder ended(h);
    coordinator.WhenEnded(ended.Callback([&] {
      h.clock.Advance(seconds(10));
      coordinator.OnTerminationSignal("SIGTERM");
    }));
    CHECK(coordinator.Trigger(TriggerSource::kPreStop, "POST /prestop"));
    CHECK(coordinator.WaitForExit() == kExitDrained);
    CHECK(h.clock.Elapsed() == milliseconds(15000));
  }
  SUBCASE("a timed-out sequence exits 1 after exit_delay") {
    Harness h;
    h.config.shutdown.exit_delay = milliseconds(1000);
    h.monitor.answer = [](Millis, Deadline) { return Busy(4); };
    ShutdownCoordinator& coordinator = h.Start();
    coordinator.OnTerminationSignal("SIGTERM");
    CHECK(coordinator.WaitForExit() == kExitTimedOut);
    CHECK(h.Report().end == SequenceEnd::kTimedOut);
    CHECK(h.clock.Elapsed() == milliseconds(5000 + 20000 + 1000));
  }
}

TEST_CASE("restart: a sequence DRAINING before lastcall restarted resumes with the budget left") {
  Harness h;
  ShutdownCoordinator* coordinator = nullptr;
  std::vector<Phase> phases_at_polls;
  h.monitor.answer = [&](Millis, Deadline) {
    phases_at_polls.push_back(coordinator->phase());
    return Busy(3);
  };
  PersistedSequence state;
  state.phase = Phase::kDraining;
  state.source = TriggerSource::kPreStop;
  state.triggered_at = FakeClock::kWallStart - seconds(10);
  state.draining_since = FakeClock::kWallStart - seconds(8);
  state.trigger_accepted = true;
  state.signal_received = true;
  coordinator = &h.Start();
  coordinator->Resume(state);
  // Never ready again, not even briefly: DRAINING (or, the fake clock being quick, its end).
  CHECK(coordinator->phase() != Phase::kServing);

  CHECK(coordinator->WaitForExit() == kExitTimedOut);
  REQUIRE_FALSE(phases_at_polls.empty());
  CHECK(phases_at_polls.front() == Phase::kDraining);
  // DRAINING began 8s before the restart: 12s of drain.timeout were left.
  CHECK(h.clock.Elapsed() == milliseconds(12000));
  CHECK(h.monitor.polls.front() == milliseconds(0));  // no second lb_delay
  CHECK(h.http.requests.empty());                     // the app had accepted the trigger
  const SequenceReport report = h.Report();
  CHECK(report.source == TriggerSource::kPreStop);
  CHECK(report.signal_received);
  CHECK(h.TimelinePhases() ==
        std::vector<Phase>{Phase::kDraining, Phase::kDraining, Phase::kTimedOut});
  REQUIRE(report.timeline.size() == 3);
  CHECK(report.timeline[0].detail == "restored after lastcall restarted");
  CHECK(report.timeline[0].since_trigger == milliseconds(10000));
  CHECK(report.timeline[2].since_trigger == milliseconds(22000));
  // The state file keeps the original times, so a second restart resumes the same way.
  REQUIRE_FALSE(h.store.saves().empty());
  CHECK(h.store.saves().back().triggered_at == state.triggered_at);
  CHECK(h.store.saves().back().draining_since == state.draining_since);
}

PersistedSequence EndedPreStopSequence() {
  PersistedSequence state;
  state.phase = Phase::kDrained;
  state.source = TriggerSource::kPreStop;
  state.triggered_at = FakeClock::kWallStart - seconds(20);
  state.draining_since = FakeClock::kWallStart - seconds(15);
  state.end = SequenceEnd::kDrained;
  state.ended_at = FakeClock::kWallStart - seconds(12);
  state.detail = "drained: 0 (drained)";
  return state;
}

TEST_CASE("restart: an ended preStop-only sequence recovers on its original deadline") {
  Harness h;
  ShutdownCoordinator& coordinator = h.Start();
  coordinator.Resume(EndedPreStopSequence());
  REQUIRE(h.store.WaitForClears(1));
  REQUIRE(WaitForPhase(coordinator, Phase::kServing));
  CHECK(h.Report().phase == Phase::kServing);
  CHECK(h.Report().recoveries == 1);
  // 32s after the original end, which was 12s before the restart: 20s after it, not 32s.
  CHECK(h.clock.Elapsed() == milliseconds(20000));
  CHECK(h.monitor.polls.empty());  // nothing left to run
}

TEST_CASE("restart: an ended sequence's result answers late hooks, and a signal exits with it") {
  Harness h;
  h.config.shutdown.recover_after = Millis{0};  // no recovery races the checks below
  ShutdownCoordinator& coordinator = h.Start();
  coordinator.Resume(EndedPreStopSequence());
  CHECK(coordinator.phase() == Phase::kDrained);
  // A late /prestop call gets the restored result at once, on its own thread.
  EndRecorder late(h);
  coordinator.WhenEnded(late.Callback());
  REQUIRE(late.ends().size() == 1);
  CHECK(late.ends()[0].report.end == SequenceEnd::kDrained);
  CHECK(late.ends()[0].report.detail == "drained: 0 (drained)");
  CHECK_FALSE(coordinator.Trigger(TriggerSource::kPreStop, "POST /prestop"));  // nothing restarts

  coordinator.OnTerminationSignal("SIGTERM");
  CHECK(coordinator.WaitForExit() == kExitDrained);
  CHECK(h.clock.Elapsed() == milliseconds(0));  // its exit_delay (0) ran out long ago
  CHECK(h.monitor.polls.empty());
}

// The trigger reaches the state file before the signal's record does: a lastcall killed between
// the two leaves a signal's sequence without `signal_received`. The kubelet signals once, so the
// restarted lastcall must exit at the sequence's end, not wait for SIGKILL.
TEST_CASE("restart: a sequence a signal started exits at its end, its signal recorded or not") {
  Harness h;
  ShutdownCoordinator& coordinator = h.Start();
  PersistedSequence state = EndedPreStopSequence();
  state.source = TriggerSource::kSignal;
  state.signal_received = false;
  coordinator.Resume(state);
  // Checked before waiting: without the signal, WaitForExit would block for good.
  REQUIRE(h.Report().signal_received);
  CHECK(coordinator.WaitForExit() == kExitDrained);
  CHECK(h.clock.Elapsed() == milliseconds(0));
  CHECK(h.Report().recoveries == 0);  // a signal's sequence never turns ready again
}

}  // namespace
}  // namespace lastcall

namespace lastcall {
namespace {

TEST_CASE("out of memory in the sequence: it ends failed (exit 1), and every waiter is answered") {
  Harness h;
  h.monitor.answer = [](Millis, Deadline) -> PollResult { throw std::bad_alloc(); };
  ShutdownCoordinator& coordinator = h.Start();
  EndRecorder ended(h);
  coordinator.WhenEnded(ended.Callback());
  coordinator.WhenEnded(ended.Callback([&] { coordinator.OnTerminationSignal("SIGTERM"); }));

  CHECK(coordinator.Trigger(TriggerSource::kPreStop, "POST /prestop"));
  CHECK(coordinator.WaitForExit() == kExitTimedOut);
  const auto ends = ended.WaitForEnds(2);
  REQUIRE(ends.size() == 2);
  for (const auto& end : ends) {
    CHECK(end.report.end == SequenceEnd::kTimedOut);
    CHECK(end.report.detail.find("failed in draining: out of memory (std::bad_alloc)") == 0);
  }
  CHECK(coordinator.phase() == Phase::kTimedOut);
  CHECK(h.TimelinePhases() ==
        std::vector<Phase>{Phase::kUnready, Phase::kDraining, Phase::kTimedOut});
}

TEST_CASE("ForgetWaiter: a waiter whose caller left is never called, the others are") {
  Harness h;
  h.monitor.answer = [](Millis, Deadline) { return Drained(); };
  ShutdownCoordinator& coordinator = h.Start();
  EndRecorder ended(h);
  bool forgotten_called = false;
  const auto forgotten = coordinator.WhenEnded([&] { forgotten_called = true; });
  CHECK(forgotten != 0);
  const auto kept =
      coordinator.WhenEnded(ended.Callback([&] { coordinator.OnTerminationSignal("SIGTERM"); }));
  CHECK(kept != forgotten);
  coordinator.ForgetWaiter(forgotten);
  coordinator.ForgetWaiter(forgotten);  // twice: nothing
  CHECK(coordinator.Trigger(TriggerSource::kPreStop, "POST /prestop"));
  CHECK(coordinator.WaitForExit() == kExitDrained);
  CHECK(ended.WaitForEnds(1).size() == 1);
  CHECK_FALSE(forgotten_called);
  // After the end: answered at once, nothing to forget.
  CHECK(coordinator.WhenEnded([] {}) == 0);
}

}  // namespace
}  // namespace lastcall

namespace lastcall {
namespace {

TEST_CASE("the endpoint's removal is an event of the running sequence, dated when it happened") {
  Harness h;
  ShutdownCoordinator& coordinator = h.Start();
  // No sequence: nothing to tell.
  coordinator.OnEndpointRemoved(h.clock.Now(), 2, "before any trigger");
  EndRecorder ended(h);
  coordinator.WhenEnded(ended.Callback([&] { coordinator.OnTerminationSignal("SIGTERM"); }));
  CHECK(coordinator.Trigger(TriggerSource::kPreStop, "POST /prestop"));
  CHECK(coordinator.WaitForExit() == kExitDrained);
  // The watch saw it 1.3s after the trigger, and tells of it later.
  const Clock::time_point at = h.clock.Now() - (h.clock.Elapsed() - milliseconds(1300));
  coordinator.OnEndpointRemoved(at, 2, "web (IPv4), web-v6 (IPv6) terminating");
  const SequenceReport report = h.Report();
  REQUIRE(report.timeline.size() == 4);
  CHECK(report.timeline[1].event == "endpoint_removed");
  CHECK(report.timeline[1].since_trigger == milliseconds(1300));
  CHECK(report.timeline[1].at == FakeClock::kWallStart + milliseconds(1300));
  CHECK(report.timeline[1].detail == "web (IPv4), web-v6 (IPv6) terminating");
  CHECK(h.metrics.Render().find("lastcall_endpoint_removed_seconds_sum 1.3\n") !=
        std::string::npos);
}

}  // namespace
}  // namespace lastcall

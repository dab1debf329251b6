#include "sidecar/sequence_listeners.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace lastcall {
namespace {

class RecordingStore final : public SequenceStore {
 public:
  void Save(const PersistedSequence& state) override { log.emplace_back(ToString(state.phase)); }
  void Clear() override { log.push_back("clear"); }
  std::vector<std::string> log;
};

SequenceEvent Kind(EventKind kind) {
  SequenceEvent event;
  event.kind = kind;
  return event;
}

EventContext At(uint64_t serial, Phase phase) {
  EventContext context;
  context.serial = serial;
  context.state.phase = phase;
  return context;
}

TEST_CASE("StatePersister saves what a restart needs, clears at the end, drops stale events") {
  RecordingStore store;
  StatePersister persister(store);
  SequenceEvent unready = Kind(EventKind::kPhase);
  unready.phase = Phase::kUnready;
  persister.OnEvent(unready, At(1, Phase::kUnready));
  persister.OnEvent(Kind(EventKind::kPoll), At(2, Phase::kUnready));  // nothing to save
  SequenceEvent failed = Kind(EventKind::kDrainTrigger);
  failed.outcome = "failed";
  persister.OnEvent(failed, At(3, Phase::kDraining));
  SequenceEvent accepted = Kind(EventKind::kDrainTrigger);
  accepted.outcome = "accepted";
  persister.OnEvent(accepted, At(5, Phase::kDraining));
  // A signal decided before the acceptance, heard after it: its state is older, and the newer
  // one already holds the signal.
  SequenceEvent signal = Kind(EventKind::kSignal);
  persister.OnEvent(signal, At(4, Phase::kDraining));
  // A signal before any sequence: nothing to resume.
  persister.OnEvent(signal, At(6, Phase::kServing));
  signal.repeated = true;
  persister.OnEvent(signal, At(7, Phase::kDraining));
  persister.OnEvent(Kind(EventKind::kExit), At(8, Phase::kDrained));
  CHECK(store.log == std::vector<std::string>{"unready", "draining", "clear"});
}

TEST_CASE("SequenceMetrics counts events into the metrics") {
  Metrics metrics;
  SequenceMetrics counted(metrics);
  SequenceEvent poll = Kind(EventKind::kPoll);
  poll.monitor = "json";
  poll.outcome = "busy";
  poll.value = 4;
  counted.OnEvent(poll, EventContext{});
  SequenceEvent lb = Kind(EventKind::kLbWaitEnded);
  lb.lb_end = LbWaitWhy::kAppGone;  // a fixed lb_delay cut short: not an auto wait
  lb.waited = Millis(10);
  counted.OnEvent(lb, EventContext{});
  SequenceEvent drained = Kind(EventKind::kPhase);
  drained.phase = Phase::kDrained;
  EventContext context;
  context.drain_time = std::chrono::milliseconds(1500);
  counted.OnEvent(drained, context);
  const std::string text = metrics.Render();
  CHECK(text.find("lastcall_monitor_polls_total{kind=\"json\",outcome=\"busy\"} 1") !=
        std::string::npos);
  CHECK(text.find("lastcall_drain_value 4") != std::string::npos);
  CHECK(text.find("lastcall_sequences_total{result=\"drained\"} 1") != std::string::npos);
  CHECK(text.find("lastcall_drain_duration_seconds 1.5") != std::string::npos);
  CHECK(text.find("reason=\"app_gone\"") == std::string::npos);
  CHECK(text.find("lastcall_endpoint_removed_seconds_count 0\n") != std::string::npos);
  SequenceEvent removed = Kind(EventKind::kEndpointRemoved);
  removed.elapsed = Millis(1312);
  removed.slices = 2;
  counted.OnEvent(removed, EventContext{});
  const std::string after = metrics.Render();
  CHECK(after.find("# TYPE lastcall_endpoint_removed_seconds histogram\n") != std::string::npos);
  CHECK(after.find("lastcall_endpoint_removed_seconds_bucket{le=\"1\"} 0\n") != std::string::npos);
  CHECK(after.find("lastcall_endpoint_removed_seconds_bucket{le=\"2\"} 1\n") != std::string::npos);
  CHECK(after.find("lastcall_endpoint_removed_seconds_bucket{le=\"+Inf\"} 1\n") !=
        std::string::npos);
  CHECK(after.find("lastcall_endpoint_removed_seconds_sum 1.312\n") != std::string::npos);
  CHECK(after.find("lastcall_endpoint_removed_seconds_count 1\n") != std::string::npos);
}

TEST_CASE("SequenceReporter: the endpoint's removal is a timeline entry at its own time") {
  using std::chrono::milliseconds;
  SequenceReporter reporter(milliseconds(28000));
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  auto at = [&](uint64_t serial, Phase phase, int ms) {
    EventContext context = At(serial, phase);
    context.wall = t0 + milliseconds(ms);
    context.state.triggered_at = t0;
    return context;
  };
  reporter.OnEvent(Kind(EventKind::kTriggered), at(1, Phase::kUnready, 0));
  SequenceEvent unready = Kind(EventKind::kPhase);
  unready.phase = Phase::kUnready;
  unready.elapsed = milliseconds(0);
  reporter.OnEvent(unready, at(2, Phase::kUnready, 0));
  SequenceEvent draining = Kind(EventKind::kPhase);
  draining.phase = Phase::kDraining;
  draining.elapsed = milliseconds(2000);
  reporter.OnEvent(draining, at(3, Phase::kDraining, 2000));
  // Told after DRAINING began, it happened before: it goes between the two.
  SequenceEvent removed = Kind(EventKind::kEndpointRemoved);
  removed.elapsed = milliseconds(1300);
  removed.slices = 2;
  removed.detail = "both slices";
  reporter.OnEvent(removed, at(4, Phase::kDraining, 1300));
  const SequenceReport report = reporter.Report();
  REQUIRE(report.timeline.size() == 3);
  CHECK(report.timeline[1].event == "endpoint_removed");
  CHECK(report.timeline[1].phase == Phase::kUnready);
  CHECK(report.timeline[1].since_trigger == milliseconds(1300));
  CHECK(report.timeline[1].detail == "both slices");
  CHECK(report.timeline[2].phase == Phase::kDraining);
  CHECK(report.phase == Phase::kDraining);
}

TEST_CASE("SequenceReporter builds the report from the events alone") {
  using std::chrono::milliseconds;
  SequenceReporter reporter(milliseconds(28000));
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  auto at = [&](uint64_t serial, Phase phase, int ms) {
    EventContext context = At(serial, phase);
    context.wall = t0 + milliseconds(ms);
    context.state.triggered_at = t0;
    context.state.source = TriggerSource::kPreStop;
    return context;
  };
  reporter.OnEvent(Kind(EventKind::kTriggered), at(1, Phase::kUnready, 0));
  // The sequence thread tells of UNREADY later than it happened: the timeline says the trigger.
  SequenceEvent unready = Kind(EventKind::kPhase);
  unready.phase = Phase::kUnready;
  unready.elapsed = milliseconds(0);
  reporter.OnEvent(unready, at(2, Phase::kUnready, 3));
  SequenceEvent lb = Kind(EventKind::kLbWaitEnded);
  lb.lb_end = LbWaitWhy::kQuiet;
  lb.waited = milliseconds(2100);
  lb.detail = "no traffic for 1s";
  reporter.OnEvent(lb, at(3, Phase::kUnready, 2100));
  SequenceEvent draining = Kind(EventKind::kPhase);
  draining.phase = Phase::kDraining;
  draining.elapsed = milliseconds(2100);
  reporter.OnEvent(draining, at(4, Phase::kDraining, 2100));
  SequenceEvent trigger = Kind(EventKind::kDrainTrigger);
  trigger.attempt = 2;
  trigger.outcome = "accepted";
  EventContext accepted = at(5, Phase::kDraining, 2200);
  accepted.state.trigger_accepted = true;
  reporter.OnEvent(trigger, accepted);
  SequenceEvent poll = Kind(EventKind::kPoll);
  poll.outcome = "busy";
  poll.value = 3;
  poll.detail = "3 in flight";
  reporter.OnEvent(poll, at(6, Phase::kDraining, 2300));
  // A signal decided before the poll, heard after it: it carries an older state.
  SequenceEvent signal = Kind(EventKind::kSignal);
  EventContext signal_context = at(7, Phase::kDraining, 2250);
  signal_context.serial = 5;
  signal_context.state.signal_received = true;
  reporter.OnEvent(signal, signal_context);
  SequenceEvent drained = Kind(EventKind::kPhase);
  drained.phase = Phase::kDrained;
  drained.elapsed = milliseconds(4000);
  drained.detail = "drained: 0";
  EventContext end = at(8, Phase::kDrained, 4000);
  end.state.end = SequenceEnd::kDrained;
  end.state.detail = "drained: 0";
  end.state.signal_received = true;
  end.state.trigger_accepted = true;
  reporter.OnEvent(drained, end);

  const SequenceReport report = reporter.Report();
  CHECK(report.phase == Phase::kDrained);
  CHECK(report.source == TriggerSource::kPreStop);
  CHECK(report.ended);
  CHECK(report.end == SequenceEnd::kDrained);
  CHECK(report.detail == "drained: 0");
  CHECK(report.signal_received);
  CHECK(report.trigger_accepted);
  CHECK(report.trigger_attempts == 2);
  CHECK(report.last_value == 3);
  CHECK(report.last_poll == "busy: 3 in flight");
  CHECK(report.lb_wait == "quiet");
  CHECK(report.lb_wait_time == milliseconds(2100));
  CHECK(report.budget == milliseconds(28000));
  REQUIRE(report.timeline.size() == 3);
  CHECK(report.timeline[0].at == t0);
  CHECK(report.timeline[1].since_trigger == milliseconds(2100));
  CHECK(report.timeline[2].phase == Phase::kDrained);

  // Recovered: serving again, the end gone, counted; a new trigger keeps the count only.
  reporter.OnEvent(Kind(EventKind::kRecovered), at(9, Phase::kServing, 36000));
  SequenceReport recovered = reporter.Report();
  CHECK(recovered.phase == Phase::kServing);
  CHECK_FALSE(recovered.ended);
  CHECK(recovered.recoveries == 1);
  CHECK(recovered.timeline.back().since_trigger == milliseconds(36000));
  reporter.OnEvent(Kind(EventKind::kTriggered), at(10, Phase::kUnready, 50000));
  SequenceReport again = reporter.Report();
  CHECK(again.timeline.empty());
  CHECK(again.recoveries == 1);
  CHECK(again.trigger_attempts == 0);
  CHECK(again.lb_wait.empty());
  CHECK(again.phase == Phase::kUnready);
}

TEST_CASE("SequenceReporter: a join that overtakes the trigger's event keeps the new state") {
  SequenceReporter reporter(Millis(0));
  EventContext joined = At(2, Phase::kUnready);
  joined.state.source = TriggerSource::kSignal;
  reporter.OnEvent(Kind(EventKind::kTriggerJoined), joined);
  EventContext started = At(1, Phase::kUnready);
  started.state.source = TriggerSource::kSignal;
  reporter.OnEvent(Kind(EventKind::kTriggered), started);
  CHECK(reporter.Report().phase == Phase::kUnready);
  CHECK(reporter.Report().source == TriggerSource::kSignal);
}

TEST_CASE("SequenceMetrics: a resumed sequence is counted and its phase keeps the original clock") {
  Metrics metrics;
  SequenceMetrics counted(metrics);
  SequenceEvent resumed = Kind(EventKind::kResumed);
  resumed.phase = Phase::kDraining;
  EventContext context;
  context.wall = std::chrono::system_clock::time_point(std::chrono::seconds(2000));
  context.state.triggered_at = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  context.state.draining_since = std::chrono::system_clock::time_point(std::chrono::seconds(1005));
  counted.OnEvent(resumed, context);
  metrics.SetDrainTimeout(20);
  const std::string text = metrics.Render();
  CHECK(text.find("lastcall_resumes_total 1\n") != std::string::npos);
  CHECK(text.find("lastcall_phase{phase=\"draining\"} 1\n") != std::string::npos);
  CHECK(text.find("lastcall_phase_transition_timestamp_seconds{phase=\"draining\"} 1005\n") !=
        std::string::npos);
  CHECK(text.find("lastcall_drain_timeout_seconds 20\n") != std::string::npos);
}

TEST_CASE("a fresh Metrics: lastcall_resumes_total is 0, the drain timeout absent until set") {
  const std::string text = Metrics().Render();
  CHECK(text.find("lastcall_resumes_total 0\n") != std::string::npos);
  CHECK(text.find("\nlastcall_drain_timeout_seconds ") == std::string::npos);
}

}  // namespace
}  // namespace lastcall

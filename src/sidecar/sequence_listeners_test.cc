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

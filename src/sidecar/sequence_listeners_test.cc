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

}  // namespace
}  // namespace lastcall

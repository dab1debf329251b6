#pragma once

#include <cstdint>
#include <mutex>

#include "base/logging.h"
#include "sequence/sequence_types.h"
#include "sidecar/metrics.h"
#include "sidecar/sequence_listener.h"

// The listeners `lastcall run` composes around its coordinator (sequence_listener.h).
namespace lastcall {

// Keeps the report /status and /prestop answer with (SequenceReport): the timeline, the last
// poll, the trigger's attempts, the LB wait's end, built from the events alone. The coordinator
// tells its waiters of an end only after every listener heard it, so a preStop answer read from
// here always holds the end. What describes the sequence as a whole (phase, source, signal, the
// end) is taken from the newest event's context; an older event arriving late (listeners are
// called outside the coordinator's lock) changes only what it alone carries.
class SequenceReporter final : public SequenceListener {
 public:
  explicit SequenceReporter(Millis budget);
  void OnEvent(const SequenceEvent& event, const EventContext& context) override;
  SequenceReport Report() const;

 private:
  mutable std::mutex mu_;
  SequenceReport report_;     // GUARDED_BY(mu_)
  uint64_t last_serial_ = 0;  // GUARDED_BY(mu_)
};

// Writes each event as a log line: a sentence for people, and the typed record for tools
// (sequence_event.h). The sentences are this class's alone; nothing reads them back.
class EventLog final : public SequenceListener {
 public:
  explicit EventLog(LogFormat format) : format_(format) {}
  void OnEvent(const SequenceEvent& event, const EventContext& context) override;

 private:
  const LogFormat format_;
};

// Counts the events into lastcall's metrics (GET /metrics).
class SequenceMetrics final : public SequenceListener {
 public:
  explicit SequenceMetrics(Metrics& metrics) : metrics_(metrics) {}
  void OnServing(std::chrono::system_clock::time_point wall) override;
  void OnEvent(const SequenceEvent& event, const EventContext& context) override;

 private:
  Metrics& metrics_;
};

// Keeps the state file: saves the sequence whenever what a restarted lastcall needs changed
// (a phase, the trigger accepted, the first signal), clears it when there is nothing left to
// resume (serving again after a recovery, or the exit). An event older than the last one handled
// changes nothing.
class StatePersister final : public SequenceListener {
 public:
  explicit StatePersister(SequenceStore& store) : store_(store) {}
  void OnEvent(const SequenceEvent& event, const EventContext& context) override;

 private:
  SequenceStore& store_;
  std::mutex mu_;
  uint64_t last_serial_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace lastcall

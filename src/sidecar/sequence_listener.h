#pragma once

#include <chrono>
#include <cstdint>

#include "base/clock.h"
#include "sequence/sequence_event.h"
#include "sequence/sequence_types.h"

// What the coordinator tells the rest of the process: every event of the sequence, as the typed
// record of sequence_event.h, with the state it left behind. The log, the metrics and the state
// file are listeners (sequence_listeners.h), composed where the process is wired (run_command.cc);
// the coordinator itself only runs the sequence, answers its waiters and decides the exit.
namespace lastcall {

struct EventContext {
  // Events in the order the coordinator decided them. Listeners are called outside the
  // coordinator's lock, so two threads' events may arrive out of this order; a listener whose
  // result depends on the order (the state file) drops an event older than one it has seen.
  uint64_t serial = 0;
  std::chrono::system_clock::time_point wall;  // when it happened
  // What a restarted lastcall needs to go on, as of this event. phase SERVING: no sequence.
  PersistedSequence state;
  Clock::duration drain_time{};  // phase DRAINED / TIMED_OUT: DRAINING -> the end
  // poll: the outcome and detail differ from the previous poll's (an error is worth a warning
  // once per distinct message).
  bool poll_changed = false;
};

// Called on the thread of whatever caused the event (the sequence, a signal, a preStop call),
// never under the coordinator's lock: a listener must be thread-safe and must not call back into
// the coordinator.
class SequenceListener {
 public:
  virtual ~SequenceListener() = default;
  // The coordinator started: SERVING since `wall`.
  virtual void OnServing(std::chrono::system_clock::time_point /*wall*/) {}
  virtual void OnEvent(const SequenceEvent& event, const EventContext& context) = 0;
};

}  // namespace lastcall

#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"
#include "base/phase.h"

// The plain values a shutdown sequence produces and leaves behind: how it ended, its timeline,
// the report /status and /prestop answer with, and what survives a restart of lastcall. Value
// types only, no behaviour: the state file's codec, the coordinator and any tool that reads them
// include this header and nothing heavier.
namespace lastcall {

enum class SequenceEnd { kDrained, kTimedOut };

// Why DRAINING ended: the monitor said drained (and held it for settle), the app pushed POST
// /drained, the app is gone (nothing listens on its port), monitor none waited the drain timeout,
// the drain timeout passed with the app busy, or the sequence failed (out of memory).
enum class DrainEndReason { kMonitor, kPushed, kAppGone, kWaited, kTimeout, kFailed };

struct TimelineEntry {
  Phase phase;
  std::chrono::system_clock::time_point at;
  Millis since_trigger{0};
  std::string detail;
  // "" for a phase entered; else the event this entry records ("endpoint_removed"), which is no
  // phase of its own (`phase` is the one it happened in).
  std::string event;
};

// Everything /status and /prestop report. A value snapshot; safe to copy around.
struct SequenceReport {
  Phase phase = Phase::kServing;
  std::optional<TriggerSource> source;
  std::vector<TimelineEntry> timeline;
  std::optional<double> last_value;
  std::string last_poll;  // the last poll's outcome and detail
  int trigger_attempts = 0;
  bool trigger_accepted = false;
  bool signal_received = false;
  bool ended = false;
  std::optional<SequenceEnd> end;
  std::string detail;  // how it ended
  Millis budget{0};    // lb_delay + drain.timeout + exit_delay
  int recoveries = 0;
  std::string lb_wait;  // lb_delay auto: why the wait ended ("quiet", "max", ...); "" otherwise
  std::string lb_wait_detail;
  std::optional<Millis> lb_wait_time;  // unready -> the wait's end
};

// What survives lastcall's own restart (state_file.h writes and reads it).
struct PersistedSequence {
  // SERVING means nothing to resume (ResumeFromStateFile); otherwise Resume derives the phase from
  // `end` and `draining_since`, which a restarted lastcall trusts more than a phase name.
  Phase phase = Phase::kServing;
  TriggerSource source = TriggerSource::kSignal;
  std::chrono::system_clock::time_point triggered_at;
  std::optional<std::chrono::system_clock::time_point> draining_since;
  bool trigger_accepted = false;
  bool signal_received = false;
  std::optional<SequenceEnd> end;
  // When it ended: the recovery deadline of a preStop-only sequence counts from here.
  std::optional<std::chrono::system_clock::time_point> ended_at;
  std::string detail;
};

// Persists the sequence, so that a lastcall restarted mid-sequence goes on with it (state_file.h).
class SequenceStore {
 public:
  virtual ~SequenceStore() = default;
  virtual void Save(const PersistedSequence& state) = 0;
  virtual void Clear() = 0;
};

}  // namespace lastcall

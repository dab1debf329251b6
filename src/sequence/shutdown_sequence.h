#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/phase.h"
#include "config/config.h"
#include "http/http_client.h"
#include "monitors/background_request.h"
#include "monitors/monitor.h"
#include "sequence/lb_wait.h"
#include "sequence/sequence_types.h"

// The shutdown sequence of PRODUCT.md §2, as one function that reads top to bottom:
//
//   UNREADY --lb_delay--> DRAINING (trigger the app, poll the monitor) --> DRAINED | TIMED_OUT
//
// In DRAINING the trigger and the polls run in the background: a trigger that hangs never
// delays the detection of "drained" (once drained or timed out it is not retried), and a push
// from the app ends the drain at once, abandoning a poll in flight rather than awaiting it.
// Time, the trigger's requests and the polls are injected, so every branch runs in tests without
// real sleeps.
// exit_delay and the exit itself belong to the caller (they depend on signals, not on the app).
namespace lastcall {

struct SequenceOutcome {
  SequenceEnd end = SequenceEnd::kTimedOut;
  DrainEndReason why = DrainEndReason::kTimeout;
  std::string detail;     // one sentence for logs and the preStop answer
  std::string last_poll;  // what the monitor last said (why kMonitor: the poll that ended it)
  std::optional<double> last_value;
  Clock::duration drain_time{};  // DRAINING -> end
};

// Receives what happens, as it happens (logs, metrics, /status). Called on the sequence thread.
class SequenceObserver {
 public:
  virtual ~SequenceObserver() = default;
  virtual void OnPhase(Phase phase, std::string_view detail) = 0;
  // accepted: the app answered 2xx; given_up: the trigger will not be retried (4xx).
  virtual void OnTriggerAttempt(int attempt, const HttpResponse& response, bool accepted,
                                bool given_up) = 0;
  virtual void OnPoll(const PollResult& result) = 0;
  virtual void OnNote(std::string_view message) = 0;  // noteworthy decisions, for the log
  // lb_delay auto's wait ended, and why.
  virtual void OnLbWaitEnded(const LbWaitOutcome& /*outcome*/) {}
  // The app is gone (nothing listens on its port): the rest of lb_delay is skipped. `detail`
  // says what proved it.
  virtual void OnLbWaitSkipped(std::string_view detail) { OnNote(detail); }
  // DRAINING ended: the phase DRAINED or TIMED_OUT, with why. The sequence returns `outcome`
  // right after.
  virtual void OnDrainEnded(const SequenceOutcome& outcome) {
    OnPhase(outcome.end == SequenceEnd::kDrained ? Phase::kDrained : Phase::kTimedOut,
            outcome.detail);
  }
};

struct SequenceStart {
  TriggerSource source = TriggerSource::kSignal;
  Clock::time_point triggered_at;  // when the first trigger arrived (UNREADY began)
  // For a sequence resumed after lastcall's own restart: DRAINING began here already, and
  // whether the app already accepted the drain trigger.
  std::optional<Clock::time_point> draining_since;
  bool trigger_accepted = false;
  // Set (from another thread) when the app pushes that it is drained (POST /drained): DRAINING
  // ends at its next wake, without waiting for a poll in flight or settle; the setter then calls
  // Clock::Wake(). Null: no push.
  const std::atomic<bool>* app_drained = nullptr;
};

// Backoff between drain trigger attempts: 100ms, 200ms, ... capped at kMaxTriggerBackoff.
inline constexpr Millis kFirstTriggerBackoff{100};
inline constexpr Millis kMaxTriggerBackoff{2000};
// How long a drain that ended waits for the answer of a trigger attempt still in flight: long
// enough for an answer already on its way over loopback, short enough that an app whose trigger
// hangs costs the shutdown almost nothing (the target: within one poll interval + 10 ms).
inline constexpr Millis kTriggerSettle{10};

// Runs UNREADY -> ... -> DRAINED | TIMED_OUT and returns how it ended. REQUIRES: the caller already
// flipped readiness (phase UNREADY) at `start.triggered_at`, so that flip never waits on this
// function. Never runs past triggered_at + lb_delay.bound() + drain.timeout (plus one request
// timeout at most if the deadline falls inside a call, which the HttpClient bounds), nor past the
// grace period minus exit_delay and Config::kBudgetMargin.
// With an auto shutdown.lb_delay, the lb wait watches `traffic` (WaitForQuietPorts); without an
// observer it waits the whole bound, lb_auto.max (LbDelay::bound). `endpoints` (may be null) is
// the cluster's view of the pod's endpoint, which the wait also consults (lb_wait.h).
// `polls` polls the drain monitor; a poll still in flight when the sequence ends is abandoned
// (BackgroundPoll::Abandon), so with ThreadedPoll the end never waits for it.
// A poll outcome kRefused means the app is gone (the monitor proved it: see port_listeners.h).
// The observer is called on the caller's thread only (trigger answers and poll results are taken
// in by the loop).
SequenceOutcome RunShutdownSequence(const Config& config, const SequenceStart& start, Clock& clock,
                                    BackgroundRequest& trigger_calls, BackgroundPoll& polls,
                                    SequenceObserver& observer, TrafficObserver* traffic = nullptr,
                                    EndpointView* endpoints = nullptr);

}  // namespace lastcall

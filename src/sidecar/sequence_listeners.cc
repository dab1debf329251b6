#include "sidecar/sequence_listeners.h"

#include <fmt/format.h>

#include <string>

#include "monitors/monitor.h"

namespace lastcall {
namespace {

double UnixSeconds(std::chrono::system_clock::time_point at) {
  return std::chrono::duration<double>(at.time_since_epoch()).count();
}

double Seconds(Millis span) { return std::chrono::duration<double>(span).count(); }

}  // namespace

SequenceReporter::SequenceReporter(Millis budget) { report_.budget = budget; }

SequenceReport SequenceReporter::Report() const {
  std::lock_guard lock(mu_);
  return report_;
}

void SequenceReporter::OnEvent(const SequenceEvent& event, const EventContext& context) {
  std::lock_guard lock(mu_);
  const PersistedSequence& state = context.state;
  SequenceReport& r = report_;
  switch (event.kind) {
    case EventKind::kTriggered:
      // A new sequence: what the last one's events told goes. Its state (phase, signal, end)
      // follows the newest context below, which a join that overtook this event may carry.
      r.timeline.clear();
      r.last_value.reset();
      r.last_poll.clear();
      r.trigger_attempts = 0;
      r.lb_wait.clear();
      r.lb_wait_detail.clear();
      r.lb_wait_time.reset();
      break;
    case EventKind::kResumed:
      r.timeline.push_back(TimelineEntry{state.phase, context.wall,
                                         event.elapsed.value_or(Millis(0)),
                                         "restored after lastcall restarted", ""});
      break;
    case EventKind::kPhase: {
      const Phase phase = event.phase.value_or(Phase::kServing);
      // UNREADY happened at the trigger, however late the sequence thread tells of it.
      const auto at = phase == Phase::kUnready ? state.triggered_at : context.wall;
      r.timeline.push_back(
          TimelineEntry{phase, at, event.elapsed.value_or(Millis(0)), event.detail, ""});
      break;
    }
    case EventKind::kDrainTrigger:
      r.trigger_attempts = event.attempt;
      break;
    case EventKind::kPoll: {
      if (event.value) r.last_value = event.value;
      std::string seen = event.outcome;
      if (!event.detail.empty()) seen += ": " + event.detail;
      r.last_poll = std::move(seen);
      break;
    }
    case EventKind::kLbWaitEnded:
      // The app being gone cuts the wait short; it is no end of the wait itself.
      if (event.lb_end && *event.lb_end != LbWaitWhy::kAppGone) {
        r.lb_wait = std::string(ToString(*event.lb_end));
        r.lb_wait_detail = event.detail;
        r.lb_wait_time = event.waited;
      }
      break;
    case EventKind::kEndpointRemoved: {
      // Placed at the time the slices changed, which may precede phases told before it.
      TimelineEntry entry{state.phase, context.wall, event.elapsed.value_or(Millis(0)),
                          event.detail, std::string(ToString(event.kind))};
      auto at = r.timeline.end();
      while (at != r.timeline.begin() && std::prev(at)->since_trigger > entry.since_trigger) --at;
      if (at != r.timeline.begin()) entry.phase = std::prev(at)->phase;
      r.timeline.insert(at, std::move(entry));
      break;
    }
    case EventKind::kRecovered:
      r.recoveries += 1;
      r.timeline.push_back(
          TimelineEntry{Phase::kServing, context.wall,
                        std::chrono::duration_cast<Millis>(context.wall - state.triggered_at),
                        "recovered: no termination signal followed the preStop hook", ""});
      break;
    default:
      break;
  }
  if (context.serial < last_serial_) return;
  last_serial_ = context.serial;
  if (event.kind == EventKind::kRecovered) {
    r.phase = Phase::kServing;
    r.ended = false;
    r.end.reset();
    return;
  }
  r.phase = state.phase;
  if (state.phase != Phase::kServing) r.source = state.source;
  r.signal_received = state.signal_received;
  r.trigger_accepted = state.trigger_accepted;
  r.ended = state.end.has_value();
  r.end = state.end;
  r.detail = state.detail;
}

void EventLog::OnEvent(const SequenceEvent& event, const EventContext& context) {
  LogLevel level = LogLevel::kInfo;
  std::string message;
  switch (event.kind) {
    case EventKind::kTriggered:
      message = "shutdown sequence started";
      break;
    case EventKind::kTriggerJoined:
      level = LogLevel::kDebug;
      message = "trigger joins the running sequence";
      break;
    case EventKind::kResumed:
      level = LogLevel::kWarn;
      message = event.ended ? "restored the result of a shutdown sequence that ended before "
                              "lastcall restarted"
                            : "resuming a shutdown sequence that was in progress when lastcall "
                              "restarted";
      break;
    case EventKind::kPhase: {
      const Phase phase = event.phase.value_or(Phase::kServing);
      if (phase == Phase::kTimedOut) level = LogLevel::kWarn;
      message = fmt::format("phase {}", ToString(phase));
      break;
    }
    case EventKind::kLbWaitEnded:
      message = event.lb_end == LbWaitWhy::kAppGone
                    ? "the app is gone (connection refused): skipping the rest of lb_delay"
                    : "lb wait ended";
      break;
    case EventKind::kDrainTrigger:
      if (event.outcome == "accepted") {
        message = "drain trigger accepted";
      } else if (event.outcome == "rejected") {
        level = LogLevel::kWarn;
        message = "drain trigger rejected by the app; not retrying, monitoring continues";
      } else {
        level = LogLevel::kWarn;
        message = "drain trigger failed; retrying with backoff";
      }
      break;
    case EventKind::kPoll:
      // Errors are worth a warning once per distinct message, not ten times a second.
      level = event.outcome == ToString(PollOutcome::kError) && context.poll_changed
                  ? LogLevel::kWarn
                  : LogLevel::kDebug;
      message = "drain poll";
      break;
    case EventKind::kAppDrained:
      message = "the app said it is drained (POST /drained)";
      break;
    case EventKind::kSignal:
      level = event.repeated ? LogLevel::kInfo : LogLevel::kDebug;
      message = event.repeated ? "signal received again; the sequence continues"
                               : "termination signal received";
      break;
    case EventKind::kNote:
      message = event.detail;
      break;
    case EventKind::kFailed:
      level = LogLevel::kError;
      message = "the shutdown sequence failed";
      break;
    case EventKind::kRecovered:
      level = LogLevel::kWarn;
      message =
          "no termination signal followed the preStop hook: the container was restarted, not "
          "the pod deleted; serving again";
      break;
    case EventKind::kExit:
      message = "exiting";
      break;
    case EventKind::kEndpointRemoved:
      message = "the cluster removed the pod's endpoint from every EndpointSlice";
      break;
    case EventKind::kUnknown:
      message = event.kind_name;
      break;
  }
  if (event.kind == EventKind::kNote) {
    // A note's text is its message: the record says only that it is one.
    SequenceEvent bare;
    bare.kind = EventKind::kNote;
    Log(level, message, EventLogFields(bare, format_));
    return;
  }
  Log(level, message, EventLogFields(event, format_));
}

void SequenceMetrics::OnServing(std::chrono::system_clock::time_point wall) {
  metrics_.SetPhase(Phase::kServing, UnixSeconds(wall));
}

void SequenceMetrics::OnEvent(const SequenceEvent& event, const EventContext& context) {
  switch (event.kind) {
    case EventKind::kPhase: {
      const Phase phase = event.phase.value_or(Phase::kServing);
      // A resumed sequence enters draining again: its transition is the state file's, on the
      // clock the alerts read (a drain's age did not restart with this process).
      const bool draining_known = phase == Phase::kDraining && context.state.draining_since;
      metrics_.SetPhase(phase,
                        UnixSeconds(draining_known ? *context.state.draining_since : context.wall));
      if (phase == Phase::kDrained || phase == Phase::kTimedOut) {
        metrics_.CountSequence(phase == Phase::kDrained ? "drained" : "timed_out");
        metrics_.SetDrainDuration(std::chrono::duration<double>(context.drain_time).count());
      }
      break;
    }
    case EventKind::kLbWaitEnded:
      // lb_delay auto's waits only: a fixed lb_delay cut short has no auto reason.
      if (event.lb_end && *event.lb_end != LbWaitWhy::kAppGone && event.waited) {
        metrics_.SetLbWait(Seconds(*event.waited), ToString(*event.lb_end));
      }
      break;
    case EventKind::kDrainTrigger:
      metrics_.CountTriggerAttempt(event.outcome);
      break;
    case EventKind::kPoll:
      metrics_.CountPoll(event.monitor, event.outcome);
      if (event.value) metrics_.SetDrainValue(*event.value);
      break;
    case EventKind::kSignal:
      metrics_.CountSignal(event.signal);
      break;
    case EventKind::kResumed: {
      // The phase on the state file's clock: a drain's age is what the alerts read, and it did
      // not start again with this process.
      metrics_.CountResume();
      const Phase phase = event.phase.value_or(Phase::kUnready);
      std::chrono::system_clock::time_point since = context.wall;
      if (phase == Phase::kDraining && context.state.draining_since) {
        since = *context.state.draining_since;
      } else if (phase == Phase::kUnready) {
        since = context.state.triggered_at;
      } else if (context.state.ended_at) {
        since = *context.state.ended_at;
      }
      metrics_.SetPhase(phase, UnixSeconds(since));
      break;
    }
    case EventKind::kEndpointRemoved:
      if (event.elapsed) metrics_.ObserveEndpointRemoved(Seconds(*event.elapsed));
      break;
    case EventKind::kRecovered:
      metrics_.CountRecovery();
      metrics_.SetPhase(Phase::kServing, UnixSeconds(context.wall));
      break;
    default:
      break;
  }
}

void StatePersister::OnEvent(const SequenceEvent& event, const EventContext& context) {
  bool save = false;
  bool clear = false;
  switch (event.kind) {
    case EventKind::kPhase:
      save = true;
      break;
    case EventKind::kDrainTrigger:
      save = event.outcome == "accepted";
      break;
    case EventKind::kSignal:
      // A restarted lastcall must know a signal came: it rules out recovery.
      save = !event.repeated && context.state.phase != Phase::kServing;
      break;
    case EventKind::kRecovered:
    case EventKind::kExit:
      // The kubelet never restarts a container it stopped, and a recovered lastcall serves: the
      // next lastcall to start is a fresh one.
      clear = true;
      break;
    default:
      break;
  }
  if (!save && !clear) return;
  std::lock_guard lock(mu_);
  if (context.serial < last_serial_) return;
  last_serial_ = context.serial;
  if (clear) {
    store_.Clear();
  } else {
    store_.Save(context.state);
  }
}

}  // namespace lastcall

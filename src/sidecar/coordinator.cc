#include "sidecar/coordinator.h"

#include <fmt/format.h>
#include <unistd.h>

#include <utility>

#include "base/exit_status.h"
#include "base/last_resort.h"
#include "base/logging.h"

namespace lastcall {
namespace {

using SysClock = std::chrono::system_clock;

SequenceEvent Event(EventKind kind) {
  SequenceEvent event;
  event.kind = kind;
  return event;
}

}  // namespace

ShutdownCoordinator::ShutdownCoordinator(const Config& config, Clock& clock,
                                         BackgroundRequest& trigger_calls, DrainMonitor& monitor,
                                         std::vector<SequenceListener*> listeners,
                                         TrafficObserver* traffic, WallClock wall_clock,
                                         BackgroundPoll* polls)
    : config_(config),
      clock_(clock),
      trigger_calls_(trigger_calls),
      monitor_(monitor),
      inline_polls_(monitor),
      polls_(polls != nullptr ? *polls : inline_polls_),
      listeners_(std::move(listeners)),
      traffic_(traffic),
      wall_clock_(wall_clock ? std::move(wall_clock) : WallClock([] { return SysClock::now(); })) {
  const SysClock::time_point wall = wall_clock_();
  for (SequenceListener* listener : listeners_) listener->OnServing(wall);
  thread_ = std::thread([this] { RunLoop(); });
}

ShutdownCoordinator::~ShutdownCoordinator() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  clock_.Wake();
  if (thread_.joinable()) thread_.join();
}

bool ShutdownCoordinator::Trigger(TriggerSource source, std::string_view detail) {
  // Readiness flips first, before any lock or log: the load balancers' clock is running.
  Phase expected = Phase::kServing;
  const bool started =
      phase_.compare_exchange_strong(expected, Phase::kUnready, std::memory_order_acq_rel);
  const Clock::time_point now = clock_.Now();
  const SysClock::time_point wall = wall_clock_();
  SequenceEvent event = Event(started ? EventKind::kTriggered : EventKind::kTriggerJoined);
  event.source = source;
  event.detail = std::string(detail);
  EventContext context;
  if (!started) {
    {
      std::lock_guard lock(mu_);
      context = Context(wall);
    }
    Publish(event, context);
    return false;
  }
  {
    std::lock_guard lock(mu_);
    current_ = Current{Phase::kUnready, source, false, current_.signal_received, std::nullopt, ""};
    end_published_ = false;
    last_poll_.clear();
    app_drained_.store(false, std::memory_order_release);
    start_ = SequenceStart{source, now, std::nullopt, false, &app_drained_};
    triggered_wall_ = wall;
    draining_wall_.reset();
    ended_at_.reset();
    ended_wall_.reset();
    context = Context(wall);
  }
  // Every listener hears of the start before the sequence thread may tell of its first phase.
  Publish(event, context);
  {
    std::lock_guard lock(mu_);
    pending_start_ = true;
  }
  cv_.notify_all();
  return true;
}

void ShutdownCoordinator::Resume(const PersistedSequence& state) {
  const Phase phase =
      state.end ? (*state.end == SequenceEnd::kDrained ? Phase::kDrained : Phase::kTimedOut)
                : (state.draining_since ? Phase::kDraining : Phase::kUnready);
  phase_.store(phase, std::memory_order_release);
  const Clock::time_point now = clock_.Now();
  const SysClock::time_point wall = wall_clock_();
  SequenceEvent event = Event(EventKind::kResumed);
  event.phase = phase;
  event.elapsed = std::chrono::duration_cast<Millis>(wall - state.triggered_at);
  event.ended = state.end.has_value();
  EventContext context;
  {
    std::lock_guard lock(mu_);
    current_.phase = phase;
    current_.source = state.source;
    // A sequence a signal started had its signal, whether or not the file got to record it: the
    // trigger is saved before the signal, and a lastcall killed between the two must not wait,
    // after its restart, for a second signal the kubelet never sends.
    current_.signal_received = state.signal_received || state.source == TriggerSource::kSignal;
    current_.trigger_accepted = state.trigger_accepted;
    triggered_wall_ = state.triggered_at;
    draining_wall_ = state.draining_since;
    if (state.end) {
      current_.end = state.end;
      current_.detail = state.detail;
      // On the original clock: the recovery deadline must not restart with every restart of
      // lastcall. A file without the end time (an older lastcall's) counts from now.
      ended_wall_ = std::min(state.ended_at.value_or(wall), wall);
      ended_at_ = now - (wall - *ended_wall_);
      restored_end_ = true;
    } else {
      start_ = SequenceStart{TriggerSource::kResumed, now - (wall - state.triggered_at),
                             std::nullopt, state.trigger_accepted, &app_drained_};
      if (state.draining_since) start_.draining_since = now - (wall - *state.draining_since);
    }
    context = Context(wall);
  }
  Publish(event, context);
  std::map<WaiterId, EndCallback> waiters;
  {
    std::lock_guard lock(mu_);
    if (state.end) {
      end_published_ = true;
      waiters.swap(waiters_);
    } else {
      pending_start_ = true;
    }
  }
  for (auto& [id, waiter] : waiters) waiter();
  cv_.notify_all();
}

void ShutdownCoordinator::OnTerminationSignal(std::string_view name) {
  const bool started = Trigger(TriggerSource::kSignal, name);
  SequenceEvent event = Event(EventKind::kSignal);
  event.signal = std::string(name);
  EventContext context;
  {
    std::lock_guard lock(mu_);
    event.repeated = current_.signal_received && !started;
    current_.signal_received = true;
    context = Context(wall_clock_());
  }
  Publish(event, context);
  clock_.Wake();
  cv_.notify_all();
}

void ShutdownCoordinator::OnTerminationSignalFailed() noexcept {
  // Trigger flips the phase and records the start before anything that allocates, so the
  // sequence runs; what may be missing is the record of the signal itself and the wake-up.
  try {
    std::lock_guard lock(mu_);
    current_.signal_received = true;
  } catch (...) {
    // std::mutex::lock does not fail on a mutex this process owns.
  }
  cv_.notify_all();
  clock_.Wake();
}

bool ShutdownCoordinator::NotifyAppDrained() {
  if (phase() != Phase::kDraining) return false;
  app_drained_.store(true, std::memory_order_release);
  EventContext context;
  {
    std::lock_guard lock(mu_);
    context = Context(wall_clock_());
  }
  Publish(Event(EventKind::kAppDrained), context);
  clock_.Wake();
  return true;
}

ShutdownCoordinator::WaiterId ShutdownCoordinator::WhenEnded(EndCallback done) {
  std::unique_lock lock(mu_);
  if (end_published_) {
    lock.unlock();
    done();
    return 0;
  }
  const WaiterId id = next_waiter_++;
  waiters_.emplace(id, std::move(done));
  return id;
}

void ShutdownCoordinator::ForgetWaiter(WaiterId id) {
  EndCallback dropped;  // destroyed after the lock: it may own the last ref to anything
  std::lock_guard lock(mu_);
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  dropped = std::move(it->second);
  waiters_.erase(it);
}

int ShutdownCoordinator::WaitForExit() {
  Clock::time_point exit_at;
  SequenceEvent event = Event(EventKind::kExit);
  EventContext context;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return (current_.end && current_.signal_received) || stopping_; });
    if (!ended_at_)
      return kExitRuntimeError;  // stopped before any sequence ended (tests, fatal errors)
    exit_at = std::max(*ended_at_ + config_.shutdown.exit_delay, clock_.Now());
  }
  while (clock_.Now() < exit_at) clock_.SleepUntil(exit_at);
  {
    std::lock_guard lock(mu_);
    const bool drained = current_.end == SequenceEnd::kDrained;
    event.result = drained ? SequenceEnd::kDrained : SequenceEnd::kTimedOut;
    event.exit_code = drained ? kExitDrained : kExitTimedOut;
    context = Context(wall_clock_());
  }
  Publish(event, context);
  return *event.exit_code;
}

void ShutdownCoordinator::RunLoop() {
  while (true) {
    SequenceStart start;
    bool restored_end = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return pending_start_ || restored_end_ || stopping_; });
      if (stopping_) return;
      restored_end = restored_end_;
      restored_end_ = false;
      start = start_;
      pending_start_ = false;
    }
    // A sequence that ended before lastcall restarted has nothing left to run, but its recovery
    // deadline still holds.
    if (!restored_end) RunOneSequence(start);
    bool recovered = false;
    try {
      recovered = WaitForSignalOrRecover();
    } catch (...) {
      // Out of memory before recovering: the sequence's end stands, and so does the exit rule.
      WriteFatalLine("lastcall: error: out of memory while waiting to recover; staying ended");
    }
    if (!recovered) return;
  }
}

void ShutdownCoordinator::RunOneSequence(SequenceStart start) {
  SequenceOutcome outcome;
  try {
    outcome = RunShutdownSequence(config_, start, clock_, trigger_calls_, polls_, *this, traffic_,
                                  endpoints_);
  } catch (...) {
    outcome = FailedOutcome(std::current_exception());
  }
  try {
    EndSequence(outcome);
  } catch (...) {
    // Not even the end could be recorded: nothing sensible is left to answer with. Exit as the
    // failed sequence would, with the one line that needs no memory.
    ReleaseEmergencyMemory();
    WriteFatalLine(
        "lastcall: error: the shutdown sequence failed and its end could not be recorded (out of "
        "memory?); exiting with code 1 (failed)");
    _exit(kExitTimedOut);
  }
}

SequenceOutcome ShutdownCoordinator::FailedOutcome(const std::exception_ptr& error) noexcept {
  // The room set aside at start: what follows allocates (the detail, the log line, the answer).
  ReleaseEmergencyMemory();
  const Phase phase = phase_.load(std::memory_order_acquire);
  SequenceOutcome outcome;
  outcome.end = SequenceEnd::kTimedOut;  // failed: exit 1, and the preStop never says drained
  outcome.why = DrainEndReason::kFailed;
  try {
    const char* what = DescribeException(error);
    outcome.detail = fmt::format(
        "failed in {}: {}; the app may still be busy, so the sequence ends as failed (exit 1)",
        ToString(phase), what);
    SequenceEvent event = Event(EventKind::kFailed);
    event.phase = phase;
    event.error = what;
    EventContext context;
    {
      std::lock_guard lock(mu_);
      context = Context(wall_clock_());
    }
    Publish(event, context);
    OnDrainEnded(outcome);
  } catch (...) {
    WriteFatalLine(
        "lastcall: error: the shutdown sequence failed (out of memory?); it ends as failed "
        "(exit 1)");
    phase_.store(Phase::kTimedOut, std::memory_order_release);
  }
  ReserveEmergencyMemory();
  return outcome;
}

void ShutdownCoordinator::EndSequence(const SequenceOutcome& outcome) {
  std::map<WaiterId, EndCallback> waiters;
  const Phase phase = outcome.end == SequenceEnd::kDrained ? Phase::kDrained : Phase::kTimedOut;
  SequenceEvent event = Event(EventKind::kPhase);
  event.phase = phase;
  event.drain_end = outcome.why;
  event.detail = outcome.detail;
  if (outcome.why == DrainEndReason::kMonitor) event.last_poll = outcome.last_poll;
  EventContext context;
  {
    std::lock_guard lock(mu_);
    current_.end = outcome.end;
    current_.detail = outcome.detail;
    ended_at_ = clock_.Now();
    ended_wall_ = wall_clock_();
    event.elapsed = RecordPhase(phase, *ended_wall_);
    context = Context(*ended_wall_);
    context.drain_time = outcome.drain_time;
  }
  try {
    Publish(event, context);
  } catch (...) {
    // The log and the metrics are not worth an unanswered preStop.
  }
  {
    // Only now: a waiter reads the report, which holds the end once every listener heard it.
    std::lock_guard lock(mu_);
    end_published_ = true;
    waiters.swap(waiters_);
  }
  for (auto& [id, waiter] : waiters) {
    try {
      waiter();
    } catch (...) {
      // One caller without its answer (its connection closes at exit); the others still get it.
      ReleaseEmergencyMemory();
      WriteFatalLine("lastcall: error: out of memory answering a preStop caller");
      ReserveEmergencyMemory();
    }
  }
  cv_.notify_all();
}

bool ShutdownCoordinator::WaitForSignalOrRecover() {
  const Millis recover_after = config_.EffectiveRecoverAfter();
  Clock::time_point deadline;
  {
    std::lock_guard lock(mu_);
    // Only a preStop hook without any signal can be a container restart: a signal means the
    // pod (or at least this container) is going away.
    if (current_.signal_received || recover_after.count() == 0 ||
        current_.source != TriggerSource::kPreStop) {
      return false;
    }
    deadline = *ended_at_ + recover_after;
  }
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || current_.signal_received) return false;
      if (clock_.Now() >= deadline) break;
    }
    clock_.SleepUntil(deadline);
  }
  // Counted, logged and cleared before readiness flips, so whoever sees 200 also sees why.
  SequenceEvent event = Event(EventKind::kRecovered);
  event.recover_after = recover_after;
  EventContext context;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || current_.signal_received) return false;
    context = Context(wall_clock_());
    context.state.phase = Phase::kServing;
  }
  Publish(event, context);
  {
    std::lock_guard lock(mu_);
    if (stopping_ || current_.signal_received) return false;
    current_.phase = Phase::kServing;
    current_.end.reset();
    end_published_ = false;
    phase_.store(Phase::kServing, std::memory_order_release);
  }
  return true;
}

EventContext ShutdownCoordinator::Context(SysClock::time_point wall) {
  EventContext context;
  context.serial = next_serial_++;
  context.wall = wall;
  PersistedSequence& state = context.state;
  state.phase = current_.source ? current_.phase : Phase::kServing;
  state.source = current_.source.value_or(TriggerSource::kSignal);
  state.triggered_at = triggered_wall_;
  state.draining_since = draining_wall_;
  state.trigger_accepted = current_.trigger_accepted;
  state.signal_received = current_.signal_received;
  state.end = current_.end;
  state.ended_at = current_.end ? ended_wall_ : std::nullopt;
  state.detail = current_.detail;
  return context;
}

void ShutdownCoordinator::OnEndpointRemoved(Clock::time_point at, int slices,
                                            std::string_view detail) {
  const Clock::duration ago = std::max(Clock::duration::zero(), clock_.Now() - at);
  const SysClock::time_point wall =
      wall_clock_() - std::chrono::duration_cast<SysClock::duration>(ago);
  SequenceEvent event = Event(EventKind::kEndpointRemoved);
  event.slices = slices;
  event.detail = std::string(detail);
  EventContext context;
  {
    std::lock_guard lock(mu_);
    if (!current_.source || current_.phase == Phase::kServing) return;
    event.elapsed = std::max(Millis(0), std::chrono::duration_cast<Millis>(wall - triggered_wall_));
    context = Context(wall);
  }
  Publish(event, context);
}

void ShutdownCoordinator::Publish(const SequenceEvent& event, const EventContext& context) {
  for (SequenceListener* listener : listeners_) listener->OnEvent(event, context);
}

Millis ShutdownCoordinator::RecordPhase(Phase phase, SysClock::time_point wall) {
  current_.phase = phase;
  const SysClock::time_point at = phase == Phase::kUnready ? triggered_wall_ : wall;
  const auto since = std::chrono::duration_cast<Millis>(at - triggered_wall_);
  if (phase == Phase::kDraining && !draining_wall_) draining_wall_ = wall;
  return since;
}

void ShutdownCoordinator::OnPhase(Phase phase, std::string_view detail) {
  phase_.store(phase, std::memory_order_release);
  const SysClock::time_point wall = wall_clock_();
  SequenceEvent event = Event(EventKind::kPhase);
  event.phase = phase;
  event.detail = std::string(detail);
  EventContext context;
  {
    std::lock_guard lock(mu_);
    event.elapsed = RecordPhase(phase, wall);
    context = Context(wall);
  }
  Publish(event, context);
}

void ShutdownCoordinator::OnDrainEnded(const SequenceOutcome& outcome) {
  // Readiness and the phase at once; the report, its end and the event follow in EndSequence,
  // with everything the end leaves behind.
  phase_.store(outcome.end == SequenceEnd::kDrained ? Phase::kDrained : Phase::kTimedOut,
               std::memory_order_release);
}

void ShutdownCoordinator::OnTriggerAttempt(int attempt, const HttpResponse& response, bool accepted,
                                           bool given_up) {
  SequenceEvent event = Event(EventKind::kDrainTrigger);
  event.attempt = attempt;
  event.outcome = accepted ? "accepted" : (given_up ? "rejected" : "failed");
  const std::optional<Parsed<Url>>& url = config_.shutdown.drain.trigger.url;
  event.url = url ? url->text : "";
  if (response.ok()) {
    event.status = response.status;
  } else {
    event.error = response.error_detail;
  }
  EventContext context;
  {
    std::lock_guard lock(mu_);
    current_.trigger_accepted = accepted;
    context = Context(wall_clock_());
  }
  Publish(event, context);
}

void ShutdownCoordinator::OnPoll(const PollResult& result) {
  SequenceEvent event = Event(EventKind::kPoll);
  event.monitor = std::string(monitor_.kind());
  event.outcome = std::string(ToString(result.outcome));
  event.value = result.value;
  event.detail = result.detail;
  EventContext context;
  {
    std::lock_guard lock(mu_);
    std::string seen = std::string(ToString(result.outcome));
    if (!result.detail.empty()) seen += ": " + result.detail;
    context = Context(wall_clock_());
    context.poll_changed = seen != last_poll_;
    last_poll_ = std::move(seen);
  }
  Publish(event, context);
}

void ShutdownCoordinator::OnNote(std::string_view message) {
  SequenceEvent event = Event(EventKind::kNote);
  event.detail = std::string(message);
  EventContext context;
  {
    std::lock_guard lock(mu_);
    context = Context(wall_clock_());
  }
  Publish(event, context);
}

void ShutdownCoordinator::OnLbWaitEnded(const LbWaitOutcome& outcome) {
  SequenceEvent event = Event(EventKind::kLbWaitEnded);
  event.detail = outcome.detail;
  EventContext context;
  {
    std::lock_guard lock(mu_);
    const Millis waited = std::chrono::duration_cast<Millis>(outcome.ended - start_.triggered_at);
    if (outcome.last_activity) {
      event.last_traffic =
          std::chrono::duration_cast<Millis>(*outcome.last_activity - start_.triggered_at);
    }
    event.waited = waited;
    context = Context(wall_clock_());
  }
  switch (outcome.end) {
    case LbWaitEnd::kQuiet:
      event.lb_end = LbWaitWhy::kQuiet;
      break;
    case LbWaitEnd::kMax:
      event.lb_end = LbWaitWhy::kMax;
      break;
    case LbWaitEnd::kDeadline:
      event.lb_end = LbWaitWhy::kDeadline;
      break;
    case LbWaitEnd::kCancelled:
      event.lb_end = LbWaitWhy::kCancelled;
      break;
  }
  Publish(event, context);
}

void ShutdownCoordinator::OnLbWaitSkipped(std::string_view detail) {
  SequenceEvent event = Event(EventKind::kLbWaitEnded);
  event.lb_end = LbWaitWhy::kAppGone;
  event.detail = std::string(detail);
  EventContext context;
  {
    std::lock_guard lock(mu_);
    event.waited = std::chrono::duration_cast<Millis>(clock_.Now() - start_.triggered_at);
    context = Context(wall_clock_());
  }
  Publish(event, context);
}

}  // namespace lastcall

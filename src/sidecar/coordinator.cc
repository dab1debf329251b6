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

double UnixSeconds(SysClock::time_point at) {
  return std::chrono::duration<double>(at.time_since_epoch()).count();
}

long long ToMillis(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

ShutdownCoordinator::ShutdownCoordinator(const Config& config, Clock& clock,
                                         BackgroundRequest& trigger_calls, DrainMonitor& monitor,
                                         Metrics& metrics, SequenceStore* store,
                                         TrafficObserver* traffic, WallClock wall_clock,
                                         BackgroundPoll* polls)
    : config_(config),
      clock_(clock),
      trigger_calls_(trigger_calls),
      monitor_(monitor),
      inline_polls_(monitor),
      polls_(polls != nullptr ? *polls : inline_polls_),
      metrics_(metrics),
      store_(store),
      traffic_(traffic),
      wall_clock_(wall_clock ? std::move(wall_clock) : WallClock([] { return SysClock::now(); })) {
  report_.budget =
      config.shutdown.lb_delay + config.shutdown.drain.timeout + config.shutdown.exit_delay;
  metrics_.SetPhase(Phase::kServing, UnixSeconds(wall_clock_()));
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
  if (!started) {
    LogDebug("trigger joins the running sequence",
             {{"trigger", ToString(source)}, {"detail", detail}});
    return false;
  }
  {
    std::lock_guard lock(mu_);
    const int recoveries = report_.recoveries;
    const bool signal_received = report_.signal_received;
    report_ = SequenceReport{};
    report_.phase = Phase::kUnready;
    report_.source = source;
    report_.recoveries = recoveries;
    report_.signal_received = signal_received;
    report_.budget =
        config_.shutdown.lb_delay + config_.shutdown.drain.timeout + config_.shutdown.exit_delay;
    app_drained_.store(false, std::memory_order_release);
    start_ = SequenceStart{source, now, std::nullopt, false, &app_drained_};
    triggered_wall_ = wall;
    draining_wall_.reset();
    ended_at_.reset();
    ended_wall_.reset();
    pending_start_ = true;
  }
  LogInfo("shutdown sequence started", {{"trigger", ToString(source)}, {"detail", detail}});
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
  {
    std::lock_guard lock(mu_);
    report_.phase = phase;
    report_.source = state.source;
    report_.signal_received = state.signal_received;
    report_.trigger_accepted = state.trigger_accepted;
    triggered_wall_ = state.triggered_at;
    draining_wall_ = state.draining_since;
    report_.timeline.push_back(
        TimelineEntry{phase, wall, std::chrono::duration_cast<Millis>(wall - state.triggered_at),
                      "restored after lastcall restarted"});
    if (state.end) {
      report_.ended = true;
      report_.end = state.end;
      report_.detail = state.detail;
      // On the original clock: the recovery deadline must not restart with every restart of
      // lastcall. A file without the end time (an older lastcall's) counts from now.
      ended_wall_ = std::min(state.ended_at.value_or(wall), wall);
      ended_at_ = now - (wall - *ended_wall_);
      restored_end_ = true;
    } else {
      start_ = SequenceStart{TriggerSource::kResumed, now - (wall - state.triggered_at),
                             std::nullopt, state.trigger_accepted, &app_drained_};
      if (state.draining_since) start_.draining_since = now - (wall - *state.draining_since);
      pending_start_ = true;
    }
  }
  LogWarn(state.end ? "restored the result of a shutdown sequence that ended before lastcall "
                      "restarted"
                    : "resuming a shutdown sequence that was in progress when lastcall restarted",
          {{"phase", ToString(phase)},
           {"since_trigger_ms", static_cast<long long>(ToMillis(wall - state.triggered_at))}});
  cv_.notify_all();
}

void ShutdownCoordinator::OnTerminationSignal(std::string_view name) {
  const bool started = Trigger(TriggerSource::kSignal, name);
  bool repeated = false;
  {
    std::lock_guard lock(mu_);
    repeated = report_.signal_received && !started;
    report_.signal_received = true;
    // A restarted lastcall must know a signal came: it rules out recovery.
    if (!repeated && report_.source) SaveState();
  }
  metrics_.CountSignal(name);
  if (repeated) {
    LogInfo("signal received again; the sequence continues", {{"signal", name}});
  }
  clock_.Wake();
  cv_.notify_all();
}

void ShutdownCoordinator::OnTerminationSignalFailed() noexcept {
  // Trigger flips the phase and records the start before anything that allocates, so the
  // sequence runs; what may be missing is the record of the signal itself and the wake-up.
  try {
    std::lock_guard lock(mu_);
    report_.signal_received = true;
  } catch (...) {
    // std::mutex::lock does not fail on a mutex this process owns.
  }
  cv_.notify_all();
  clock_.Wake();
}

bool ShutdownCoordinator::NotifyAppDrained() {
  if (phase() != Phase::kDraining) return false;
  app_drained_.store(true, std::memory_order_release);
  LogInfo("the app said it is drained (POST /drained)");
  clock_.Wake();
  return true;
}

ShutdownCoordinator::WaiterId ShutdownCoordinator::WhenEnded(EndCallback done) {
  std::unique_lock lock(mu_);
  if (report_.ended) {
    SequenceReport copy = report_;
    lock.unlock();
    done(copy);
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

SequenceReport ShutdownCoordinator::Report() const {
  std::lock_guard lock(mu_);
  SequenceReport copy = report_;
  copy.phase = phase_.load(std::memory_order_acquire);
  return copy;
}

int ShutdownCoordinator::WaitForExit() {
  Clock::time_point exit_at;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return (report_.ended && report_.signal_received) || stopping_; });
    if (!ended_at_)
      return kExitRuntimeError;  // stopped before any sequence ended (tests, fatal errors)
    exit_at = std::max(*ended_at_ + config_.shutdown.exit_delay, clock_.Now());
  }
  while (clock_.Now() < exit_at) clock_.SleepUntil(exit_at);
  std::lock_guard lock(mu_);
  const bool drained = report_.end == SequenceEnd::kDrained;
  if (store_ != nullptr) store_->Clear();
  LogInfo("exiting", {{"result", drained ? "drained" : "timed_out"},
                      {"exit_code", drained ? kExitDrained : kExitTimedOut}});
  return drained ? kExitDrained : kExitTimedOut;
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
    outcome = RunShutdownSequence(config_, start, clock_, trigger_calls_, polls_, *this, traffic_);
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
  try {
    const char* what = DescribeException(error);
    outcome.detail = fmt::format(
        "failed in {}: {}; the app may still be busy, so the sequence ends as failed (exit 1)",
        ToString(phase), what);
    LogError("the shutdown sequence failed", {{"phase", ToString(phase)}, {"error", what}});
    OnPhase(Phase::kTimedOut, outcome.detail);
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
  SequenceReport copy;
  {
    std::lock_guard lock(mu_);
    report_.ended = true;
    report_.end = outcome.end;
    report_.detail = outcome.detail;
    if (outcome.last_value) report_.last_value = outcome.last_value;
    ended_at_ = clock_.Now();
    ended_wall_ = wall_clock_();
    waiters.swap(waiters_);
    SaveState();
    copy = report_;
  }
  const bool drained = outcome.end == SequenceEnd::kDrained;
  try {
    metrics_.CountSequence(drained ? "drained" : "timed_out");
    metrics_.SetDrainDuration(std::chrono::duration<double>(outcome.drain_time).count());
  } catch (...) {
    // Metrics are not worth an unanswered preStop.
  }
  for (auto& [id, waiter] : waiters) {
    try {
      waiter(copy);
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
    if (report_.signal_received || recover_after.count() == 0 ||
        report_.source != TriggerSource::kPreStop) {
      return false;
    }
    deadline = *ended_at_ + recover_after;
  }
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || report_.signal_received) return false;
      if (clock_.Now() >= deadline) break;
    }
    clock_.SleepUntil(deadline);
  }
  // Counted and logged before readiness flips, so whoever sees 200 also sees why.
  metrics_.CountRecovery();
  LogWarn(
      "no termination signal followed the preStop hook: the container was restarted, not "
      "the pod deleted; serving again",
      {{"recover_after_ms", static_cast<long long>(recover_after.count())}});
  {
    std::lock_guard lock(mu_);
    if (stopping_ || report_.signal_received) return false;
    report_.recoveries += 1;
    report_.phase = Phase::kServing;
    report_.ended = false;
    report_.end.reset();
    const SysClock::time_point wall = wall_clock_();
    report_.timeline.push_back(TimelineEntry{
        Phase::kServing, wall, std::chrono::duration_cast<Millis>(wall - triggered_wall_),
        "recovered: no termination signal followed the preStop hook"});
    if (store_ != nullptr) store_->Clear();
    metrics_.SetPhase(Phase::kServing, UnixSeconds(wall));
    phase_.store(Phase::kServing, std::memory_order_release);
  }
  return true;
}

void ShutdownCoordinator::SaveState() {
  if (store_ == nullptr) return;
  PersistedSequence state;
  state.phase = report_.phase;
  state.source = report_.source.value_or(TriggerSource::kSignal);
  state.triggered_at = triggered_wall_;
  state.draining_since = draining_wall_;
  state.trigger_accepted = report_.trigger_accepted;
  state.signal_received = report_.signal_received;
  state.end = report_.end;
  state.ended_at = report_.end ? ended_wall_ : std::nullopt;
  state.detail = report_.detail;
  store_->Save(state);
}

void ShutdownCoordinator::OnPhase(Phase phase, std::string_view detail) {
  phase_.store(phase, std::memory_order_release);
  const SysClock::time_point wall = wall_clock_();
  long long elapsed_ms = 0;
  {
    std::lock_guard lock(mu_);
    report_.phase = phase;
    const SysClock::time_point at = phase == Phase::kUnready ? triggered_wall_ : wall;
    const auto since = std::chrono::duration_cast<Millis>(at - triggered_wall_);
    elapsed_ms = since.count();
    report_.timeline.push_back(TimelineEntry{phase, at, since, std::string(detail)});
    if (phase == Phase::kDraining && !draining_wall_) draining_wall_ = wall;
    // The end is saved with its result by RunOneSequence, right after this.
    if (phase != Phase::kDrained && phase != Phase::kTimedOut) SaveState();
  }
  metrics_.SetPhase(phase, UnixSeconds(wall));
  const LogLevel level = phase == Phase::kTimedOut ? LogLevel::kWarn : LogLevel::kInfo;
  Log(level, fmt::format("phase {}", ToString(phase)),
      {{"elapsed_ms", elapsed_ms}, {"detail", detail}});
}

void ShutdownCoordinator::OnTriggerAttempt(int attempt, const HttpResponse& response, bool accepted,
                                           bool given_up) {
  {
    std::lock_guard lock(mu_);
    report_.trigger_attempts = attempt;
    report_.trigger_accepted = accepted;
    if (accepted) SaveState();
  }
  const char* outcome = accepted ? "accepted" : (given_up ? "rejected" : "failed");
  metrics_.CountTriggerAttempt(outcome);
  const std::optional<Parsed<Url>>& url = config_.shutdown.drain.trigger.url;
  LogFields fields{{"attempt", attempt}, {"url", url ? url->text : ""}, {"outcome", outcome}};
  if (response.ok()) {
    fields.emplace_back("status", response.status);
  } else {
    fields.emplace_back("error", response.error_detail);
  }
  if (accepted) {
    LogInfo("drain trigger accepted", fields);
  } else if (given_up) {
    LogWarn("drain trigger rejected by the app; not retrying, monitoring continues", fields);
  } else {
    LogWarn("drain trigger failed; retrying with backoff", fields);
  }
}

void ShutdownCoordinator::OnPoll(const PollResult& result) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    if (result.value) report_.last_value = result.value;
    std::string seen = std::string(ToString(result.outcome));
    if (!result.detail.empty()) seen += ": " + result.detail;
    changed = seen != report_.last_poll;
    report_.last_poll = std::move(seen);
  }
  metrics_.CountPoll(monitor_.kind(), ToString(result.outcome));
  if (result.value) metrics_.SetDrainValue(*result.value);
  LogFields fields{{"monitor", monitor_.kind()}, {"outcome", ToString(result.outcome)}};
  if (result.value) fields.emplace_back("value", *result.value);
  if (!result.detail.empty()) fields.emplace_back("detail", result.detail);
  // Errors are worth a warning once per distinct message, not ten times a second.
  const LogLevel level =
      result.outcome == PollOutcome::kError && changed ? LogLevel::kWarn : LogLevel::kDebug;
  Log(level, "drain poll", fields);
}

void ShutdownCoordinator::OnNote(std::string_view message) { LogInfo(message); }

void ShutdownCoordinator::OnLbWaitEnded(const LbWaitOutcome& outcome) {
  Millis waited{0};
  std::optional<Millis> last_traffic;
  {
    std::lock_guard lock(mu_);
    waited = std::chrono::duration_cast<Millis>(outcome.ended - start_.triggered_at);
    if (outcome.last_activity) {
      last_traffic =
          std::chrono::duration_cast<Millis>(*outcome.last_activity - start_.triggered_at);
    }
    report_.lb_wait = std::string(ToString(outcome.end));
    report_.lb_wait_detail = outcome.detail;
    report_.lb_wait_time = waited;
  }
  metrics_.SetLbWait(std::chrono::duration<double>(waited).count(), ToString(outcome.end));
  // The sequence logged the sentence; this line is for tools (rehearse's report), all numbers.
  LogFields fields{{"end", ToString(outcome.end)}, {"waited_ms", waited.count()}};
  if (last_traffic) fields.emplace_back("last_traffic_ms", last_traffic->count());
  LogInfo("lb wait ended", fields);
}

}  // namespace lastcall

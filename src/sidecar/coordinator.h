#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/phase.h"
#include "config/config.h"
#include "http/http_client.h"
#include "monitors/background_request.h"
#include "monitors/monitor.h"
#include "sequence/endpoint_view.h"
#include "sequence/sequence_types.h"
#include "sequence/shutdown_sequence.h"
#include "sidecar/sequence_listener.h"

// Joins every trigger (signals, preStop calls) into one shutdown sequence, runs it on its own
// thread, answers everyone waiting for its end, and decides what comes after it (PRODUCT.md §2):
// the exit, once the sequence has ended AND a termination signal has arrived AND exit_delay has
// passed since the end; or, after a preStop-started sequence that no signal followed within
// recover_after, SERVING again (a container restart, not a pod deletion). A sequence persisted by
// a lastcall that died mid-way goes on (Resume). Everything else (the log, the metrics, the state
// file, the report /status shows) listens to its events (sequence_listener.h).
namespace lastcall {

class ShutdownCoordinator final : private SequenceObserver {
 public:
  // Called once the sequence's end has reached every listener: the report (SequenceReporter)
  // already holds it.
  using EndCallback = std::function<void()>;

  // All references, and the listeners, must outlive the coordinator. `listeners` hear every
  // event, in this order (sequence_listener.h). `traffic` may be null: lb_delay auto watches it
  // (without it, auto waits its whole bound). `trigger_calls` sends the app's drain trigger in the
  // background. `wall_clock` stamps the timeline and the events; empty means
  // std::chrono::system_clock::now. `polls` polls `monitor` off the sequence thread
  // (ThreadedPoll), so a push ends the drain while a poll hangs; null polls on the sequence
  // thread (InlinePoll: tests with fake monitors).
  ShutdownCoordinator(const Config& config, Clock& clock, BackgroundRequest& trigger_calls,
                      DrainMonitor& monitor, std::vector<SequenceListener*> listeners,
                      TrafficObserver* traffic = nullptr, WallClock wall_clock = {},
                      BackgroundPoll* polls = nullptr);
  ~ShutdownCoordinator() override;
  ShutdownCoordinator(const ShutdownCoordinator&) = delete;
  ShutdownCoordinator& operator=(const ShutdownCoordinator&) = delete;

  // The cluster's view of the pod's endpoint, for lb_delay auto (lb_wait.h); null (the default):
  // none. REQUIRES: called before the first trigger; `view` outlives the coordinator.
  void SetEndpointView(EndpointView* view) { endpoints_ = view; }

  // Every EndpointSlice that held the pod stopped routing to it at `at` (on the clock's time
  // line), as the EndpointSlice watch saw it: an endpoint_removed event of the running sequence.
  // Nothing when no sequence runs. Thread-safe; call it from any thread but a listener's.
  void OnEndpointRemoved(Clock::time_point at, int slices, std::string_view detail);

  // Lock-free; what /readyz reads.
  Phase phase() const { return phase_.load(std::memory_order_acquire); }
  const std::atomic<Phase>& phase_source() const { return phase_; }

  // Starts the sequence when lastcall is SERVING; otherwise joins the running one, or changes
  // nothing when it already ended (its result stands). Readiness is 503 before this returns.
  // Returns true when this call started the sequence. Thread-safe.
  bool Trigger(TriggerSource source, std::string_view detail);

  // A sequence that was running when lastcall restarted: continue it (readiness 503 at once), or,
  // when it had ended, restore its result for late /prestop calls and the exit rule, and for a
  // preStop-only one its recovery deadline, counted from its original end.
  // REQUIRES: no sequence has started in this process yet.
  void Resume(const PersistedSequence& state);

  // A termination signal arrived (it also triggers). Thread-safe.
  void OnTerminationSignal(std::string_view name);
  // OnTerminationSignal threw (out of memory): records the signal and wakes the sequence without
  // allocating, so the signal still counts for the exit rule. Thread-safe.
  void OnTerminationSignalFailed() noexcept;

  // Calls `done` once the current sequence ends, on the sequence thread; at once (on the caller's
  // thread) when it already ended. Returns an id for ForgetWaiter while `done` waits; 0 when it
  // was called at once. Thread-safe.
  using WaiterId = uint64_t;
  WaiterId WhenEnded(EndCallback done);

  // The caller behind waiter `id` left (its connection closed): `done` is dropped uncalled, and
  // the memory it held with it. Nothing when it was already called or forgotten. Thread-safe.
  void ForgetWaiter(WaiterId id);

  // The app pushed that it is drained (POST /drained). Wakes the sequence, which ends DRAINING
  // without waiting for a poll in flight or settle (after at most kTriggerSettle for a drain
  // trigger attempt still in flight). Returns false (and changes nothing) in any other phase:
  // before DRAINING the app has not been asked to drain yet, and lb_delay must still run its
  // course. Thread-safe.
  bool NotifyAppDrained();

  // Blocks until the process should exit (sequence ended, a termination signal arrived, and
  // exit_delay passed since the end); returns kExitDrained or kExitTimedOut (exit_status.h), or
  // kExitRuntimeError when stopped before any sequence ended. Such a clean exit is an event that
  // removes the state file (StatePersister): the kubelet never restarts a container it stopped, so
  // the next lastcall to start is a fresh one (README, "A restart is not a termination").
  int WaitForExit();

 private:
  // SequenceObserver, called on the sequence thread.
  void OnPhase(Phase phase, std::string_view detail) override;
  void OnTriggerAttempt(int attempt, const HttpResponse& response, bool accepted,
                        bool given_up) override;
  void OnPoll(const PollResult& result) override;
  void OnNote(std::string_view message) override;
  void OnLbWaitEnded(const LbWaitOutcome& outcome) override;
  void OnLbWaitSkipped(std::string_view detail) override;
  void OnDrainEnded(const SequenceOutcome& outcome) override;

  void RunLoop();
  // Runs the sequence and answers its waiters. An exception out of the sequence (std::bad_alloc
  // under a memory limit) ends it as failed: SequenceEnd::kTimedOut (exit 1; the preStop answer
  // never says drained), with a detail, and a `failed` event naming the phase and the error.
  void RunOneSequence(SequenceStart start);
  SequenceOutcome FailedOutcome(const std::exception_ptr& error) noexcept;
  void EndSequence(const SequenceOutcome& outcome);
  // After a preStop-driven sequence with no signal: wait for a signal or recover_after.
  // Returns true when lastcall went back to SERVING.
  bool WaitForSignalOrRecover();
  // The context of an event decided now: the next serial and the state it leaves.
  // REQUIRES: mu_ held.
  EventContext Context(std::chrono::system_clock::time_point wall);
  // Tells every listener. REQUIRES: mu_ not held.
  void Publish(const SequenceEvent& event, const EventContext& context);
  // Records a phase change. REQUIRES: mu_ held.
  Millis RecordPhase(Phase phase, std::chrono::system_clock::time_point wall);

  const Config& config_;
  Clock& clock_;
  BackgroundRequest& trigger_calls_;
  DrainMonitor& monitor_;
  InlinePoll inline_polls_;  // polls_ unless one was given
  BackgroundPoll& polls_;
  const std::vector<SequenceListener*> listeners_;
  TrafficObserver* traffic_;
  EndpointView* endpoints_ = nullptr;
  const WallClock wall_clock_;

  std::atomic<Phase> phase_{Phase::kServing};
  std::atomic<bool> app_drained_{false};  // the current sequence's push; see NotifyAppDrained

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // What the policy needs of the current sequence; the rest of what /status shows is the
  // report's (SequenceReporter, a listener).
  struct Current {
    Phase phase = Phase::kServing;
    std::optional<TriggerSource> source;  // none before the first trigger
    bool trigger_accepted = false;
    bool signal_received = false;
    std::optional<SequenceEnd> end;  // set once it ended
    std::string detail;              // how it ended
  };
  Current current_;  // GUARDED_BY(mu_)
  // The end reached every listener: WhenEnded answers at once from here on.
  bool end_published_ = false;  // GUARDED_BY(mu_)
  std::string last_poll_;       // GUARDED_BY(mu_): the last poll's outcome, to log only changes
  bool pending_start_ = false;  // GUARDED_BY(mu_)
  SequenceStart start_;         // GUARDED_BY(mu_)
  std::chrono::system_clock::time_point triggered_wall_;                // GUARDED_BY(mu_)
  std::optional<std::chrono::system_clock::time_point> draining_wall_;  // GUARDED_BY(mu_)
  std::optional<Clock::time_point> ended_at_;                           // GUARDED_BY(mu_)
  std::optional<std::chrono::system_clock::time_point> ended_wall_;     // GUARDED_BY(mu_)
  bool restored_end_ = false;                // GUARDED_BY(mu_): Resume restored an ended sequence
  std::map<WaiterId, EndCallback> waiters_;  // GUARDED_BY(mu_)
  WaiterId next_waiter_ = 1;                 // GUARDED_BY(mu_)
  uint64_t next_serial_ = 1;                 // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace lastcall

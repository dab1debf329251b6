#include "sequence/shutdown_sequence.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/duration.h"

namespace lastcall {
namespace {

using TimePoint = Clock::time_point;

std::string DescribeValue(const PollResult& poll) {
  if (poll.value) return fmt::format("{} ({})", *poll.value, ToString(poll.outcome));
  return std::string(ToString(poll.outcome));
}

bool CountsAsDrained(const PollResult& poll, RefusedMeans refused_means) {
  return poll.outcome == PollOutcome::kDrained ||
         (poll.outcome == PollOutcome::kRefused && refused_means == RefusedMeans::kDrained);
}

// 4xx answers (but 408 and 429) say the app will not take a drain trigger: retrying cannot help.
bool IsPermanentRejection(const HttpResponse& response) {
  return response.ok() && response.status >= 400 && response.status < 500 &&
         response.status != 408 && response.status != 429;
}

void SleepUntil(Clock& clock, TimePoint when) {
  while (clock.Now() < when) clock.SleepUntil(when);
}

// Waits for the poll in flight until `bound` (its deadline, by which it returns); abandons it
// when it has not come by then.
std::optional<PollResult> AwaitPoll(Clock& clock, BackgroundPoll& polls, TimePoint bound) {
  while (true) {
    if (std::optional<PollResult> result = polls.Collect()) return result;
    if (clock.Now() >= bound) break;
    clock.SleepUntil(bound);  // the poll's end wakes the clock
  }
  polls.Abandon();
  return std::nullopt;
}

// The drain trigger: one request, retried with backoff until the app accepts it or says no, or
// the drain deadline passes. Each attempt runs in the background, so that a trigger that hangs
// never delays the polls that detect "drained".
class DrainTrigger {
 public:
  DrainTrigger(const DrainTriggerConfig& config, bool already_accepted, BackgroundRequest& calls)
      : config_(config), calls_(calls), done_(!config.url || already_accepted) {
    if (config.url) request_.url = config.url->value;
    request_.method = config.method;
    request_.headers = config.headers;
  }

  // Takes in the answer of the attempt in flight, if it came, and starts the next attempt when
  // one is due.
  void Step(Clock& clock, TimePoint drain_deadline, SequenceObserver& observer) {
    if (done_) return;
    if (in_flight_) {
      std::optional<HttpResponse> response = calls_.Collect();
      if (!response) return;
      in_flight_ = false;
      ++attempts_;
      const bool accepted = response->ok() && response->status >= 200 && response->status < 300;
      const bool given_up = !accepted && IsPermanentRejection(*response);
      observer.OnTriggerAttempt(attempts_, *response, accepted, given_up);
      if (accepted || given_up) {
        done_ = true;
        return;
      }
      next_attempt_ = clock.Now() + backoff_;
      backoff_ = std::min(backoff_ * 2, kMaxTriggerBackoff);
    }
    const TimePoint now = clock.Now();
    if (now >= next_attempt_ && now < drain_deadline) {
      attempt_due_ = std::min(now + config_.timeout, drain_deadline);
      calls_.Start(request_, attempt_due_);
      in_flight_ = true;
    }
  }

  // The drain ended while an attempt was in flight (the app's monitor answered first, or the app
  // pushed). Its answer usually is a packet away: wait for it until `bound`, so every attempt
  // sent is logged and counted; one that does not come by then is said so and abandoned.
  void Settle(Clock& clock, TimePoint bound, SequenceObserver& observer) {
    // Looks once more after the bound passed: the answer may have come as it did.
    while (!done_ && in_flight_) {
      Step(clock, bound, observer);
      if (!in_flight_ || clock.Now() >= bound) break;
      clock.SleepUntil(bound);  // the attempt's end wakes the clock
    }
    if (!done_ && in_flight_) {
      observer.OnNote(fmt::format(
          "drain trigger attempt {} still unanswered when the drain ended: not waited for",
          attempts_ + 1));
    }
  }

  // When the sequence must look again for the trigger's sake: the next attempt's time while one
  // waits out its backoff. None while an attempt is in flight: its end wakes the clock.
  std::optional<TimePoint> next_wake() const {
    if (done_ || in_flight_) return std::nullopt;
    return next_attempt_;
  }

  // The latest the sequence may stay away (in a long poll) without delaying a retry: the next
  // attempt's time, or the end of the attempt in flight, whose failure brings one. None when
  // the trigger is done.
  std::optional<TimePoint> look_again_by() const {
    if (done_) return std::nullopt;
    return in_flight_ ? attempt_due_ : next_attempt_;
  }

 private:
  const DrainTriggerConfig& config_;
  BackgroundRequest& calls_;
  HttpRequest request_;
  bool done_;
  bool in_flight_ = false;
  int attempts_ = 0;
  TimePoint next_attempt_{};
  TimePoint attempt_due_{};  // the deadline of the attempt in flight
  Millis backoff_ = kFirstTriggerBackoff;
};

}  // namespace

SequenceOutcome RunShutdownSequence(const Config& config, const SequenceStart& start, Clock& clock,
                                    BackgroundRequest& trigger_calls, BackgroundPoll& polls,
                                    SequenceObserver& observer, TrafficObserver* traffic,
                                    EndpointView* endpoints) {
  const ShutdownConfig& shutdown = config.shutdown;
  const DrainConfig& drain = shutdown.drain;
  const MonitorConfig& watch = drain.monitor;
  const bool resumed_draining = start.draining_since.has_value();

  // The kubelet SIGKILLs at triggered_at + grace_period: end early enough to answer the preStop
  // hook, wait exit_delay and let the app exit, even when the configured budget does not fit.
  const TimePoint grace_deadline =
      start.triggered_at + shutdown.grace_period - shutdown.exit_delay - Config::kBudgetMargin;

  // UNREADY: readiness is already 503; wait for the load balancers to stop routing to us.
  if (!resumed_draining) {
    observer.OnPhase(Phase::kUnready, fmt::format("triggered by {}", ToString(start.source)));
    TimePoint lb_end = std::min(start.triggered_at + shutdown.lb_delay.bound(), grace_deadline);
    if (start.source == TriggerSource::kSignal && shutdown.skip_lb_delay_when_app_gone &&
        clock.Now() < lb_end) {
      // Native sidecars get SIGTERM only after the app exited: nobody is left to route to.
      // kRefused is proof (nothing listens on the app's port in any address family), not one
      // refused connection; a refusal while something listens elsewhere is kError, said here.
      const TimePoint probe_due = std::min(clock.Now() + watch.timeout, lb_end);
      polls.Start(probe_due);
      const std::optional<PollResult> probe = AwaitPoll(clock, polls, probe_due);
      if (probe && probe->outcome == PollOutcome::kRefused) {
        observer.OnLbWaitSkipped(
            fmt::format("the app is gone (connection refused): skipping the rest of lb_delay; {}",
                        probe->detail));
        lb_end = clock.Now();
      } else if (probe && probe->outcome == PollOutcome::kError) {
        observer.OnPoll(*probe);
      }
    }
    const LbDelay::Auto* lb_auto = shutdown.lb_delay.auto_settings();
    if (lb_auto != nullptr && traffic != nullptr && clock.Now() < lb_end) {
      // lb_end is unready + lb_auto.max (or the grace deadline): the wait's bound.
      const LbWaitOutcome waited =
          WaitForQuietPorts(*lb_auto, start.triggered_at, lb_end, clock, *traffic, {}, endpoints);
      observer.OnNote(waited.detail);
      observer.OnLbWaitEnded(waited);
      lb_end = clock.Now();
    }
    SleepUntil(clock, lb_end);
  }

  // DRAINING: ask the app to drain, then watch until it is idle or the drain timeout passes.
  const TimePoint draining_start = start.draining_since.value_or(clock.Now());
  const TimePoint drain_deadline =
      std::min(draining_start + drain.timeout, std::max(grace_deadline, draining_start));
  observer.OnPhase(Phase::kDraining,
                   resumed_draining ? "resumed after restart"
                                    : fmt::format("timeout {}", FormatDuration(drain.timeout)));

  DrainTrigger trigger(drain.trigger, start.trigger_accepted, trigger_calls);
  const bool waits_only = watch.kind == MonitorKind::kNone;
  bool holding_drained = false;  // the last polls all counted as drained, since drained_since
  TimePoint drained_since{};
  std::optional<double> last_value;
  std::string last_seen = "no poll completed";
  TimePoint next_poll = clock.Now();

  bool polling = false;  // a poll is in flight, started at poll_start
  TimePoint poll_start{};

  auto finish = [&](SequenceEnd end, DrainEndReason why, std::string detail) {
    const TimePoint ended = clock.Now();
    // A poll in flight is not awaited: whatever it would say, the drain has ended.
    if (polling) polls.Abandon();
    trigger.Settle(clock, std::min(ended + kTriggerSettle, drain_deadline), observer);
    SequenceOutcome outcome{end,       why,        std::move(detail),
                            last_seen, last_value, ended - draining_start};
    observer.OnDrainEnded(outcome);
    return outcome;
  };

  auto pushed = [&start] {
    return start.app_drained != nullptr && start.app_drained->load(std::memory_order_acquire);
  };
  while (true) {
    if (pushed())
      return finish(SequenceEnd::kDrained, DrainEndReason::kPushed,
                    "the app said it is drained (POST /drained)");
    if (polling) {
      if (std::optional<PollResult> poll = polls.Collect()) {
        polling = false;
        observer.OnPoll(*poll);
        if (poll->value) last_value = poll->value;
        last_seen = DescribeValue(*poll);
        if (!poll->detail.empty()) last_seen += ": " + poll->detail;
        if (CountsAsDrained(*poll, watch.refused_means)) {
          // From the answer, not the request: a long poll is answered long after it was sent.
          if (!holding_drained) drained_since = clock.Now();
          holding_drained = true;
          if (clock.Now() - drained_since >= watch.settle) {
            const bool gone = poll->outcome == PollOutcome::kRefused;
            return finish(SequenceEnd::kDrained,
                          gone ? DrainEndReason::kAppGone : DrainEndReason::kMonitor,
                          gone ? fmt::format("the app is gone: {}", poll->detail)
                               : fmt::format("drained: {}", last_seen));
          }
        } else {
          holding_drained = false;
        }
        next_poll = std::max(poll_start + watch.interval, clock.Now());
        // The app held a long poll until its wait ended: it paced the poll, ask again at once.
        if (poll->held) next_poll = clock.Now();
        // A settle window ends between two regular polls: look again exactly when it ends.
        if (holding_drained) next_poll = std::min(next_poll, drained_since + watch.settle);
      }
    }
    if (clock.Now() >= drain_deadline) {
      if (waits_only) {
        return finish(SequenceEnd::kDrained, DrainEndReason::kWaited,
                      "monitor none: waited the drain timeout");
      }
      return finish(SequenceEnd::kTimedOut, DrainEndReason::kTimeout,
                    fmt::format("drain timeout {} passed; last poll: {}",
                                FormatDuration(drain.timeout), last_seen));
    }
    trigger.Step(clock, drain_deadline, observer);
    if (!polling && clock.Now() >= next_poll && clock.Now() < drain_deadline) {
      poll_start = clock.Now();
      // A long poll may be held for long_poll, but not past the trigger's next attempt (the app
      // may not drain before it gets the trigger), and it is answered by the drain deadline.
      TimePoint look_again_by = poll_start + watch.long_poll;
      if (const std::optional<TimePoint> retry = trigger.look_again_by()) {
        look_again_by = std::max(poll_start, std::min(look_again_by, *retry));
      }
      polls.Start(std::min(look_again_by + watch.timeout, drain_deadline));
      polling = true;
      continue;  // a poll may be done already (InlinePoll): take it in before sleeping
    }
    // While a poll is in flight its end wakes the clock, and it returns by the drain deadline.
    TimePoint wake = polling ? drain_deadline : std::min(next_poll, drain_deadline);
    if (const std::optional<TimePoint> retry = trigger.next_wake()) wake = std::min(wake, *retry);
    // One sleep, not a loop: it returns early when a poll or a trigger attempt completes, a
    // signal arrives or the app pushes that it is drained, and the checks above must see that at
    // once.
    clock.SleepUntil(wake);
  }
}

}  // namespace lastcall

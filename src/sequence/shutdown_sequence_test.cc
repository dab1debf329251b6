#include "sequence/shutdown_sequence.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "test_fakes.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using testing::FakeClock;
using testing::FakeHttpClient;
using testing::FakeMonitor;

struct RecordingObserver final : SequenceObserver {
  explicit RecordingObserver(FakeClock& c) : clock(c) {}
  void OnPhase(Phase phase, std::string_view detail) override {
    phases.push_back({phase, clock.Elapsed(), std::string(detail)});
  }
  void OnTriggerAttempt(int attempt, const HttpResponse&, bool accepted, bool given_up) override {
    attempts.push_back({attempt, clock.Elapsed(), accepted, given_up});
  }
  void OnPoll(const PollResult& result) override { polls.push_back(result); }
  void OnNote(std::string_view message) override { notes.emplace_back(message); }
  void OnLbWaitEnded(const LbWaitOutcome& outcome) override { lb_waits.push_back(outcome); }

  struct PhaseAt {
    Phase phase;
    Millis at;
    std::string detail;
  };
  struct Attempt {
    int number;
    Millis at;
    bool accepted;
    bool given_up;
  };
  FakeClock& clock;
  std::vector<PhaseAt> phases;
  std::vector<Attempt> attempts;
  std::vector<PollResult> polls;
  std::vector<LbWaitOutcome> lb_waits;
  std::vector<std::string> notes;
};

Config TestConfig() {
  Config config;
  config.shutdown.lb_delay = LbDelay::Fixed{milliseconds(5000)};
  config.shutdown.drain.timeout = milliseconds(20000);
  config.shutdown.drain.monitor.interval = milliseconds(100);
  config.shutdown.grace_period = milliseconds(30000);
  return config;
}

struct Harness {
  Config config = TestConfig();
  FakeClock clock;
  FakeHttpClient http{clock};
  testing::FakeBackgroundRequest trigger{clock, http};
  FakeMonitor monitor{clock};
  InlinePoll polls{monitor};
  RecordingObserver observer{clock};

  SequenceOutcome Run(TriggerSource source = TriggerSource::kPreStop) {
    SequenceStart start;
    start.source = source;
    start.triggered_at = clock.Now();
    return RunShutdownSequence(config, start, clock, trigger, polls, observer);
  }
  std::vector<Phase> PhaseOrder() const {
    std::vector<Phase> order;
    for (const auto& p : observer.phases) order.push_back(p.phase);
    return order;
  }
};

PollResult Busy(double value) { return {PollOutcome::kBusy, value, ""}; }
PollResult Drained(double value) { return {PollOutcome::kDrained, value, ""}; }

TEST_CASE("drains after lb_delay once the app reports idle") {
  Harness h;
  // The app has 3 requests in flight until 8.25s after the trigger.
  h.monitor.answer = [](Millis at, Deadline) {
    return at < milliseconds(8250) ? Busy(3) : Drained(0);
  };
  const SequenceOutcome outcome = h.Run();

  CHECK(outcome.end == SequenceEnd::kDrained);
  CHECK(h.PhaseOrder() == std::vector<Phase>{Phase::kUnready, Phase::kDraining, Phase::kDrained});
  CHECK(h.observer.phases[1].at == milliseconds(5000));
  // The drain trigger went out once, at the start of DRAINING, as a POST to the trigger URL.
  REQUIRE(h.http.requests.size() == 1);
  CHECK(h.http.requests[0].at == milliseconds(5000));
  CHECK(h.http.requests[0].request.method == "POST");
  // Drained is noticed on the first poll at or after 8.25s: within one interval of the truth.
  const Millis end = h.observer.phases[2].at;
  CHECK(end >= milliseconds(8250));
  CHECK(end <= milliseconds(8250 + 100));
  CHECK(outcome.drain_time == std::chrono::milliseconds(3300));
  REQUIRE(outcome.last_value);
  CHECK(*outcome.last_value == 0);
}

TEST_CASE("times out exactly at the drain timeout when the app stays busy") {
  Harness h;
  h.monitor.answer = [](Millis, Deadline) { return Busy(2); };
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kTimedOut);
  CHECK(h.observer.phases.back().phase == Phase::kTimedOut);
  CHECK(h.observer.phases.back().at == milliseconds(5000 + 20000));
  CHECK(outcome.detail.find("drain timeout") != std::string::npos);
  CHECK(outcome.detail.find("2 (busy)") != std::string::npos);
  // Polls every interval, never after the deadline, and no poll deadline beyond it.
  CHECK(h.monitor.polls.size() == 200);
  CHECK(h.monitor.polls.back() < milliseconds(25000));
  for (const auto& deadline : h.monitor.deadlines) {
    CHECK(deadline <= h.clock.start() + milliseconds(25000));
  }
}

TEST_CASE("a poll that hangs until the deadline still ends the sequence at the deadline") {
  Harness h;
  h.monitor.answer = [&h](Millis, Deadline deadline) {
    // The app never answers; the client gives up at the deadline.
    while (h.clock.Now() < deadline) h.clock.SleepUntil(deadline);
    return PollResult{PollOutcome::kError, std::nullopt, "timed out"};
  };
  h.config.shutdown.drain.monitor.timeout = milliseconds(60000);  // absurd, but clamped
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kTimedOut);
  CHECK(h.observer.phases.back().at == milliseconds(25000));
}

TEST_CASE("connection refused counts as drained by default, and as not drained when configured") {
  SUBCASE("refused_means: drained") {
    Harness h;
    h.monitor.answer = [](Millis, Deadline) {
      return PollResult{PollOutcome::kRefused, std::nullopt, "connection refused"};
    };
    const SequenceOutcome outcome = h.Run();
    CHECK(outcome.end == SequenceEnd::kDrained);
    CHECK(outcome.detail.find("gone") != std::string::npos);
    CHECK(h.observer.phases.back().at == milliseconds(5000));
  }
  SUBCASE("refused_means: error") {
    Harness h;
    h.config.shutdown.drain.monitor.refused_means = RefusedMeans::kError;
    h.monitor.answer = [](Millis, Deadline) {
      return PollResult{PollOutcome::kRefused, std::nullopt, "connection refused"};
    };
    CHECK(h.Run().end == SequenceEnd::kTimedOut);
  }
}

TEST_CASE("malformed monitor answers count as not drained") {
  Harness h;
  h.monitor.answer = [](Millis, Deadline) {
    return PollResult{PollOutcome::kError, std::nullopt, "body is not JSON"};
  };
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kTimedOut);
  CHECK(outcome.detail.find("body is not JSON") != std::string::npos);
}

TEST_CASE("settle: drained must hold for the whole window") {
  Harness h;
  h.config.shutdown.drain.monitor.settle = milliseconds(1000);
  // Idle at 6s, a keep-alive reconnect makes it busy at 6.5s, idle again from 6.7s on.
  h.monitor.answer = [](Millis at, Deadline) {
    if (at < milliseconds(6000)) return Busy(1);
    if (at >= milliseconds(6500) && at < milliseconds(6700)) return Busy(1);
    return Drained(0);
  };
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kDrained);
  // Drained since 6.7s, held for 1s -> 7.7s exactly (a poll is scheduled at the window's end).
  CHECK(h.observer.phases.back().at == milliseconds(7700));
}

TEST_CASE("the drain trigger is retried with backoff on 5xx and transport errors") {
  Harness h;
  int calls = 0;
  h.http.answer = [&calls](const HttpRequest&, Deadline) {
    ++calls;
    if (calls == 1) return testing::Status(503);
    if (calls == 2) return testing::TransportError(HttpError::kReset);
    if (calls == 3) return testing::Status(500);
    return testing::Status(202);
  };
  h.monitor.answer = [](Millis at, Deadline) {
    return at < milliseconds(9000) ? Busy(1) : Drained(0);
  };
  CHECK(h.Run().end == SequenceEnd::kDrained);
  REQUIRE(h.observer.attempts.size() == 4);
  CHECK(h.observer.attempts[0].at == milliseconds(5000));
  CHECK(h.observer.attempts[1].at == milliseconds(5100));
  CHECK(h.observer.attempts[2].at == milliseconds(5300));
  CHECK(h.observer.attempts[3].at == milliseconds(5700));
  CHECK(h.observer.attempts[3].accepted);
}

TEST_CASE("the backoff is capped and retries stop at the drain timeout") {
  Harness h;
  h.http.answer = [](const HttpRequest&, Deadline) { return testing::Status(503); };
  h.monitor.answer = [](Millis, Deadline) { return Busy(1); };
  CHECK(h.Run().end == SequenceEnd::kTimedOut);
  // 0, .1, .3, .7, 1.5, 3.1, then every 2s: 5.1, 7.1, ... 19.1 -> 6 + 8 = 14 attempts in 20s.
  CHECK(h.observer.attempts.size() == 14);
  for (const auto& attempt : h.observer.attempts) CHECK(attempt.at < milliseconds(25000));
}

TEST_CASE("a 4xx answer to the trigger is not retried") {
  Harness h;
  h.http.answer = [](const HttpRequest&, Deadline) { return testing::Status(404); };
  h.monitor.answer = [](Millis at, Deadline) {
    return at < milliseconds(6000) ? Busy(1) : Drained(0);
  };
  CHECK(h.Run().end == SequenceEnd::kDrained);
  REQUIRE(h.observer.attempts.size() == 1);
  CHECK(h.observer.attempts[0].given_up);
}

TEST_CASE("a drain trigger that hangs never delays the detection of drained") {
  Harness h;
  // POST /drain never answers (the client gives up after the trigger timeout, 2s); GET /drain
  // says drained from 5.3s on.
  h.trigger.latency = [](const HttpRequest&) { return milliseconds(3'600'000); };
  h.monitor.answer = [](Millis at, Deadline) {
    return at < milliseconds(5300) ? Busy(1) : Drained(0);
  };
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kDrained);
  // Seen on the first poll at or after 5.3s; the attempt in flight then gets kTriggerSettle to
  // answer, and no more.
  CHECK(outcome.drain_time == milliseconds(300));
  CHECK(h.observer.phases.back().at == milliseconds(5300) + kTriggerSettle);
  // The hanging attempt went out at the start of DRAINING; none after drained.
  REQUIRE(h.http.requests.size() == 1);
  CHECK(h.http.requests[0].at == milliseconds(5000));
  CHECK(h.http.requests[0].deadline == h.clock.start() + milliseconds(7000));
  CHECK(h.observer.attempts.empty());  // its answer never came while the sequence ran
  REQUIRE(!h.observer.notes.empty());
  CHECK(h.observer.notes.back() ==
        "drain trigger attempt 1 still unanswered when the drain ended: not waited for");
}

TEST_CASE("an accepted trigger answered just after drained is still counted, at once") {
  Harness h;
  // The app accepts POST /drain and its monitor says drained before the 202 reaches lastcall:
  // the answer lands 5ms after the drained poll.
  h.trigger.latency = [](const HttpRequest&) { return milliseconds(305); };
  h.monitor.answer = [](Millis at, Deadline) {
    return at < milliseconds(5300) ? Busy(1) : Drained(0);
  };
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kDrained);
  REQUIRE(h.observer.attempts.size() == 1);
  CHECK(h.observer.attempts[0].accepted);
  CHECK(h.observer.attempts[0].at == milliseconds(5305));
  CHECK(h.observer.phases.back().at == milliseconds(5305));  // not the whole kTriggerSettle
  CHECK(h.observer.notes.empty());
}

TEST_CASE("a drain that times out does not wait for the trigger in flight") {
  Harness h;
  h.config.shutdown.drain.trigger.timeout = milliseconds(60'000);
  h.trigger.latency = [](const HttpRequest&) { return milliseconds(3'600'000); };
  h.monitor.answer = [](Millis, Deadline) { return Busy(1); };
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kTimedOut);
  CHECK(h.observer.phases.back().at == milliseconds(5000 + 20000));  // the deadline, exactly
}

TEST_CASE("a slow trigger is retried on its own schedule while the monitor keeps polling") {
  Harness h;
  // Each attempt takes 1.5s and fails with 503, but the fourth is accepted.
  int calls = 0;
  h.http.answer = [&calls](const HttpRequest&, Deadline) {
    return testing::Status(++calls < 4 ? 503 : 202);
  };
  h.trigger.latency = [](const HttpRequest&) { return milliseconds(1500); };
  h.monitor.answer = [](Millis at, Deadline) {
    return at < milliseconds(12000) ? Busy(1) : Drained(0);
  };
  CHECK(h.Run().end == SequenceEnd::kDrained);
  // Answers at 6.5s; retried 100ms later, answered at 8.1; +200ms -> 9.8; +400ms -> 11.7.
  REQUIRE(h.observer.attempts.size() == 4);
  CHECK(h.observer.attempts[0].at == milliseconds(6500));
  CHECK(h.observer.attempts[1].at == milliseconds(8100));
  CHECK(h.observer.attempts[2].at == milliseconds(9800));
  CHECK(h.observer.attempts[3].at == milliseconds(11700));
  CHECK(h.observer.attempts[3].accepted);
  // Polling never paused: one poll per 100ms interval from 5s to 12s.
  CHECK(h.monitor.polls.size() == 71);
  CHECK(h.observer.phases.back().at == milliseconds(12000));
}

TEST_CASE("retrying stops once drained even when attempts keep failing") {
  Harness h;
  h.http.answer = [](const HttpRequest&, Deadline) { return testing::Status(503); };
  h.monitor.answer = [](Millis at, Deadline) {
    return at < milliseconds(5150) ? Busy(1) : Drained(0);
  };
  CHECK(h.Run().end == SequenceEnd::kDrained);
  CHECK(h.observer.phases.back().at == milliseconds(5200));
  // Attempts at 5.0 and 5.1s; the third was due at 5.3s, after drained.
  CHECK(h.http.requests.size() == 2);
}

TEST_CASE("no trigger URL: nothing is sent, monitoring still decides") {
  Harness h;
  h.config.shutdown.drain.trigger.url.reset();
  CHECK(h.Run().end == SequenceEnd::kDrained);
  CHECK(h.http.requests.empty());
}

TEST_CASE("a signal-started sequence whose app is gone skips the rest of lb_delay") {
  Harness h;
  h.monitor.answer = [](Millis, Deadline) {
    return PollResult{PollOutcome::kRefused, std::nullopt, "connection refused"};
  };
  CHECK(h.Run(TriggerSource::kSignal).end == SequenceEnd::kDrained);
  CHECK(h.observer.phases[1].phase == Phase::kDraining);
  CHECK(h.observer.phases[1].at == milliseconds(0));
  CHECK(h.observer.notes.size() == 1);
}

TEST_CASE("the app-gone shortcut is off when configured, and never for a preStop trigger") {
  SUBCASE("configured off") {
    Harness h;
    h.config.shutdown.skip_lb_delay_when_app_gone = false;
    h.monitor.answer = [](Millis, Deadline) {
      return PollResult{PollOutcome::kRefused, std::nullopt, ""};
    };
    h.Run(TriggerSource::kSignal);
    CHECK(h.observer.phases[1].at == milliseconds(5000));
  }
  SUBCASE("preStop trigger") {
    Harness h;
    h.monitor.answer = [](Millis, Deadline) {
      return PollResult{PollOutcome::kRefused, std::nullopt, ""};
    };
    h.Run(TriggerSource::kPreStop);
    CHECK(h.observer.phases[1].at == milliseconds(5000));
  }
  SUBCASE("app alive") {
    Harness h;
    h.Run(TriggerSource::kSignal);
    CHECK(h.observer.phases[1].at == milliseconds(5000));
  }
}

TEST_CASE("the sequence never outlives the grace period, whatever the budget says") {
  Harness h;
  h.config.shutdown.drain.timeout = milliseconds(60000);
  h.config.shutdown.exit_delay = milliseconds(1000);
  h.monitor.answer = [](Millis, Deadline) { return Busy(1); };
  CHECK(h.Run().end == SequenceEnd::kTimedOut);
  // grace 30s - exit_delay 1s - margin 2s.
  CHECK(h.observer.phases.back().at == milliseconds(27000));
}

TEST_CASE("monitor none waits the drain timeout and counts that as drained") {
  Harness h;
  h.config.shutdown.drain.monitor.kind = MonitorKind::kNone;
  h.config.shutdown.drain.timeout = milliseconds(3000);
  h.monitor.answer = [](Millis, Deadline) { return PollResult{PollOutcome::kBusy, {}, ""}; };
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kDrained);
  CHECK(h.observer.phases.back().at == milliseconds(8000));
}

TEST_CASE("a resumed sequence continues DRAINING on the original clock") {
  Harness h;
  SequenceStart start;
  start.source = TriggerSource::kResumed;
  start.triggered_at = h.clock.Now() - milliseconds(9000);
  start.draining_since = h.clock.Now() - milliseconds(4000);
  start.trigger_accepted = true;
  h.monitor.answer = [](Millis, Deadline) { return Busy(1); };
  const SequenceOutcome outcome =
      RunShutdownSequence(h.config, start, h.clock, h.trigger, h.polls, h.observer);
  CHECK(outcome.end == SequenceEnd::kTimedOut);
  CHECK(h.PhaseOrder() == std::vector<Phase>{Phase::kDraining, Phase::kTimedOut});
  CHECK(h.observer.phases.back().at == milliseconds(16000));  // 20s after draining began
  CHECK(h.http.requests.empty());  // the app already accepted the trigger before the restart
}

TEST_CASE("lb_delay auto: DRAINING begins once traffic to the app's ports stopped") {
  Harness h;
  h.config.shutdown.lb_delay.value =
      LbDelay::Auto{milliseconds(1000), milliseconds(30000), milliseconds(1000)};
  testing::ScriptedTraffic traffic(h.clock);
  traffic.requests = {milliseconds(400), milliseconds(1300), milliseconds(1700)};
  SequenceStart start;
  start.source = TriggerSource::kSignal;
  start.triggered_at = h.clock.Now();
  const SequenceOutcome outcome =
      RunShutdownSequence(h.config, start, h.clock, h.trigger, h.polls, h.observer, &traffic);
  CHECK(outcome.end == SequenceEnd::kDrained);
  REQUIRE(h.observer.phases.size() == 3);
  CHECK(h.observer.phases[1].phase == Phase::kDraining);
  CHECK(h.observer.phases[1].at == milliseconds(2700));
  REQUIRE(h.observer.lb_waits.size() == 1);
  CHECK(h.observer.lb_waits[0].end == LbWaitEnd::kQuiet);
  CHECK(h.observer.notes.back() == h.observer.lb_waits[0].detail);

  SUBCASE("without an observer, auto waits its bound") {
    Harness fixed;
    fixed.config = h.config;
    fixed.Run();
    // lb_delay 30s, cut by the grace period (30s - margin 2s).
    CHECK(fixed.observer.phases[1].at == milliseconds(28000));
  }
}

TEST_CASE("a push from the app (POST /drained) ends DRAINING at once, settle or not") {
  Harness h;
  h.config.shutdown.drain.monitor.settle = milliseconds(1000);
  std::atomic<bool> pushed{false};
  // The app stays busy for the monitor; at 6.03s it pushes (between two polls).
  h.monitor.answer = [&](Millis at, Deadline) {
    if (at >= milliseconds(6000)) {
      h.clock.Advance(milliseconds(30));
      pushed.store(true);
      h.clock.Wake();
    }
    return Busy(1);
  };
  SequenceStart start;
  start.source = TriggerSource::kPreStop;
  start.triggered_at = h.clock.Now();
  start.app_drained = &pushed;
  const SequenceOutcome outcome =
      RunShutdownSequence(h.config, start, h.clock, h.trigger, h.polls, h.observer);
  CHECK(outcome.end == SequenceEnd::kDrained);
  CHECK(outcome.detail == "the app said it is drained (POST /drained)");
  CHECK(h.observer.phases.back().phase == Phase::kDrained);
  CHECK(h.observer.phases.back().at == milliseconds(6030));
}

// ---- polls in the background: a push never waits for a poll in flight ----

// Polls on the fake clock that take `latency` each: the monitor's answer is computed when the poll
// starts and delivered `latency` later (or at the poll's deadline), as a poll thread finishing
// then would.
class DelayedPoll final : public BackgroundPoll {
 public:
  DelayedPoll(FakeClock& clock, FakeMonitor& monitor) : clock_(clock), monitor_(monitor) {}
  Millis latency{0};
  int started = 0;
  int abandoned = 0;

  void Start(Deadline deadline) override {
    ++started;
    result_ = monitor_.Poll(deadline);
    ready_at_ = std::min(clock_.Now() + latency, deadline);
    clock_.WakeAt(ready_at_);
  }
  std::optional<PollResult> Collect() override {
    if (!result_ || clock_.Now() < ready_at_) return std::nullopt;
    return std::exchange(result_, std::nullopt);
  }
  void Abandon() override {
    if (result_) ++abandoned;
    result_.reset();
  }

 private:
  FakeClock& clock_;
  FakeMonitor& monitor_;
  std::optional<PollResult> result_;
  Clock::time_point ready_at_{};
};

// The fake clock, and an app that pushes (sets `pushed`) when the clock reaches `push_at`, as
// NotifyAppDrained does from another thread: flag, then Wake.
class PushingClock final : public Clock {
 public:
  PushingClock(FakeClock& clock, Clock::time_point push_at, std::atomic<bool>& pushed)
      : clock_(clock), push_at_(push_at), pushed_(pushed) {
    clock_.WakeAt(push_at);
  }
  time_point Now() override { return clock_.Now(); }
  bool SleepUntil(time_point when) override {
    const bool woken = clock_.SleepUntil(when);
    if (clock_.Now() >= push_at_) pushed_.store(true);
    return woken;
  }
  void Wake() override { clock_.Wake(); }

 private:
  FakeClock& clock_;
  Clock::time_point push_at_;
  std::atomic<bool>& pushed_;
};

TEST_CASE("a push while a poll is in flight ends DRAINING at once; the poll is abandoned") {
  Harness h;
  h.config.shutdown.drain.monitor.timeout = milliseconds(3000);
  DelayedPoll polls(h.clock, h.monitor);
  polls.latency = milliseconds(3000);  // every poll hangs until its deadline
  h.monitor.answer = [](Millis, Deadline) {
    return PollResult{PollOutcome::kError, std::nullopt, "timed out"};
  };
  std::atomic<bool> pushed{false};
  PushingClock clock(h.clock, h.clock.start() + milliseconds(5250), pushed);
  SequenceStart start;
  start.source = TriggerSource::kPreStop;
  start.triggered_at = h.clock.Now();
  start.app_drained = &pushed;
  const SequenceOutcome outcome =
      RunShutdownSequence(h.config, start, clock, h.trigger, polls, h.observer);
  CHECK(outcome.end == SequenceEnd::kDrained);
  CHECK(outcome.detail == "the app said it is drained (POST /drained)");
  // DRAINING began at 5 s with a poll that would answer at 8 s; the push at 5.25 s ended it then.
  CHECK(h.observer.phases.back().at == milliseconds(5250));
  CHECK(polls.started == 1);
  CHECK(polls.abandoned == 1);
  CHECK(h.observer.polls.empty());  // its result was never taken in
}

TEST_CASE("polls in the background: results are taken in as they come, on the regular schedule") {
  Harness h;
  DelayedPoll polls(h.clock, h.monitor);
  polls.latency = milliseconds(30);
  h.monitor.answer = [](Millis at, Deadline) {
    return at < milliseconds(5400) ? Busy(1) : Drained(0);
  };
  SequenceStart start;
  start.source = TriggerSource::kPreStop;
  start.triggered_at = h.clock.Now();
  const SequenceOutcome outcome =
      RunShutdownSequence(h.config, start, h.clock, h.trigger, polls, h.observer);
  CHECK(outcome.end == SequenceEnd::kDrained);
  // Polls at 5.0, 5.1, ... 5.4 s (every interval from each poll's start); the one sent at 5.4 s
  // answers drained 30 ms later.
  CHECK(h.monitor.polls == std::vector<Millis>{milliseconds(5000), milliseconds(5100),
                                               milliseconds(5200), milliseconds(5300),
                                               milliseconds(5400)});
  CHECK(h.observer.phases.back().at == milliseconds(5430));
  CHECK(polls.abandoned == 0);
}

TEST_CASE("a poll that overruns its deadline is abandoned at the drain deadline, not awaited") {
  Harness h;
  h.config.shutdown.drain.timeout = milliseconds(1000);
  DelayedPoll polls(h.clock, h.monitor);
  h.monitor.answer = [](Millis, Deadline) { return Busy(1); };
  // A broken monitor that would answer an hour late: the sequence still ends at its deadline.
  polls.latency = milliseconds(3'600'000);
  SequenceStart start;
  start.source = TriggerSource::kPreStop;
  start.triggered_at = h.clock.Now();
  const SequenceOutcome outcome =
      RunShutdownSequence(h.config, start, h.clock, h.trigger, polls, h.observer);
  CHECK(outcome.end == SequenceEnd::kTimedOut);
  CHECK(h.observer.phases.back().at == milliseconds(6000));
}

TEST_CASE(
    "the app-gone shortcut needs proof: a refusal the monitor judged not gone waits lb_delay") {
  Harness h;
  // What WithGoneCheck makes of a refused connection while [::1] listens: an error, not kRefused.
  h.monitor.answer = [](Millis, Deadline) {
    return PollResult{PollOutcome::kError, std::nullopt,
                      "connection refused, yet the app is not gone: an IPv6 socket listens"};
  };
  h.config.shutdown.drain.timeout = milliseconds(1000);
  const SequenceOutcome outcome = h.Run(TriggerSource::kSignal);
  CHECK(outcome.end == SequenceEnd::kTimedOut);
  CHECK(h.observer.phases[1].phase == Phase::kDraining);
  CHECK(h.observer.phases[1].at == milliseconds(5000));  // lb_delay waited in full
  CHECK(h.observer.notes.empty());                       // no "the app is gone"
  // The probe's answer was reported (logged once as a warning by the coordinator).
  REQUIRE(!h.observer.polls.empty());
  CHECK(h.observer.polls.front().detail.find("not gone") != std::string::npos);
}

// ---- long poll (monitor.long_poll): the app holds GET ?wait= until drained or the wait ends ---

// An app that supports long polls, on the fake clock: it is drained from `drained_at` (time
// since the clock's start) on, and holds a busy poll for the wait the status monitor would ask
// for (long_poll, answered by the deadline minus monitor.timeout), answering as soon as it is
// drained.
struct LongPollApp {
  Harness& h;
  Millis drained_at;
  PollResult operator()(Millis at, Deadline deadline) const {
    const MonitorConfig& watch = h.config.shutdown.drain.monitor;
    const Millis room =
        std::chrono::duration_cast<Millis>(deadline - h.clock.Now()) - watch.timeout;
    const Millis wait = std::max(Millis{0}, std::min(watch.long_poll, room));
    if (at >= drained_at) return Drained(0);
    const Millis answer_at = std::min(at + wait, drained_at);
    h.clock.Advance(answer_at - at);
    if (answer_at >= drained_at) return Drained(0);
    PollResult busy = Busy(1);
    busy.held = wait.count() > 0;
    return busy;
  }
};

TEST_CASE("long poll: a held busy answer is followed at once; drained ends the drain at once") {
  Harness h;
  // The interval is longer than the wait: only the immediate re-poll keeps the app watched.
  h.config.shutdown.drain.monitor.interval = milliseconds(2000);
  h.config.shutdown.drain.monitor.long_poll = milliseconds(1000);
  h.monitor.answer = LongPollApp{h, milliseconds(5000 + 1300)};
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kDrained);
  // Held 5.0 -> 6.0 s, asked again at once, answered drained the moment the app was (6.3 s).
  CHECK(h.monitor.polls == std::vector<Millis>{milliseconds(5000), milliseconds(6000)});
  CHECK(h.observer.phases.back().at == milliseconds(6300));
  // Each long poll may last its wait plus the request timeout, no more.
  CHECK(h.monitor.deadlines[0] == h.clock.start() + milliseconds(5000 + 1000 + 1000));
}

TEST_CASE("long poll: an app that never drains times out exactly at the drain deadline") {
  Harness h;
  h.config.shutdown.drain.monitor.interval = milliseconds(2000);
  h.config.shutdown.drain.monitor.long_poll = milliseconds(5000);
  h.monitor.answer = LongPollApp{h, milliseconds(3600000)};
  const SequenceOutcome outcome = h.Run();
  CHECK(outcome.end == SequenceEnd::kTimedOut);
  CHECK(h.observer.phases.back().at == milliseconds(25000));
  // The first poll is held no longer than the trigger attempt beside it may take (2 s); then 5 s
  // each; the one sent at 22 s is held until 24 s, so that it is answered by 25 s - timeout; the
  // one sent at 24 s is a plain poll (no time left to wait), and the next interval is past 25 s.
  CHECK(h.monitor.polls == std::vector<Millis>{milliseconds(5000), milliseconds(7000),
                                               milliseconds(12000), milliseconds(17000),
                                               milliseconds(22000), milliseconds(24000)});
  for (const auto& deadline : h.monitor.deadlines) {
    CHECK(deadline <= h.clock.start() + milliseconds(25000));
  }
}

TEST_CASE("long poll: an app that answers busy at once is polled at the interval, not faster") {
  Harness h;
  h.config.shutdown.drain.monitor.interval = milliseconds(2000);
  h.config.shutdown.drain.monitor.long_poll = milliseconds(5000);
  h.monitor.answer = [](Millis, Deadline) { return Busy(1); };  // ignores wait=: never held
  CHECK(h.Run().end == SequenceEnd::kTimedOut);
  CHECK(h.monitor.polls.size() == 10);  // 5, 7, ..., 23 s
}

TEST_CASE("long poll: settle counts from the drained answer, not from when the poll was sent") {
  Harness h;
  h.config.shutdown.drain.monitor.interval = milliseconds(2000);
  h.config.shutdown.drain.monitor.long_poll = milliseconds(1000);
  h.config.shutdown.drain.monitor.settle = milliseconds(500);
  h.monitor.answer = LongPollApp{h, milliseconds(6300)};
  CHECK(h.Run().end == SequenceEnd::kDrained);
  // Drained answered at 6.3 s (to the poll sent at 6.0 s), looked at again when settle ended.
  CHECK(h.monitor.polls.back() == milliseconds(6800));
  CHECK(h.observer.phases.back().at == milliseconds(6800));
}

TEST_CASE("long poll: not held past the drain trigger's next attempt") {
  Harness h;
  h.config.shutdown.drain.monitor.interval = milliseconds(2000);
  h.config.shutdown.drain.monitor.long_poll = milliseconds(5000);
  int calls = 0;
  h.http.answer = [&calls](const HttpRequest&, Deadline) {
    return testing::Status(++calls < 2 ? 503 : 202);
  };
  h.trigger.latency = [](const HttpRequest&) { return milliseconds(50); };
  h.monitor.answer = LongPollApp{h, milliseconds(3600000)};
  h.config.shutdown.drain.timeout = milliseconds(3000);
  CHECK(h.Run().end == SequenceEnd::kTimedOut);
  // The first attempt is in flight when the first poll goes out: the poll is held no longer than
  // that attempt may take (2 s); its failure brings the retry, which the next poll waits for.
  CHECK(h.monitor.deadlines[0] == h.clock.start() + milliseconds(5000 + 2000 + 1000));
  REQUIRE(h.observer.attempts.size() == 2);
  CHECK(h.observer.attempts[1].at == milliseconds(7000 + 100 + 50));
}
}  // namespace
}  // namespace lastcall

#include "rehearse_advice.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "monitor_test_fakes.h"
#include "rehearse_test_fixtures.h"

namespace lastcall {
namespace {

using testing::MakeInputs;
using testing::Record;

std::vector<std::string> Ids(const std::vector<Advice>& advice) {
  std::vector<std::string> ids;
  ids.reserve(advice.size());
  for (const Advice& item : advice) ids.push_back(item.id);
  return ids;
}

// A copy: the advice vector is often a temporary.
std::optional<Advice> Find(const std::vector<Advice>& advice, const std::string& id) {
  for (const Advice& item : advice) {
    if (item.id == id) return item;
  }
  return std::nullopt;
}

// A good run: two requests answered by the replica before the removal, two elsewhere after.
RehearsalInputs GoodRun() {
  RehearsalInputs inputs = MakeInputs();
  inputs.requests = {Record(100, 110, RequestOutcome::kOk), Record(900, 1700, RequestOutcome::kOk),
                     Record(1600, 1605, RequestOutcome::kOtherReplica),
                     Record(3500, 3501, RequestOutcome::kOtherReplica)};  // after the app exited
  return inputs;
}

TEST_CASE("RoundUpToSeconds") {
  CHECK(RoundUpToSeconds(Millis(0)) == Millis(0));
  CHECK(RoundUpToSeconds(Millis(1)) == Millis(1000));
  CHECK(RoundUpToSeconds(Millis(1000)) == Millis(1000));
  CHECK(RoundUpToSeconds(Millis(6001)) == Millis(7000));
}

TEST_CASE("a clean run gets one piece of good news") {
  const std::vector<Advice> advice = Advise(AssembleReport(GoodRun()));
  REQUIRE(advice.size() == 1);
  CHECK(advice[0].level == Advice::Level::kOk);
  CHECK(advice[0].id == "all-good");
  CHECK(advice[0].text ==
        "nothing lost: 4 requests (2 by the replica, 2 by other replicas); lastcall drained the "
        "app in 900ms; it exited at +2.10s, 7.90s before the grace period ended.");
}

TEST_CASE("lb_delay shorter than the propagation delay") {
  RehearsalInputs inputs = GoodRun();
  inputs.settings.config.shutdown.lb_delay = LbDelay::Fixed{Millis(2000)};
  inputs.settings.propagation_delay = Millis(3000);
  const std::vector<Advice> advice = Advise(AssembleReport(inputs));
  CHECK(Ids(advice) == std::vector<std::string>{"lb-delay-short"});
  CHECK(advice[0].level == Advice::Level::kWarning);
  CHECK(advice[0].text ==
        "your lb_delay of 2s is shorter than the propagation delay of 3s you asked to survive: "
        "raise lb_delay (shutdown.lb_delay, --lb-delay) to at least 3s.");

  inputs.settings.config.shutdown.lb_delay = LbDelay::Fixed{Millis(3000)};
  CHECK_FALSE(Find(Advise(AssembleReport(inputs)), "lb-delay-short").has_value());
}

TEST_CASE("requests in flight at SIGKILL: raise drain.timeout and the grace period") {
  RehearsalInputs inputs = GoodRun();
  inputs.settings.config.shutdown.lb_delay = LbDelay::Fixed{Millis(3000)};
  inputs.termination.app.killed = true;
  inputs.termination.app.exit_code = 137;
  inputs.termination.app.exited_at = Millis(10000);
  inputs.termination.timeline.push_back({Millis(10000), "app", "SIGKILL", ""});
  // Sent at +4 s, +5 s and +6 s (T0 is 1 s into the load), cut by the SIGKILL at +10 s.
  for (long long sent : {5000, 6000, 7000}) {
    inputs.requests.push_back(Record(sent, 11001, RequestOutcome::kReset));
  }
  const std::vector<Advice> advice = Advise(AssembleReport(inputs));
  const std::optional<Advice> killed = Find(advice, "killed-in-flight");
  REQUIRE(killed.has_value());
  CHECK(killed->level == Advice::Level::kProblem);
  CHECK(killed->text ==
        "the app still had 3 requests in flight at SIGKILL (+10.00s): raise drain.timeout to at "
        "least 7s and terminationGracePeriodSeconds to 12 (lb_delay + drain.timeout + exit_delay "
        "+ 2s margin).");
  CHECK(advice.front().level == Advice::Level::kProblem);  // problems come first
  CHECK_FALSE(Find(advice, "all-good").has_value());
}

TEST_CASE("killed although the budget fits: the app itself did not exit") {
  RehearsalInputs inputs = GoodRun();
  inputs.termination.app.killed = true;
  inputs.termination.app.exit_code = 137;
  inputs.termination.app.exited_at = Millis(10000);
  const std::optional<Advice> killed = Find(Advise(AssembleReport(inputs)), "killed-in-flight");
  REQUIRE(killed.has_value());
  CHECK(killed->text ==
        "the app was still running at SIGKILL (+10.00s): lastcall's budget fits, so the app "
        "itself did not exit in time after SIGTERM: make it exit once its in-flight work is "
        "done.");
}

TEST_CASE(
    "a drain timeout: too short for the longest request, or a monitor that never says "
    "drained") {
  RehearsalInputs inputs = GoodRun();
  inputs.settings.config.shutdown.drain.timeout = Millis(2000);
  inputs.lastcall[2] = {"timed_out", Millis(3000), "drain timeout 2s passed", "timeout", ""};
  inputs.requests.push_back(Record(1000, 3500, RequestOutcome::kOk));  // 2.5 s long
  const std::optional<Advice> timed_out = Find(Advise(AssembleReport(inputs)), "drain-timed-out");
  REQUIRE(timed_out.has_value());
  CHECK(timed_out->level == Advice::Level::kWarning);
  CHECK(timed_out->text ==
        "lastcall's drain timed out after 2.00s (drain.timeout): drain timeout 2s passed. The "
        "longest request took 2.50s: raise drain.timeout to at least 4s and "
        "terminationGracePeriodSeconds to at least 7.");

  inputs.requests.pop_back();
  inputs.settings.config.shutdown.drain.trigger.url =
      testing::ParsedUrl("http://127.0.0.1:40000/drain");
  const std::optional<Advice> stuck = Find(Advise(AssembleReport(inputs)), "drain-timed-out");
  REQUIRE(stuck.has_value());
  CHECK(stuck->text ==
        "lastcall's drain timed out after 2.00s (drain.timeout): drain timeout 2s passed. No "
        "request took longer than 800ms, so the drain monitor never saw the app drained: check "
        "what it polls (http://127.0.0.1:40000/drain) and that the app answers it as drained "
        "once idle, or pick another monitor (--monitor connections needs no cooperation from "
        "the app).");
}

TEST_CASE("a drain cut short by the grace period says so") {
  RehearsalInputs inputs = GoodRun();
  inputs.settings.config.shutdown.grace_period = Millis(4000);
  inputs.lastcall[2] = {"timed_out", Millis(2000), "drain timeout 5s passed", "timeout", ""};
  const std::optional<Advice> timed_out = Find(Advise(AssembleReport(inputs)), "drain-timed-out");
  REQUIRE(timed_out.has_value());
  CHECK(timed_out->text.rfind("lastcall's drain timed out after 1.00s (drain.timeout 5s, cut short "
                              "to end 2s before the grace period does): drain timeout 5s passed. ",
                              0) == 0);
}

TEST_CASE("refused before the load balancer stopped routing") {
  RehearsalInputs inputs = GoodRun();
  inputs.termination.app.exited_at = Millis(200);
  inputs.requests.push_back(Record(1250, 1251, RequestOutcome::kRefused));
  inputs.requests.push_back(Record(1400, 1401, RequestOutcome::kRefused));
  inputs.requests.push_back(Record(1600, 1601, RequestOutcome::kRefused));  // after: not counted
  const std::vector<Advice> advice = Advise(AssembleReport(inputs));
  const std::optional<Advice> refused = Find(advice, "refused-early");
  REQUIRE(refused.has_value());
  CHECK(refused->text ==
        "2 requests were refused between +0.25s and +0.40s, before the load balancer stopped "
        "routing at +0.50s: the app stopped listening while it still got traffic (it exited at "
        "+0.20s). Its preStop hook must block until lastcall's sequence ends (exec `lastcall "
        "prestop`), and lb_delay must cover the time load balancers take to stop routing.");

  inputs.settings.through_balancer = false;
  const std::optional<Advice> direct = Find(Advise(AssembleReport(inputs)), "refused-direct");
  REQUIRE(direct.has_value());
  CHECK(direct->text.rfind("3 requests were refused between +0.25s and +0.60s: with --direct", 0) ==
        0);
}

TEST_CASE("requests cut when the app exited, after lastcall said drained") {
  RehearsalInputs inputs = GoodRun();
  inputs.requests.push_back(Record(2900, 3101, RequestOutcome::kReset));
  const std::optional<Advice> cut = Find(Advise(AssembleReport(inputs)), "cut-at-exit");
  REQUIRE(cut.has_value());
  CHECK(cut->text ==
        "1 request in flight was cut when the app exited at +2.10s (exit code 0). lastcall had "
        "reported the app drained at +1.90s: the drain monitor does not see every request in "
        "flight (the app's drain endpoint must count them all), or new requests kept arriving "
        "on kept-alive connections after it said drained.");
}

TEST_CASE("non-2xx answers, timeouts, kept-alive connections") {
  RehearsalInputs inputs = GoodRun();
  inputs.requests.push_back(Record(1700, 1701, RequestOutcome::kNon2xx, 503));
  inputs.requests.push_back(Record(1800, 1801, RequestOutcome::kNon2xx, 503));
  inputs.requests.push_back(Record(1900, 1901, RequestOutcome::kNon2xx, 500));
  inputs.requests.push_back(Record(1950, 11950, RequestOutcome::kTimeout));
  const std::vector<Advice> advice = Advise(AssembleReport(inputs));
  const std::optional<Advice> non2xx = Find(advice, "non-2xx");
  REQUIRE(non2xx.has_value());
  CHECK(non2xx->text ==
        "3 requests got non-2xx answers (500 x1, 503 x2) between +0.70s and +0.90s: keep "
        "answering normally while draining; the load balancer, not the app, stops the traffic.");
  const std::optional<Advice> timeouts = Find(advice, "request-timeouts");
  REQUIRE(timeouts.has_value());
  CHECK(timeouts->text.rfind("1 request got no answer within 10s: ", 0) == 0);
}

TEST_CASE("kept-alive connections: normal until requests on them fail") {
  RehearsalInputs inputs = GoodRun();
  RequestRecord reused = Record(1600, 1650, RequestOutcome::kOk);  // after the removal
  reused.reused_connection = true;
  inputs.requests.push_back(reused);
  RehearsalReport report = AssembleReport(inputs);
  CHECK(report.requests.replica_after_removal == 1);
  CHECK_FALSE(Find(Advise(report), "kept-alive").has_value());

  RequestRecord cut = Record(2000, 3101, RequestOutcome::kReset);
  cut.reused_connection = true;
  inputs.requests.push_back(cut);
  const std::optional<Advice> kept = Find(Advise(AssembleReport(inputs)), "kept-alive");
  REQUIRE(kept.has_value());
  CHECK(kept->level == Advice::Level::kWarning);
  CHECK(kept->text ==
        "1 request sent after the endpoint removal over connections kept alive from before it "
        "failed (kube-proxy never cuts established connections, so 2 requests still reached the "
        "replica that way): once draining, the app should answer with `Connection: close` so "
        "that clients reconnect to other replicas.");
}

TEST_CASE("the budget, a short load, an app rehearse did not start, a SIGTERM death") {
  RehearsalInputs inputs = GoodRun();
  inputs.settings.config.shutdown.grace_period = Millis(6000);
  inputs.requests = {Record(100, 110, RequestOutcome::kOk)};  // the load ends before the exit
  std::vector<Advice> advice = Advise(AssembleReport(inputs));
  const std::optional<Advice> budget = Find(advice, "budget");
  REQUIRE(budget.has_value());
  CHECK(budget->text.rfind("lastcall's worst case does not fit the grace period: lb_delay 1s + "
                           "drain.timeout 5s + exit_delay 0s + margin 2s = 8s > grace_period 6s",
                           0) == 0);
  const std::optional<Advice> load = Find(advice, "load-too-short");
  REQUIRE(load.has_value());
  CHECK(load->text ==
        "the load stopped at -0.90s, before the app exited at +2.10s: rehearse with --duration "
        "5s or more so the whole termination runs under load.");
  CHECK_FALSE(Find(advice, "app-not-started").has_value());

  inputs.termination.app.exit_code = 143;
  inputs.settings.app_started = false;  // a stand-in: its exit means nothing
  advice = Advise(AssembleReport(inputs));
  CHECK(Find(advice, "app-not-started").has_value());
  CHECK_FALSE(Find(advice, "app-exit-code").has_value());
  CHECK_FALSE(Find(advice, "load-too-short").has_value());

  inputs.settings.app_started = true;
  const std::optional<Advice> code = Find(Advise(AssembleReport(inputs)), "app-exit-code");
  REQUIRE(code.has_value());
  CHECK(code->text.rfind("the app exited with code 143 after SIGTERM (killed by SIGTERM's default "
                         "action: it has no SIGTERM handler",
                         0) == 0);
}

}  // namespace
}  // namespace lastcall

#include "rehearse_report.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/logging.h"
#include "rehearse_advice.h"
#include "rehearse_test_fixtures.h"
#include "sequence/sequence_event.h"

namespace lastcall {
namespace {

using testing::MakeInputs;
using testing::Record;

TEST_CASE("FormatMeasured") {
  CHECK(FormatMeasured(Millis(0)) == "0ms");
  CHECK(FormatMeasured(Millis(902)) == "902ms");
  CHECK(FormatMeasured(Millis(1000)) == "1.00s");
  CHECK(FormatMeasured(Millis(8086)) == "8.08s");
  CHECK(FormatMeasured(Millis(-1500)) == "-1.50s");
}

TEST_CASE("FormatOffset") {
  CHECK(FormatOffset(Millis(0)) == "+0.00s");
  CHECK(FormatOffset(Millis(1250)) == "+1.25s");
  CHECK(FormatOffset(Millis(1259)) == "+1.25s");
  CHECK(FormatOffset(Millis(-500)) == "-0.50s");
  CHECK(FormatOffset(Millis(-5)) == "-0.00s");
  CHECK(FormatOffset(Millis(61000)) == "+61.00s");
}

TEST_CASE("UTC timestamps round-trip and bad ones are refused") {
  const auto at = ParseUtcTimestamp("2026-11-24T23:59:01.123Z");
  REQUIRE(at.has_value());
  CHECK(FormatUtcTimestamp(*at) == "2026-11-24T23:59:01.123Z");
  CHECK(std::chrono::duration_cast<Millis>(*ParseUtcTimestamp("1970-01-01T00:00:01.500Z") -
                                           std::chrono::system_clock::time_point())
            .count() == 1500);
  CHECK(ParseUtcTimestamp("2026-11-24T23:59:01Z").has_value());
  for (const char* bad :
       {"", "2026-11-24 23:59:01.123Z", "2026-11-24T23:59:01.123", "2026-13-01T00:00:00.000Z",
        "2026-02-30T00:00:00.000Z", "2026-11-24T24:00:00.000Z", "2026-11-24T23:59:01.12Z",
        "2026-11-24T23:59:01.1234Z", "20x6-11-24T23:59:01.123Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseUtcTimestamp(bad).has_value());
  }
}

// One log line as lastcall writes it: `msg` for people, `event` for tools.
std::string JsonLine(const char* time, const char* msg, const SequenceEvent& event) {
  return FormatJsonLine(time, LogLevel::kInfo, Phase::kServing, msg,
                        EventLogFields(event, LogFormat::kJson)) +
         "\n";
}

SequenceEvent PhaseEvent(Phase phase, std::string detail) {
  SequenceEvent event;
  event.kind = EventKind::kPhase;
  event.phase = phase;
  event.detail = std::move(detail);
  return event;
}

TEST_CASE("ParseSidecarPhases reads lastcall's phase events, never its messages") {
  const auto t0 = *ParseUtcTimestamp("2026-11-24T10:00:00.000Z");
  SequenceEvent timed_out = PhaseEvent(Phase::kTimedOut, "drain timeout 5s passed");
  timed_out.drain_end = DrainEndReason::kTimeout;
  const std::string log =
      R"({"time":"2026-11-24T09:59:59.900Z","level":"info","msg":"listening","phase":"serving"})"
      "\n" +
      JsonLine("2026-11-24T10:00:00.004Z", "anything", PhaseEvent(Phase::kUnready, "by signal")) +
      "not json at all\n"
      "{broken json\n"
      // A message that reads like a phase, without an event: not one.
      R"({"time":"2026-11-24T10:00:00.500Z","msg":"phase draining"})"
      "\n" +
      JsonLine("bad", "x", PhaseEvent(Phase::kDraining, "")) +
      JsonLine("2026-11-24T10:00:01.010Z", "x", PhaseEvent(Phase::kDraining, "timeout 5s")) +
      // A newer major version: not read.
      R"({"time":"2026-11-24T10:00:01.500Z","msg":"x","event":{"v":2,"kind":"phase","phase":"drained"}})"
      "\n" +
      JsonLine("2026-11-24T10:00:01.900Z", "x", timed_out) +
      R"({"time":"2026-11-24T10:00:02.000Z","level":"info","msg":"phasers on stun"})";
  const std::vector<SidecarPhase> phases = ParseSidecarPhases(log, t0);
  REQUIRE(phases.size() == 3);
  CHECK(phases[0].phase == "unready");
  CHECK(phases[0].at == Millis(4));
  CHECK(phases[0].detail == "by signal");
  CHECK(phases[1].phase == "draining");
  CHECK(phases[1].at == Millis(1010));
  CHECK(phases[2].phase == "timed_out");
  CHECK(phases[2].at == Millis(1900));
  CHECK(phases[2].why == "timeout");
}

TEST_CASE("ParseSidecarPhases: an endpoint_removed event or a kind from a newer lastcall") {
  // Issue 21 adds endpoint_removed (and later lastcalls may add more): rehearse reads past
  // kinds it does not use, in either log format.
  const auto t0 = *ParseUtcTimestamp("2026-11-24T10:00:00.000Z");
  SequenceEvent removed;
  removed.kind = EventKind::kEndpointRemoved;
  removed.elapsed = Millis(800);
  removed.slices = 2;
  removed.detail = "web (IPv4) terminating at +0.800s";
  const std::string log =
      JsonLine("2026-11-24T10:00:00.004Z", "x", PhaseEvent(Phase::kUnready, "by signal")) +
      JsonLine("2026-11-24T10:00:00.800Z", "x", removed) +
      R"({"time":"2026-11-24T10:00:00.900Z","msg":"x","event":{"v":1,"kind":"kube_event_sent","reason":"Drained"}})"
      "\n"
      "2026-11-24T10:00:00.950Z info  [unready] x event=endpoint_removed v=1 elapsed_ms=950 "
      "slices=1\n"
      "2026-11-24T10:00:00.960Z info  [unready] x event=cluster_said v=1 anything=\"goes\"\n" +
      JsonLine("2026-11-24T10:00:01.010Z", "x", PhaseEvent(Phase::kDraining, "quiet"));
  const std::vector<SidecarPhase> phases = ParseSidecarPhases(log, t0);
  REQUIRE(phases.size() == 2);
  CHECK(phases[0].phase == "unready");
  CHECK(phases[1].phase == "draining");
  CHECK(phases[1].at == Millis(1010));
  CHECK_FALSE(ParseLbWaitRecord(log, t0).has_value());
}

TEST_CASE("AssembleReport counts by cause, times everything from T0 and buckets the timeline") {
  RehearsalInputs inputs = MakeInputs();  // T0 one second after the load started
  inputs.requests = {
      Record(100, 110, RequestOutcome::kOk),
      Record(900, 1700, RequestOutcome::kOk),             // in flight across T0
      Record(1600, 1650, RequestOutcome::kOk),            // after the removal: kept alive
      Record(1700, 1705, RequestOutcome::kOtherReplica),  // after the removal, elsewhere
      Record(1800, 2500, RequestOutcome::kReset),
      Record(1850, 1851, RequestOutcome::kNon2xx, 503),
      Record(1860, 1861, RequestOutcome::kNon2xx, 503),
      Record(1870, 1871, RequestOutcome::kNon2xx, 500),
      Record(1900, 1900, RequestOutcome::kNotSent),
  };
  inputs.endpoint_removed_at = Millis(500);
  const RehearsalReport report = AssembleReport(inputs);

  const RequestTotals& totals = report.requests;
  CHECK(totals.sent == 9);
  CHECK(totals.count(RequestOutcome::kOk) == 3);
  CHECK(totals.count(RequestOutcome::kOtherReplica) == 1);
  CHECK(totals.count(RequestOutcome::kReset) == 1);
  CHECK(totals.count(RequestOutcome::kNon2xx) == 3);
  CHECK(totals.count(RequestOutcome::kNotSent) == 1);
  CHECK(totals.failed() == 4);
  CHECK(totals.succeeded() == 4);
  CHECK(totals.non_2xx_statuses == std::map<int, uint64_t>{{500, 1}, {503, 2}});
  CHECK(totals.longest_replica == Millis(800));
  CHECK(totals.replica_after_removal == 1);

  REQUIRE(report.failures.size() == 4);
  CHECK(report.failures[0].outcome == RequestOutcome::kReset);
  CHECK(report.failures[0].sent_at == Millis(800));
  CHECK(report.failures[0].finished_at == Millis(1500));
  CHECK(report.failures[0].path == "/work?ms=800");
  CHECK(report.load_ended_at == Millis(900));

  CHECK(report.drain_time == Millis(900));
  CHECK(report.app.exited_at == Millis(2100));
  CHECK(report.app.sigterm_at == Millis(2000));
  CHECK_FALSE(report.app.sigkill_at.has_value());
  CHECK(report.app_exited_in_grace);
  CHECK_FALSE(report.passed());  // requests were lost

  std::vector<std::string> ids;
  for (const PhaseMark& mark : report.phases) ids.push_back(mark.id);
  CHECK(ids == std::vector<std::string>{"deletion", "unready", "endpoint-removed", "load-end",
                                        "draining", "drained", "prestop-returned", "app-sigterm",
                                        "sidecar-exited", "app-exited", "grace-deadline"});
  for (size_t i = 1; i < report.phases.size(); ++i) {
    CHECK(report.phases[i - 1].at <= report.phases[i].at);
  }

  // Buckets: 100 ms from -1 s (the load's start) to the last thing that happened (+2.1 s).
  CHECK(report.bucket_width == Millis(100));
  CHECK(report.buckets_start == Millis(-1000));
  REQUIRE(report.buckets.size() == 32);
  uint32_t ok = 0, other = 0, failed = 0, sent = 0;
  for (const Bucket& bucket : report.buckets) {
    ok += bucket.ok;
    other += bucket.other_replica;
    failed += bucket.failed;
    sent += bucket.sent;
  }
  CHECK(ok == 3);
  CHECK(other == 1);
  CHECK(failed == 4);
  CHECK(sent == 8);                         // not_sent is not drawn
  CHECK(report.buckets[1].ok == 1);         // finished at -0.89 s
  CHECK(report.buckets[9].in_flight == 1);  // the 800 ms request, sent at -0.1 s
  CHECK(report.buckets[16].in_flight == 1);
  CHECK(report.buckets[20].in_flight == 1);  // the reset one, from +0.8 s to +1.5 s
  CHECK(report.buckets[25].in_flight == 0);
}

TEST_CASE("a killed app did not exit in the grace period") {
  RehearsalInputs inputs = MakeInputs();
  inputs.termination.app.killed = true;
  inputs.termination.app.exit_code = 137;
  inputs.termination.app.exited_at = Millis(10000);
  inputs.termination.timeline.push_back({Millis(10000), "app", "SIGKILL", ""});
  const RehearsalReport report = AssembleReport(inputs);
  CHECK_FALSE(report.app_exited_in_grace);
  CHECK(report.app.sigkill_at == Millis(10000));
  CHECK_FALSE(report.passed());
  bool killed_mark = false;
  for (const PhaseMark& mark : report.phases) killed_mark |= mark.id == "app-killed";
  CHECK(killed_mark);
}

TEST_CASE("the app's mark says what of its process group was still running and was killed") {
  for (const int left : {1, 3}) {
    CAPTURE(left);
    RehearsalInputs inputs = MakeInputs();
    inputs.termination.app.killed = true;
    inputs.termination.app.exit_code = 137;
    inputs.termination.app.exited_at = Millis(10000);
    inputs.termination.app.group_killed = left;
    const RehearsalReport report = AssembleReport(inputs);
    std::string detail;
    for (const PhaseMark& mark : report.phases) {
      if (mark.id == "app-killed") detail = mark.detail;
    }
    CHECK(detail == (left == 1 ? "exit code 137; 1 more process of its group was still running "
                                 "and was killed"
                               : "exit code 137; 3 more processes of its group were still running "
                                 "and were killed"));
    CHECK(nlohmann::json::parse(ReportToJson(report))["app"]["group_killed"] == left);
    bool advised = false;
    for (const Advice& advice : Advise(report)) advised |= advice.id == "app-group-left";
    CHECK(advised);
  }
}

TEST_CASE("an app rehearse did not start: its stand-in's exit is not reported as the app's") {
  RehearsalInputs inputs = MakeInputs();
  inputs.settings.app_started = false;
  inputs.requests = {Record(100, 110, RequestOutcome::kOk)};
  const RehearsalReport report = AssembleReport(inputs);
  CHECK(report.passed());
  for (const PhaseMark& mark : report.phases) {
    CHECK(mark.id != "app-exited");
    if (mark.id == "app-sigterm") {
      CHECK(mark.detail == "not delivered: rehearse did not start the app");
    }
  }
  CHECK(FormatSummary(report).rfind("PASSED: nothing lost.\n", 0) == 0);
}

TEST_CASE("ReportToJson holds the counts, the phases, the timeline and the advice") {
  RehearsalInputs inputs = MakeInputs();
  inputs.requests = {Record(100, 110, RequestOutcome::kOk),
                     Record(1800, 2500, RequestOutcome::kReset),
                     Record(1850, 1851, RequestOutcome::kNon2xx, 503)};
  inputs.settings.app = "app --name \"quoted\" <b>";
  RehearsalReport report = AssembleReport(inputs);
  report.advice.push_back({Advice::Level::kProblem, "cut-at-exit", "1 request was cut"});

  const auto json = nlohmann::json::parse(ReportToJson(report));
  CHECK(json["passed"] == false);
  CHECK(json["exit_code"] == 1);
  CHECK(json["settings"]["app"] == "app --name \"quoted\" <b>");
  CHECK(json["settings"]["rps"] == 100);
  CHECK(json["settings"]["lb_delay_ms"] == 1000);
  CHECK(json["settings"]["grace_period_ms"] == 10000);
  CHECK(json["settings"]["shape"] == "regular");
  CHECK(json["settings"]["monitor"] == "status");
  CHECK(json["requests"]["sent"] == 3);
  CHECK(json["requests"]["succeeded"] == 1);
  CHECK(json["requests"]["failed"] == 2);
  CHECK(json["requests"]["failed_by_cause"]["reset"] == 1);
  CHECK(json["requests"]["failed_by_cause"]["non_2xx"] == 1);
  CHECK(json["requests"]["failed_by_cause"]["refused"] == 0);
  CHECK(json["requests"]["failed_by_cause"]["timeout"] == 0);
  CHECK(json["requests"]["non_2xx_statuses"]["503"] == 1);
  CHECK(json["app"]["exited_at_ms"] == 2100);
  CHECK(json["app"]["exited_in_grace"] == true);
  CHECK(json["app"]["drain_ms"] == 900);
  CHECK(json["lastcall"]["phases"].size() == 3);
  CHECK(json["lastcall"]["phases"][1]["phase"] == "draining");
  CHECK(json["lastcall"]["exit_code"] == 0);
  CHECK(json["phases"][0]["id"] == "deletion");
  CHECK(json["kubelet"].size() == inputs.termination.timeline.size());
  CHECK(json["failures"].size() == 2);
  CHECK(json["failures"][0]["cause"] == "reset");
  CHECK(json["timeline"]["bucket_ms"] == 100);
  CHECK(json["timeline"]["start_ms"] == -1000);
  CHECK(json["timeline"]["ok"].size() == json["timeline"]["in_flight"].size());
  CHECK(json["advice"][0]["level"] == "problem");
  CHECK(json["advice"][0]["id"] == "cut-at-exit");
}

TEST_CASE("FormatSummary states the verdict, the counts and the timeline") {
  RehearsalInputs inputs = MakeInputs();
  inputs.requests = {Record(100, 110, RequestOutcome::kOk)};
  RehearsalReport report = AssembleReport(inputs);
  std::string summary = FormatSummary(report);
  CHECK(summary.rfind("PASSED: nothing lost; the app exited at +2.10s, 7.90s before the grace "
                      "period ended.\n",
                      0) == 0);
  CHECK(summary.find("1 sent: 1 answered by the replica, 0 by other replicas, 0 failed") !=
        std::string::npos);
  CHECK(summary.find("    +1.00s  lastcall  lastcall draining: timeout 5s\n") != std::string::npos);

  inputs.requests.push_back(Record(1800, 2500, RequestOutcome::kReset));
  summary = FormatSummary(AssembleReport(inputs));
  CHECK(summary.rfind("FAILED: 1 request lost.\n", 0) == 0);
  CHECK(summary.find("failed: refused 0, reset 1, timeout 0, non-2xx 0, malformed 0") !=
        std::string::npos);
}

TEST_CASE("ParseLbWaitRecord: the first lb_wait_ended event, auto's or the app gone") {
  const auto t0 = *ParseUtcTimestamp("2026-11-24T10:00:00.000Z");
  SequenceEvent quiet;
  quiet.kind = EventKind::kLbWaitEnded;
  quiet.lb_end = LbWaitWhy::kQuiet;
  quiet.waited = Millis(1497);
  quiet.last_traffic = Millis(420);
  SequenceEvent note;
  note.kind = EventKind::kNote;
  const std::string auto_log =
      JsonLine("2026-11-24T10:00:00.004Z", "phase unready", PhaseEvent(Phase::kUnready, "")) +
      JsonLine("2026-11-24T10:00:01.500Z", "lb wait ended", note) +
      JsonLine("2026-11-24T10:00:01.501Z", "words", quiet);
  std::optional<LbWaitRecord> record = ParseLbWaitRecord(auto_log, t0);
  REQUIRE(record);
  CHECK(record->end == "quiet");
  CHECK(record->at == Millis(1501));
  CHECK(record->last_traffic == Millis(420));

  SequenceEvent gone;
  gone.kind = EventKind::kLbWaitEnded;
  gone.lb_end = LbWaitWhy::kAppGone;
  record = ParseLbWaitRecord(JsonLine("2026-11-24T10:00:00.010Z", "words", gone), t0);
  REQUIRE(record);
  CHECK(record->end == "app_gone");
  CHECK(record->at == Millis(10));
  // The old sentences, without a record, are no longer read.
  CHECK_FALSE(ParseLbWaitRecord(
      R"({"time":"2026-11-24T10:00:00.010Z","msg":"the app is gone (connection refused): skipping the rest of lb_delay"})",
      t0));
  CHECK_FALSE(ParseLbWaitRecord(
      R"({"time":"2026-11-24T10:00:00.010Z","msg":"x","event":{"v":1,"kind":"lb_wait_ended","end":7}})",
      t0));
  CHECK_FALSE(ParseLbWaitRecord("{broken\nphase draining\n", t0));
}

TEST_CASE("why each wait ended: the lb wait, every way") {
  Config config;
  config.shutdown.lb_delay = LbDelay::Fixed{Millis(1000)};
  const std::vector<SidecarPhase> phases = {{"unready", Millis(4), "", "", ""},
                                            {"draining", Millis(1510), "timeout 5s", "", ""}};
  std::optional<WaitEnd> end = ExplainLbWait(phases, std::nullopt, config);
  REQUIRE(end);
  CHECK(end->reason == "fixed");
  CHECK(end->text == "fixed lb_delay 1s passed");
  CHECK(end->at == Millis(1510));

  config.shutdown.lb_delay = LbDelay::Auto{Millis(1000), Millis(30000), Millis(1000)};
  end = ExplainLbWait(phases, LbWaitRecord{"quiet", Millis(1501), Millis(420)}, config);
  CHECK(end->reason == "quiet");
  CHECK(end->text == "lb_delay auto: quiet for 1s after the last request at +0.42s");
  end = ExplainLbWait(phases, LbWaitRecord{"quiet", Millis(1501), std::nullopt}, config);
  CHECK(end->text ==
        "lb_delay auto: quiet for 1s (no request after the pod turned unready), past min 1s");
  end = ExplainLbWait(phases, LbWaitRecord{"max", Millis(1501), Millis(1400)}, config);
  CHECK(end->reason == "max");
  CHECK(end->text ==
        "lb_delay auto: max 30s reached: traffic kept arriving (or could not be observed)");
  CHECK(ExplainLbWait(phases, LbWaitRecord{"deadline", Millis(1501), {}}, config)->reason ==
        "deadline");
  CHECK(ExplainLbWait(phases, LbWaitRecord{"cancelled", Millis(1501), {}}, config)->reason ==
        "app_gone");
  CHECK(ExplainLbWait(phases, LbWaitRecord{"app_gone", Millis(10), {}}, Config{})->text ==
        "the app is gone (connection refused): nobody left to route to");
  // Still unready when lastcall went away: no end to explain.
  CHECK_FALSE(ExplainLbWait({{"unready", Millis(4), "", "", ""}}, std::nullopt, config));
}

TEST_CASE("why each wait ended: the drain, every way") {
  Config config;
  config.shutdown.drain.timeout = Millis(5000);
  // The detail is for people: only `why` and `last_poll` are read.
  auto explain = [&](std::string phase, std::string why, std::string last_poll = "") {
    return ExplainDrain(
        {{"unready", Millis(0), "", "", ""},
         {"draining", Millis(1000), "timeout 5s", "", ""},
         {std::move(phase), Millis(1900), "reworded", std::move(why), std::move(last_poll)}},
        config);
  };
  std::optional<WaitEnd> end = explain("drained", "monitor", "200 (drained): HTTP 200");
  REQUIRE(end);
  CHECK(end->reason == "monitor");
  CHECK(end->text == "the status monitor said drained (200 (drained): HTTP 200)");
  CHECK(end->at == Millis(1900));
  config.shutdown.drain.monitor.long_poll = Millis(5000);
  CHECK(explain("drained", "monitor", "200 (drained): HTTP 200")->text ==
        "the status monitor said drained (200 (drained): HTTP 200), long-polled");
  end = explain("drained", "pushed");
  CHECK(end->reason == "pushed");
  CHECK(end->text == "the app pushed that it is drained (POST /drained)");
  CHECK(explain("drained", "app_gone")->reason == "app_gone");
  CHECK(explain("drained", "waited")->reason == "waited");
  end = explain("timed_out", "timeout");
  CHECK(end->reason == "timeout");
  CHECK(end->text == "drain.timeout 5s passed with the app still busy");
  CHECK_FALSE(ExplainDrain({{"draining", Millis(1000), "", "", ""}}, config));
}

TEST_CASE("the summary and the JSON say why each wait ended") {
  RehearsalInputs inputs = MakeInputs();
  inputs.requests = {Record(100, 110, RequestOutcome::kOk)};
  inputs.lastcall[2].why = "pushed";
  inputs.settings.app_pushes = true;
  const RehearsalReport report = AssembleReport(inputs);
  const std::string summary = FormatSummary(report);
  CHECK(summary.find("why each wait ended\n"
                     "  lb wait    +1.00s  fixed lb_delay 1s passed\n"
                     "  drain      +1.90s  the app pushed that it is drained (POST /drained)\n") !=
        std::string::npos);
  const auto json = nlohmann::json::parse(ReportToJson(report));
  CHECK(json["waits"]["lb"]["reason"] == "fixed");
  CHECK(json["waits"]["lb"]["at_ms"] == 1000);
  CHECK(json["waits"]["drain"]["reason"] == "pushed");
  CHECK(json["waits"]["drain"]["text"] == "the app pushed that it is drained (POST /drained)");
  CHECK(json["settings"]["app_pushes"] == true);
  CHECK(json["settings"]["lb_delay"] == "1s");
}

}  // namespace
}  // namespace lastcall

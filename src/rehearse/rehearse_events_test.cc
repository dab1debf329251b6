// rehearse reads lastcall's log through the event schema (sequence/sequence_event.h), never its
// sentences: the log below is written by the sidecar's own EventLog, then every message in it is
// reworded, and the report must not change by a byte.

#include <doctest/doctest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/logging.h"
#include "rehearse_html.h"
#include "rehearse_report.h"
#include "rehearse_test_fixtures.h"
#include "sequence/sequence_event.h"
#include "sidecar/sequence_listeners.h"

namespace lastcall {
namespace {

struct Timed {
  const char* time;
  SequenceEvent event;
};

SequenceEvent Kind(EventKind kind) {
  SequenceEvent event;
  event.kind = kind;
  return event;
}

// What a run with lb_delay auto and a status monitor logs, one event a line.
std::vector<Timed> ARun() {
  std::vector<Timed> run;
  SequenceEvent triggered = Kind(EventKind::kTriggered);
  triggered.source = TriggerSource::kPreStop;
  triggered.detail = "preStop call";
  run.push_back({"2026-11-24T10:00:00.003Z", triggered});
  SequenceEvent unready = Kind(EventKind::kPhase);
  unready.phase = Phase::kUnready;
  unready.elapsed = Millis(0);
  unready.detail = "triggered by prestop";
  run.push_back({"2026-11-24T10:00:00.004Z", unready});
  SequenceEvent note = Kind(EventKind::kNote);
  note.detail = "lb_delay auto: quiet for 1s";
  run.push_back({"2026-11-24T10:00:01.500Z", note});
  SequenceEvent lb = Kind(EventKind::kLbWaitEnded);
  lb.lb_end = LbWaitWhy::kQuiet;
  lb.waited = Millis(1497);
  lb.last_traffic = Millis(420);
  lb.detail = "lb_delay auto: quiet for 1s";
  run.push_back({"2026-11-24T10:00:01.501Z", lb});
  SequenceEvent draining = Kind(EventKind::kPhase);
  draining.phase = Phase::kDraining;
  draining.elapsed = Millis(1506);
  draining.detail = "timeout 5s";
  run.push_back({"2026-11-24T10:00:01.510Z", draining});
  SequenceEvent trigger = Kind(EventKind::kDrainTrigger);
  trigger.attempt = 1;
  trigger.outcome = "accepted";
  trigger.url = "http://127.0.0.1:8080/drain";
  trigger.status = 200;
  run.push_back({"2026-11-24T10:00:01.520Z", trigger});
  SequenceEvent poll = Kind(EventKind::kPoll);
  poll.monitor = "status";
  poll.outcome = "drained";
  poll.value = 0;
  poll.detail = "HTTP 200";
  run.push_back({"2026-11-24T10:00:02.300Z", poll});
  SequenceEvent drained = Kind(EventKind::kPhase);
  drained.phase = Phase::kDrained;
  drained.elapsed = Millis(2400);
  drained.drain_end = DrainEndReason::kMonitor;
  drained.last_poll = "0 (drained): HTTP 200";
  drained.detail = "drained: 0 (drained): HTTP 200";
  run.push_back({"2026-11-24T10:00:02.404Z", drained});
  SequenceEvent signal = Kind(EventKind::kSignal);
  signal.signal = "SIGTERM";
  run.push_back({"2026-11-24T10:00:02.500Z", signal});
  SequenceEvent exit = Kind(EventKind::kExit);
  exit.result = SequenceEnd::kDrained;
  exit.exit_code = 0;
  run.push_back({"2026-11-24T10:00:03.500Z", exit});
  return run;
}

// Writes `run` through the sidecar's EventLog in `format`, each line stamped with its event's
// time (the logger stamps now), with an ordinary line between each two.
std::string WriteLog(const std::vector<Timed>& run, LogFormat format) {
  InitLogging(format, LogLevel::kTrace);
  auto out = std::make_shared<std::ostringstream>();
  SetLogSink([out](std::string_view line) { *out << line << '\n'; });
  EventLog log(format);
  std::string text;
  for (const Timed& timed : run) {
    out->str("");
    log.OnEvent(timed.event, EventContext{});
    Log(LogLevel::kInfo, "an ordinary line, phase drained, lb wait ended");
    std::string lines = out->str();
    REQUIRE(lines.size() > 24);
    // Both lines start with the 24-character timestamp.
    const size_t second = lines.find('\n') + 1;
    if (format == LogFormat::kJson) {
      const size_t at = lines.find("\"time\":\"") + 8;
      lines.replace(at, 24, timed.time);
      const size_t again = lines.find("\"time\":\"", second) + 8;
      lines.replace(again, 24, timed.time);
    } else {
      lines.replace(0, 24, timed.time);
      lines.replace(second, 24, timed.time);
    }
    text += lines;
  }
  SetLogSink({});
  InitLogging(LogFormat::kText, LogLevel::kError);
  return text;
}

// Every message of `log` replaced by another sentence; everything else as it was.
std::string Reword(const std::string& log, LogFormat format) {
  std::istringstream in(log);
  std::string line;
  std::string out;
  int n = 0;
  while (std::getline(in, line)) {
    const std::string words = "reworded message " + std::to_string(++n) + " phase drained";
    if (format == LogFormat::kJson) {
      nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(line);
      parsed["msg"] = words;
      out += parsed.dump() + "\n";
    } else {
      // TIME LEVEL [PHASE] MESSAGE[ event=...]
      const size_t start = line.find("] ") + 2;
      const size_t end = line.find(" event=", start);
      line.replace(start, (end == std::string::npos ? line.size() : end) - start, words);
      out += line + "\n";
    }
  }
  return out;
}

// Everything rehearse makes of a log: the JSON report, the summary and the HTML page.
std::string Everything(const std::string& log) {
  const auto t0 = *ParseUtcTimestamp("2026-11-24T10:00:00.000Z");
  RehearsalInputs inputs = testing::MakeInputs();
  inputs.settings.config.shutdown.lb_delay = LbDelay::Auto{};
  inputs.lastcall = ParseSidecarPhases(log, t0);
  inputs.lb_wait = ParseLbWaitRecord(log, t0);
  const RehearsalReport report = AssembleReport(inputs);
  return ReportToJson(report) + FormatSummary(report) + RenderHtmlReport(report);
}

TEST_CASE("rewording every message of lastcall's log leaves rehearse's report byte-identical") {
  for (const LogFormat format : {LogFormat::kJson, LogFormat::kText}) {
    CAPTURE(format == LogFormat::kJson ? "json" : "text");
    const std::string log = WriteLog(ARun(), format);
    const std::string reworded = Reword(log, format);
    REQUIRE(reworded != log);
    REQUIRE(reworded.find("lb wait ended") == std::string::npos);

    // The report found what the run did: it did not pass for want of reading anything.
    const auto t0 = *ParseUtcTimestamp("2026-11-24T10:00:00.000Z");
    const std::vector<SidecarPhase> phases = ParseSidecarPhases(reworded, t0);
    REQUIRE(phases.size() == 3);
    CHECK(phases[2].phase == "drained");
    CHECK(phases[2].why == "monitor");
    CHECK(phases[2].last_poll == "0 (drained): HTTP 200");
    const std::optional<LbWaitRecord> lb = ParseLbWaitRecord(reworded, t0);
    REQUIRE(lb);
    CHECK(lb->end == "quiet");
    CHECK(lb->last_traffic == Millis(420));

    const std::string report = Everything(log);
    CHECK(report.find("lb_delay auto: quiet for") != std::string::npos);
    CHECK(report.find("monitor said drained (0 (drained): HTTP 200)") != std::string::npos);
    CHECK(Everything(reworded) == report);
  }
  // And either format gives the same report.
  CHECK(Everything(WriteLog(ARun(), LogFormat::kText)) ==
        Everything(WriteLog(ARun(), LogFormat::kJson)));
}

}  // namespace
}  // namespace lastcall

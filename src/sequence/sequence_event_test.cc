#include "sequence/sequence_event.h"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

namespace lastcall {
namespace {

SequenceEvent Kind(EventKind kind) {
  SequenceEvent event;
  event.kind = kind;
  return event;
}

// One event of every kind, each with every field its kind carries.
std::vector<SequenceEvent> EveryKind() {
  std::vector<SequenceEvent> all;
  SequenceEvent triggered = Kind(EventKind::kTriggered);
  triggered.source = TriggerSource::kPreStop;
  triggered.detail = "preStop call from \"10.0.0.1\"";
  all.push_back(triggered);
  SequenceEvent joined = Kind(EventKind::kTriggerJoined);
  joined.source = TriggerSource::kSignal;
  joined.detail = "SIGTERM";
  all.push_back(joined);
  SequenceEvent resumed = Kind(EventKind::kResumed);
  resumed.phase = Phase::kDraining;
  resumed.elapsed = Millis(4200);
  resumed.ended = false;
  all.push_back(resumed);
  SequenceEvent phase = Kind(EventKind::kPhase);
  phase.phase = Phase::kDrained;
  phase.elapsed = Millis(2400);
  phase.drain_end = DrainEndReason::kMonitor;
  phase.last_poll = "0 (drained): HTTP 200";
  phase.detail = "drained: 0 (drained): HTTP 200";
  all.push_back(phase);
  SequenceEvent lb = Kind(EventKind::kLbWaitEnded);
  lb.lb_end = LbWaitWhy::kQuiet;
  lb.waited = Millis(1497);
  lb.last_traffic = Millis(420);
  lb.detail = "quiet for 1s = done";
  all.push_back(lb);
  SequenceEvent trigger = Kind(EventKind::kDrainTrigger);
  trigger.attempt = 2;
  trigger.outcome = "failed";
  trigger.url = "http://127.0.0.1:8080/drain?now=1";
  trigger.error = "connection refused";
  all.push_back(trigger);
  SequenceEvent accepted = Kind(EventKind::kDrainTrigger);
  accepted.attempt = 3;
  accepted.outcome = "accepted";
  accepted.status = 202;
  all.push_back(accepted);
  SequenceEvent poll = Kind(EventKind::kPoll);
  poll.monitor = "prometheus";
  poll.outcome = "busy";
  poll.value = 2.5;
  poll.detail = "";
  all.push_back(poll);
  all.push_back(Kind(EventKind::kAppDrained));
  SequenceEvent signal = Kind(EventKind::kSignal);
  signal.signal = "SIGTERM";
  signal.repeated = true;
  all.push_back(signal);
  all.push_back(Kind(EventKind::kNote));
  SequenceEvent failed = Kind(EventKind::kFailed);
  failed.phase = Phase::kDraining;
  failed.error = "std::bad_alloc";
  all.push_back(failed);
  SequenceEvent recovered = Kind(EventKind::kRecovered);
  recovered.recover_after = Millis(32000);
  all.push_back(recovered);
  SequenceEvent exit = Kind(EventKind::kExit);
  exit.result = SequenceEnd::kTimedOut;
  exit.exit_code = 1;
  all.push_back(exit);
  SequenceEvent removed = Kind(EventKind::kEndpointRemoved);
  removed.elapsed = Millis(1312);
  removed.slices = 2;
  removed.detail =
      "web-x7k2p (IPv4) terminating at +0.800s, web-v6-9fz1q (IPv6) terminating at "
      "+1.312s";
  all.push_back(removed);
  return all;
}

TEST_CASE("events: JSON both ways, every kind") {
  for (const SequenceEvent& event : EveryKind()) {
    const std::string json = EventToJson(event);
    CAPTURE(json);
    CHECK(json.rfind(R"({"v":1,"kind":")", 0) == 0);
    std::string error;
    const std::optional<SequenceEvent> read = EventFromJson(json, &error);
    REQUIRE(read);
    CHECK(error.empty());
    CHECK(read->kind == event.kind);
    CHECK(read->kind_name == ToString(event.kind));
    CHECK(EventToJson(*read) == json);
  }
}

TEST_CASE("events: endpoint_removed carries its fields") {
  SequenceEvent removed = Kind(EventKind::kEndpointRemoved);
  removed.elapsed = Millis(812);
  removed.slices = 2;
  removed.detail = "both";
  CHECK(EventToJson(removed) ==
        R"({"v":1,"kind":"endpoint_removed","elapsed_ms":812,"slices":2,"detail":"both"})");
  std::string error;
  const std::optional<SequenceEvent> read = EventFromJson(
      R"({"v":1,"kind":"endpoint_removed","elapsed_ms":812,"slices":2,"detail":"both"})", &error);
  REQUIRE(read);
  CHECK(read->kind == EventKind::kEndpointRemoved);
  CHECK(read->slices == 2);
  CHECK(read->elapsed == Millis(812));
}

TEST_CASE("events: on log lines of either format, read back through the schema alone") {
  for (const LogFormat format : {LogFormat::kJson, LogFormat::kText}) {
    for (const SequenceEvent& event : EveryKind()) {
      const LogFields fields = EventLogFields(event, format);
      const std::string line =
          format == LogFormat::kJson
              ? FormatJsonLine("2026-11-24T10:00:01.500Z", LogLevel::kInfo, Phase::kDraining,
                               "words event=not one", fields)
              : FormatTextLine("2026-11-24T10:00:01.500Z", LogLevel::kInfo, Phase::kDraining,
                               "words [x] event=not one", fields);
      CAPTURE(line);
      std::string error;
      const std::optional<LoggedEvent> read = ReadLoggedEvent(line, &error);
      REQUIRE(read);
      CHECK(error.empty());
      CHECK(read->time == "2026-11-24T10:00:01.500Z");
      CHECK(EventToJson(read->event) == EventToJson(event));
    }
  }
  // Numbers as the log has always written them: "3", not "3.0"; and the values JSON has none for.
  SequenceEvent poll = Kind(EventKind::kPoll);
  poll.value = 3;
  CHECK(FormatTextLine("T", LogLevel::kDebug, Phase::kDraining, "drain poll",
                       EventLogFields(poll, LogFormat::kText)) ==
        "T debug [draining] drain poll event=poll v=1 value=3");
  poll.value = std::numeric_limits<double>::infinity();
  CHECK(EventToJson(poll) == R"({"v":1,"kind":"poll","value":"+Inf"})");
  std::string error;
  const std::optional<SequenceEvent> infinite = EventFromJson(EventToJson(poll), &error);
  REQUIRE(infinite);
  CHECK(infinite->value == std::numeric_limits<double>::infinity());

  // A text line looks like the old one, with the record after the message.
  SequenceEvent phase = Kind(EventKind::kPhase);
  phase.phase = Phase::kUnready;
  phase.elapsed = Millis(0);
  phase.detail = "triggered by signal";
  CHECK(FormatTextLine("T", LogLevel::kInfo, Phase::kUnready, "phase unready",
                       EventLogFields(phase, LogFormat::kText)) ==
        R"(T info  [unready] phase unready event=phase v=1 phase=unready elapsed_ms=0 )"
        R"(detail="triggered by signal")");
}

TEST_CASE("events: lines without one, and records a reader must refuse or tolerate") {
  std::string error;
  for (const char* line :
       {"", "not a log line", R"({"time":"2026-11-24T10:00:01.500Z","msg":"phase drained"})",
        "2026-11-24T10:00:01.500Z info  [draining] phase drained elapsed_ms=3", "{broken"}) {
    CAPTURE(line);
    CHECK_FALSE(ReadLoggedEvent(line, &error));
    CHECK(error.empty());
  }

  // Unknown kinds, fields and enum values (a newer minor version): read, ignored.
  std::optional<SequenceEvent> read = EventFromJson(
      R"({"v":1,"kind":"mesh_quit","proxy":"envoy","phase":"resting","detail":"asked"})", &error);
  REQUIRE(read);
  CHECK(read->kind == EventKind::kUnknown);
  CHECK(read->kind_name == "mesh_quit");
  CHECK_FALSE(read->phase);
  CHECK(read->detail == "asked");
  read = EventFromJson(R"({"v":1,"kind":"phase","phase":"drained","why":"psychic"})", &error);
  REQUIRE(read);
  CHECK(read->phase == Phase::kDrained);
  CHECK_FALSE(read->drain_end);

  // A newer major version: a clear error, not a guess.
  CHECK_FALSE(EventFromJson(R"({"v":2,"kind":"phase","phase":"drained"})", &error));
  CHECK(error.find("schema version 2, newer than this lastcall reads (1)") != std::string::npos);
  error.clear();
  CHECK_FALSE(ReadLoggedEvent(
      R"({"time":"2026-11-24T10:00:01.500Z","msg":"x","event":{"v":3,"kind":"phase"}})", &error));
  CHECK(error.find("schema version 3") != std::string::npos);
  error.clear();
  CHECK_FALSE(
      ReadLoggedEvent("2026-11-24T10:00:01.500Z info  [draining] x event=phase v=2", &error));
  CHECK(error.find("schema version 2") != std::string::npos);

  struct Bad {
    const char* json;
    const char* error;
  };
  for (const Bad& bad : {
           Bad{R"([1,2])", "not a JSON object"},
           Bad{R"({"kind":"phase"})", "no schema version"},
           Bad{R"({"v":"one","kind":"phase"})", "no schema version"},
           Bad{R"({"v":0,"kind":"phase"})", "versions start at 1"},
           Bad{R"({"v":1})", "no kind"},
           Bad{R"({"v":1,"kind":"phase","elapsed_ms":"soon"})", "\"elapsed_ms\" is not an integer"},
           Bad{R"({"v":1,"kind":"phase","detail":42})", "\"detail\" is not a string"},
           Bad{R"({"v":1,"kind":"signal","repeated":"yes"})", "\"repeated\" is not true or false"},
           Bad{"{", "not valid JSON"},
       }) {
    CAPTURE(bad.json);
    error.clear();
    CHECK_FALSE(EventFromJson(bad.json, &error));
    CHECK(error.find(bad.error) != std::string::npos);
  }
  error.clear();
  CHECK_FALSE(ReadLoggedEvent(R"(T info  [x] m event=phase v=1 detail="open)", &error));
  CHECK(error.find("unterminated") != std::string::npos);
}

}  // namespace
}  // namespace lastcall

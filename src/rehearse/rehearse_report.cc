#include "rehearse_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/duration.h"
#include "base/net_util.h"
#include "config/config_loader.h"
#include "sequence/sequence_event.h"

namespace lastcall {
namespace {

using Json = nlohmann::ordered_json;
using SysClock = std::chrono::system_clock;

bool ContainsIgnoreCase(std::string_view text, std::string_view needle) {
  return ToLowerAscii(text).find(ToLowerAscii(needle)) != std::string::npos;
}

// The first kubelet event for `container` whose `what` mentions `word`.
std::optional<Millis> FirstEvent(const std::vector<KubeletEvent>& events,
                                 const std::string& container, std::string_view word) {
  for (const KubeletEvent& event : events) {
    if (event.container == container && ContainsIgnoreCase(event.what, word)) return event.at;
  }
  return std::nullopt;
}

ContainerSummary Summarize(const ContainerOutcome& outcome,
                           const std::vector<KubeletEvent>& events) {
  ContainerSummary out;
  out.exit_code = outcome.exit_code;
  out.killed = outcome.killed;
  if (outcome.exit_code) out.exited_at = outcome.exited_at;
  out.sigterm_at = FirstEvent(events, outcome.name, "SIGTERM");
  out.sigkill_at = FirstEvent(events, outcome.name, "SIGKILL");
  out.hook_result = outcome.hook_result;
  if (outcome.hook_result) out.hook_returned_at = outcome.hook_returned_at;
  out.group_killed = outcome.group_killed;
  return out;
}

// Bucket width: 100 ms for up to 30 s, 250 ms up to 75 s, then whatever keeps ~300 buckets.
Millis BucketWidth(Millis span) {
  if (span <= Millis(30000)) return Millis(100);
  if (span <= Millis(75000)) return Millis(250);
  const long long quarters = (span.count() / 300 + 249) / 250;
  return Millis(quarters * 250);
}

Json OptionalMillis(const std::optional<Millis>& value) {
  return value ? Json(value->count()) : Json(nullptr);
}

Json OptionalInt(const std::optional<int>& value) { return value ? Json(*value) : Json(nullptr); }

Json ContainerJson(const ContainerSummary& summary) {
  return Json{{"exit_code", OptionalInt(summary.exit_code)},
              {"killed", summary.killed},
              {"exited_at_ms", OptionalMillis(summary.exited_at)},
              {"sigterm_at_ms", OptionalMillis(summary.sigterm_at)},
              {"sigkill_at_ms", OptionalMillis(summary.sigkill_at)},
              {"prestop_result", OptionalInt(summary.hook_result)},
              {"prestop_returned_at_ms", OptionalMillis(summary.hook_returned_at)},
              {"group_killed", summary.group_killed}};
}

std::string Plural(uint64_t count, std::string_view one, std::string_view many) {
  return std::to_string(count) + " " + std::string(count == 1 ? one : many);
}

}  // namespace

std::string_view ToString(Advice::Level level) {
  switch (level) {
    case Advice::Level::kOk:
      return "ok";
    case Advice::Level::kInfo:
      return "info";
    case Advice::Level::kWarning:
      return "warning";
    case Advice::Level::kProblem:
      return "problem";
  }
  return "info";
}

uint64_t RequestTotals::failed() const {
  uint64_t total = 0;
  for (int i = 0; i < kRequestOutcomeCount; ++i) {
    if (IsFailure(static_cast<RequestOutcome>(i))) total += by_outcome[static_cast<size_t>(i)];
  }
  return total;
}

std::string FormatOffset(Millis at) {
  const long long ms = at.count();
  const long long magnitude = ms < 0 ? -ms : ms;
  return fmt::format("{}{}.{:02d}s", ms < 0 ? '-' : '+', magnitude / 1000, (magnitude % 1000) / 10);
}

std::string FormatMeasured(Millis span) {
  const long long ms = span.count();
  if (ms < 1000 && ms > -1000) return std::to_string(ms) + "ms";
  return FormatOffset(span).substr(ms < 0 ? 0 : 1);
}

std::optional<SysClock::time_point> ParseUtcTimestamp(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.mmm]Z
  auto number = [&](size_t at, size_t digits) -> std::optional<int> {
    if (at + digits > text.size()) return std::nullopt;
    int value = 0;
    for (size_t i = at; i < at + digits; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text.back() != 'Z') {
    return std::nullopt;
  }
  const auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  int millis = 0;
  if (text.size() == 24 && text[19] == '.') {
    const auto fraction = number(20, 3);
    if (!fraction) return std::nullopt;
    millis = *fraction;
  } else if (text.size() != 20) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  return SysClock::time_point(std::chrono::sys_days(date)) + std::chrono::hours(*hour) +
         std::chrono::minutes(*minute) + std::chrono::seconds(*second) + Millis(millis);
}

namespace {

// Calls `visit(event, at)` for each event lastcall logged (JSON or text format) whose time
// parses, `at` relative to `t0`. Lines without an event, and events that cannot be read, are
// skipped: only the typed record is read, never the message (sequence_event.h).
template <typename Visit>
void ForEachEvent(std::string_view log, SysClock::time_point t0, Visit visit) {
  while (!log.empty()) {
    const size_t newline = log.find('\n');
    const std::string_view line = log.substr(0, newline);
    log.remove_prefix(newline == std::string_view::npos ? log.size() : newline + 1);
    std::string error;
    const std::optional<LoggedEvent> logged = ReadLoggedEvent(line, &error);
    if (!logged) continue;
    const auto at = ParseUtcTimestamp(logged->time);
    if (!at) continue;
    visit(logged->event, std::chrono::duration_cast<Millis>(*at - t0));
  }
}

}  // namespace

std::vector<SidecarPhase> ParseSidecarPhases(std::string_view log, SysClock::time_point t0) {
  std::vector<SidecarPhase> phases;
  ForEachEvent(log, t0, [&](const SequenceEvent& event, Millis at) {
    if (event.kind != EventKind::kPhase || !event.phase) return;
    SidecarPhase phase;
    phase.phase = std::string(ToString(*event.phase));
    phase.at = at;
    phase.detail = event.detail;
    if (event.drain_end) phase.why = std::string(ToString(*event.drain_end));
    phase.last_poll = event.last_poll;
    phases.push_back(std::move(phase));
  });
  return phases;
}

std::optional<LbWaitRecord> ParseLbWaitRecord(std::string_view log, SysClock::time_point t0) {
  std::optional<LbWaitRecord> record;
  ForEachEvent(log, t0, [&](const SequenceEvent& event, Millis at) {
    if (record || event.kind != EventKind::kLbWaitEnded || !event.lb_end) return;
    record = LbWaitRecord{std::string(ToString(*event.lb_end)), at,
                          *event.lb_end == LbWaitWhy::kAppGone ? std::nullopt : event.last_traffic};
  });
  return record;
}

namespace {

std::optional<Millis> PhaseAt(const std::vector<SidecarPhase>& phases, std::string_view name) {
  for (const SidecarPhase& phase : phases) {
    if (phase.phase == name) return phase.at;
  }
  return std::nullopt;
}

}  // namespace

std::optional<WaitEnd> ExplainLbWait(const std::vector<SidecarPhase>& phases,
                                     const std::optional<LbWaitRecord>& record,
                                     const Config& config) {
  const std::optional<Millis> draining_at = PhaseAt(phases, "draining");
  if (!draining_at) return std::nullopt;
  // A quiet or max end comes from an auto wait; the defaults stand in should the log say so of a
  // fixed one.
  const LbDelay::Auto lb_auto = config.shutdown.lb_delay.auto_settings() != nullptr
                                    ? *config.shutdown.lb_delay.auto_settings()
                                    : LbDelay::Auto{};
  WaitEnd out;
  out.at = draining_at;
  const std::string end = record ? record->end : "";
  if (end == "app_gone" || end == "cancelled") {
    out.reason = "app_gone";
    out.text = "the app is gone (connection refused): nobody left to route to";
  } else if (end == "quiet") {
    out.reason = "quiet";
    const std::optional<Millis> unready_at = PhaseAt(phases, "unready");
    out.text =
        "lb_delay auto: quiet for " + FormatDuration(lb_auto.quiet) +
        (record->last_traffic && unready_at
             ? " after the last request at " + FormatOffset(*unready_at + *record->last_traffic)
             : " (no request after the pod turned unready), past min " +
                   FormatDuration(lb_auto.min));
  } else if (end == "max") {
    out.reason = "max";
    out.text = "lb_delay auto: max " + FormatDuration(lb_auto.max) +
               " reached: traffic kept arriving (or could not be observed)";
  } else if (end == "deadline") {
    out.reason = "deadline";
    out.text = "lb_delay auto: cut short to fit the grace period";
  } else {
    out.reason = "fixed";
    out.text = "fixed lb_delay " + FormatDuration(config.shutdown.lb_delay.bound()) + " passed";
  }
  return out;
}

std::optional<WaitEnd> ExplainDrain(const std::vector<SidecarPhase>& phases, const Config& config) {
  for (const SidecarPhase& phase : phases) {
    if (phase.phase != "drained" && phase.phase != "timed_out") continue;
    WaitEnd out;
    out.at = phase.at;
    if (phase.phase == "timed_out") {
      out.reason = "timeout";
      out.text = "drain.timeout " + FormatDuration(config.shutdown.drain.timeout) +
                 " passed with the app still busy";
    } else if (phase.why == "pushed") {
      out.reason = "pushed";
      out.text = "the app pushed that it is drained (POST /drained)";
    } else if (phase.why == "app_gone") {
      out.reason = "app_gone";
      out.text = "the app is gone (connection refused)";
    } else if (phase.why == "waited") {
      out.reason = "waited";
      out.text = "monitor none: waited the drain timeout";
    } else {
      out.reason = "monitor";
      out.text = "the " + FormatConfigValue(config, "shutdown.drain.monitor.kind") +
                 " monitor said drained" +
                 (phase.last_poll.empty() ? "" : " (" + phase.last_poll + ")");
      if (config.shutdown.drain.monitor.long_poll.count() > 0) out.text += ", long-polled";
    }
    return out;
  }
  return std::nullopt;
}

RehearsalReport AssembleReport(const RehearsalInputs& inputs) {
  RehearsalReport report;
  report.version = inputs.version;
  report.started_at = inputs.started_at;
  report.settings = inputs.settings;
  report.endpoint_removed_at = inputs.endpoint_removed_at;
  report.lastcall = inputs.lastcall;
  report.kubelet = inputs.termination.timeline;
  const Millis t0 = inputs.t0_since_load_start;
  const Config& config = inputs.settings.config;

  // ---- requests
  RequestTotals& totals = report.requests;
  Millis data_end{0};
  if (!inputs.requests.empty()) report.load_ended_at = inputs.requests.front().sent_at - t0;
  for (const RequestRecord& record : inputs.requests) {
    const Millis sent = record.sent_at - t0;
    const Millis finished = record.finished_at - t0;
    ++totals.sent;
    ++totals.by_outcome[static_cast<size_t>(record.outcome)];
    report.load_ended_at = std::max(report.load_ended_at, sent);
    data_end = std::max(data_end, finished);
    if (record.outcome == RequestOutcome::kNon2xx) ++totals.non_2xx_statuses[record.status];
    if (record.outcome == RequestOutcome::kOk || record.outcome == RequestOutcome::kNon2xx) {
      totals.longest_replica = std::max(totals.longest_replica, finished - sent);
    }
    if (record.outcome == RequestOutcome::kOk && inputs.endpoint_removed_at &&
        inputs.settings.through_balancer && sent >= *inputs.endpoint_removed_at) {
      ++totals.replica_after_removal;
    }
    if (IsFailure(record.outcome) && report.failures.size() < kMaxListedFailures) {
      const auto& paths = inputs.settings.paths;
      report.failures.push_back(
          FailedRequest{sent, finished, record.outcome, record.status,
                        record.path_index < paths.size() ? paths[record.path_index] : "",
                        record.reused_connection});
    }
  }

  // ---- containers
  const TerminationReport& termination = inputs.termination;
  report.app = Summarize(termination.app, termination.timeline);
  if (termination.sidecar) report.sidecar = Summarize(*termination.sidecar, termination.timeline);
  report.app_exited_in_grace = report.app.exited_at && !report.app.killed &&
                               *report.app.exited_at <= config.shutdown.grace_period;
  // An app rehearse did not start was represented by a stand-in process: its exit says nothing.
  const bool app_started = inputs.settings.app_started;

  // ---- lastcall's drain
  std::optional<Millis> draining_at;
  for (const SidecarPhase& phase : report.lastcall) {
    if (phase.phase == "draining" && !draining_at) draining_at = phase.at;
    if ((phase.phase == "drained" || phase.phase == "timed_out") && draining_at &&
        !report.drain_time) {
      report.drain_time = phase.at - *draining_at;
    }
  }

  report.lb_wait_end = ExplainLbWait(report.lastcall, inputs.lb_wait, config);
  report.drain_end = ExplainDrain(report.lastcall, config);

  // ---- markers
  auto mark = [&](std::string id, std::string label, std::string source, Millis at,
                  std::string detail = "") {
    report.phases.push_back(
        {std::move(id), std::move(label), std::move(source), at, std::move(detail)});
  };
  mark("deletion", "pod deleted", "kubelet", Millis(0), "preStop hooks start");
  if (report.endpoint_removed_at) {
    mark("endpoint-removed", "endpoint removed", "balancer", *report.endpoint_removed_at,
         inputs.settings.through_balancer ? "the load balancer stops routing new connections"
                                          : "--direct: nothing stops sending to the app");
  }
  for (const SidecarPhase& phase : report.lastcall) {
    if (phase.phase == "serving") continue;
    std::string id = phase.phase;
    std::replace(id.begin(), id.end(), '_', '-');
    mark(id, "lastcall " + phase.phase, "lastcall", phase.at, phase.detail);
  }
  const ContainerSummary& app = report.app;
  if (app.hook_returned_at) {
    mark("prestop-returned", "app preStop returned", "kubelet", *app.hook_returned_at,
         app.hook_result ? "result " + std::to_string(*app.hook_result) : "");
  }
  if (app.sigterm_at) {
    mark("app-sigterm", "app SIGTERM", "kubelet", *app.sigterm_at,
         app_started ? "" : "not delivered: rehearse did not start the app");
  }
  if (app.sigkill_at && app_started) mark("app-sigkill", "app SIGKILL", "kubelet", *app.sigkill_at);
  if (app.exited_at && app_started) {
    std::string detail = app.exit_code ? "exit code " + std::to_string(*app.exit_code) : "";
    if (app.group_killed > 0) {
      detail += (detail.empty() ? "" : "; ") +
                (app.group_killed == 1
                     ? std::string("1 more process of its group was still running and was killed")
                     : std::to_string(app.group_killed) +
                           " more processes of its group were still running and were killed");
    }
    mark(app.killed ? "app-killed" : "app-exited", app.killed ? "app killed" : "app exited",
         "kubelet", *app.exited_at, detail);
  }
  if (report.sidecar && report.sidecar->exited_at) {
    mark(
        report.sidecar->killed ? "sidecar-killed" : "sidecar-exited",
        report.sidecar->killed ? "lastcall killed" : "lastcall exited", "kubelet",
        *report.sidecar->exited_at,
        report.sidecar->exit_code ? "exit code " + std::to_string(*report.sidecar->exit_code) : "");
  }
  mark("grace-deadline", "grace period ends", "kubelet", config.shutdown.grace_period,
       "terminationGracePeriodSeconds: SIGKILL for whatever still runs");
  if (!inputs.requests.empty()) mark("load-end", "load stopped", "load", report.load_ended_at);
  std::stable_sort(report.phases.begin(), report.phases.end(),
                   [](const PhaseMark& a, const PhaseMark& b) { return a.at < b.at; });

  // ---- buckets
  for (const PhaseMark& phase : report.phases) {
    if (phase.id != "grace-deadline") data_end = std::max(data_end, phase.at);
  }
  report.buckets_start = -t0;
  const Millis span = data_end - report.buckets_start;
  report.bucket_width = BucketWidth(span);
  const long long width = report.bucket_width.count();
  const size_t count = static_cast<size_t>(span.count() / width + 1);
  report.buckets.assign(count, Bucket{});
  std::vector<long long> in_flight_change(count + 1, 0);
  auto index = [&](Millis at) {
    const long long i = (at - report.buckets_start).count() / width;
    return static_cast<size_t>(std::clamp<long long>(i, 0, static_cast<long long>(count) - 1));
  };
  for (const RequestRecord& record : inputs.requests) {
    if (record.outcome == RequestOutcome::kNotSent) continue;
    const size_t sent = index(record.sent_at - t0);
    const size_t finished = index(record.finished_at - t0);
    Bucket& done = report.buckets[finished];
    ++report.buckets[sent].sent;
    if (record.outcome == RequestOutcome::kOk) {
      ++done.ok;
    } else if (record.outcome == RequestOutcome::kOtherReplica) {
      ++done.other_replica;
    } else {
      ++done.failed;
    }
    ++in_flight_change[sent];
    --in_flight_change[finished];
  }
  long long in_flight = 0;
  for (size_t i = 0; i < count; ++i) {
    in_flight += in_flight_change[i];
    report.buckets[i].in_flight = static_cast<uint32_t>(std::max<long long>(in_flight, 0));
  }
  return report;
}

std::string ReportToJson(const RehearsalReport& report) {
  const RehearsalSettings& settings = report.settings;
  const Config& config = settings.config;
  const RequestTotals& requests = report.requests;
  Json out;
  out["lastcall_version"] = report.version;
  out["started_at"] = report.started_at;
  out["passed"] = report.passed();
  out["exit_code"] = report.passed() ? 0 : 1;
  out["settings"] = {{"app", settings.app},
                     {"app_url", settings.app_url},
                     {"app_started", settings.app_started},
                     {"through_balancer", settings.through_balancer},
                     {"shape", settings.native_sidecar ? "native" : "regular"},
                     {"app_pushes", settings.app_pushes},
                     {"lb_delay", FormatConfigValue(config, "shutdown.lb_delay")},
                     {"long_poll_ms", config.shutdown.drain.monitor.long_poll.count()},
                     {"monitor_count", FormatConfigValue(config, "shutdown.drain.monitor.count")},
                     {"rps", settings.rps},
                     {"paths", settings.paths},
                     {"warmup_ms", settings.warmup.count()},
                     {"propagation_delay_ms", settings.propagation_delay.count()},
                     {"request_timeout_ms", settings.request_timeout.count()},
                     {"config_file", settings.config_file},
                     {"lb_delay_ms", config.shutdown.lb_delay.bound().count()},
                     {"drain_timeout_ms", config.shutdown.drain.timeout.count()},
                     {"exit_delay_ms", config.shutdown.exit_delay.count()},
                     {"grace_period_ms", config.shutdown.grace_period.count()},
                     {"monitor", FormatConfigValue(config, "shutdown.drain.monitor.kind")},
                     {"poll_interval_ms", config.shutdown.drain.monitor.interval.count()}};
  Json by_cause = Json::object();
  for (RequestOutcome outcome :
       {RequestOutcome::kRefused, RequestOutcome::kReset, RequestOutcome::kTimeout,
        RequestOutcome::kNon2xx, RequestOutcome::kMalformed}) {
    by_cause[std::string(ToString(outcome))] = requests.count(outcome);
  }
  Json statuses = Json::object();
  for (const auto& [status, count] : requests.non_2xx_statuses) {
    statuses[std::to_string(status)] = count;
  }
  out["requests"] = {{"sent", requests.sent},
                     {"succeeded", requests.succeeded()},
                     {"ok", requests.count(RequestOutcome::kOk)},
                     {"other_replica", requests.count(RequestOutcome::kOtherReplica)},
                     {"failed", requests.failed()},
                     {"failed_by_cause", by_cause},
                     {"non_2xx_statuses", statuses},
                     {"not_sent", requests.count(RequestOutcome::kNotSent)},
                     {"longest_replica_ms", requests.longest_replica.count()},
                     {"replica_after_removal", requests.replica_after_removal}};
  Json app = ContainerJson(report.app);
  app["exited_in_grace"] = report.app_exited_in_grace;
  app["drain_ms"] = OptionalMillis(report.drain_time);
  out["app"] = app;
  Json lastcall = report.sidecar ? ContainerJson(*report.sidecar) : Json::object();
  Json phases = Json::array();
  for (const SidecarPhase& phase : report.lastcall) {
    phases.push_back(
        {{"phase", phase.phase}, {"at_ms", phase.at.count()}, {"detail", phase.detail}});
  }
  lastcall["phases"] = phases;
  out["lastcall"] = lastcall;
  auto wait_json = [](const std::optional<WaitEnd>& end) {
    if (!end) return Json(nullptr);
    return Json{{"reason", end->reason}, {"text", end->text}, {"at_ms", OptionalMillis(end->at)}};
  };
  out["waits"] = {{"lb", wait_json(report.lb_wait_end)}, {"drain", wait_json(report.drain_end)}};
  out["endpoint_removed_at_ms"] = OptionalMillis(report.endpoint_removed_at);
  out["load_ended_at_ms"] = report.load_ended_at.count();
  Json marks = Json::array();
  for (const PhaseMark& mark : report.phases) {
    marks.push_back({{"id", mark.id},
                     {"label", mark.label},
                     {"source", mark.source},
                     {"at_ms", mark.at.count()},
                     {"detail", mark.detail}});
  }
  out["phases"] = marks;
  Json kubelet = Json::array();
  for (const KubeletEvent& event : report.kubelet) {
    kubelet.push_back({{"at_ms", event.at.count()},
                       {"container", event.container},
                       {"what", event.what},
                       {"detail", event.detail}});
  }
  out["kubelet"] = kubelet;
  Json failures = Json::array();
  for (const FailedRequest& failure : report.failures) {
    failures.push_back({{"sent_at_ms", failure.sent_at.count()},
                        {"finished_at_ms", failure.finished_at.count()},
                        {"cause", ToString(failure.outcome)},
                        {"status", failure.status},
                        {"path", failure.path},
                        {"reused_connection", failure.reused_connection}});
  }
  out["failures"] = failures;
  Json timeline = {{"bucket_ms", report.bucket_width.count()},
                   {"start_ms", report.buckets_start.count()}};
  for (const char* series : {"sent", "ok", "other_replica", "failed", "in_flight"}) {
    Json values = Json::array();
    for (const Bucket& bucket : report.buckets) {
      const std::string_view name = series;
      values.push_back(name == "sent"            ? bucket.sent
                       : name == "ok"            ? bucket.ok
                       : name == "other_replica" ? bucket.other_replica
                       : name == "failed"        ? bucket.failed
                                                 : bucket.in_flight);
    }
    timeline[series] = values;
  }
  out["timeline"] = timeline;
  Json advice = Json::array();
  for (const Advice& item : report.advice) {
    advice.push_back({{"level", ToString(item.level)}, {"id", item.id}, {"text", item.text}});
  }
  out["advice"] = advice;
  return out.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string FormatSummary(const RehearsalReport& report) {
  const RequestTotals& requests = report.requests;
  const Millis grace = report.settings.config.shutdown.grace_period;
  std::string out;
  if (report.passed()) {
    out += "PASSED: nothing lost";
    if (report.app.exited_at && report.settings.app_started) {
      out += "; the app exited at " + FormatOffset(*report.app.exited_at) + ", " +
             FormatMeasured(grace - *report.app.exited_at) + " before the grace period ended";
    }
    out += ".\n";
  } else {
    std::vector<std::string> reasons;
    if (requests.failed() > 0)
      reasons.push_back(Plural(requests.failed(), "request", "requests") + " lost");
    if (report.app.killed) {
      reasons.push_back("the app was killed at the end of the grace period");
    } else if (!report.app.exited_at) {
      reasons.push_back("the app did not exit");
    } else if (!report.app_exited_in_grace) {
      reasons.push_back("the app exited after the grace period");
    }
    out += "FAILED: ";
    for (size_t i = 0; i < reasons.size(); ++i) out += (i > 0 ? "; " : "") + reasons[i];
    out += ".\n";
  }
  out += fmt::format(
      "\nrequests   {} sent: {} answered by the replica, {} by other replicas, {} failed\n",
      requests.sent, requests.count(RequestOutcome::kOk),
      requests.count(RequestOutcome::kOtherReplica), requests.failed());
  if (requests.failed() > 0) {
    out += fmt::format(
        "           failed: refused {}, reset {}, timeout {}, non-2xx {}, malformed {}\n",
        requests.count(RequestOutcome::kRefused), requests.count(RequestOutcome::kReset),
        requests.count(RequestOutcome::kTimeout), requests.count(RequestOutcome::kNon2xx),
        requests.count(RequestOutcome::kMalformed));
  }
  if (requests.replica_after_removal > 0) {
    out += fmt::format(
        "           {} reached the replica after the endpoint removal (kept-alive connections)\n",
        Plural(requests.replica_after_removal, "request", "requests"));
  }
  if (requests.count(RequestOutcome::kNotSent) > 0) {
    out += fmt::format("           not sent (the load generator's own limit): {}\n",
                       requests.count(RequestOutcome::kNotSent));
  }
  if (report.drain_time)
    out += "drain      " + FormatMeasured(*report.drain_time) + " (lastcall's draining phase)\n";
  if (report.lb_wait_end || report.drain_end) out += "\nwhy each wait ended\n";
  for (const auto& [name, end] :
       {std::pair{"lb wait", &report.lb_wait_end}, std::pair{"drain", &report.drain_end}}) {
    if (*end) {
      out += fmt::format("  {:<8} {:>8}  {}\n", name, (*end)->at ? FormatOffset(*(*end)->at) : "",
                         (*end)->text);
    }
  }
  out += "\ntimeline (T0 = the pod's deletion)\n";
  for (const PhaseMark& mark : report.phases) {
    out += fmt::format("  {:>8}  {:<9} {}{}\n", FormatOffset(mark.at), mark.source, mark.label,
                       mark.detail.empty() ? "" : ": " + mark.detail);
  }
  if (!report.advice.empty()) {
    out += "\nadvice\n";
    for (const Advice& advice : report.advice) {
      out += fmt::format("  [{}] {}\n", ToString(advice.level), advice.text);
    }
  }
  return out;
}

}  // namespace lastcall

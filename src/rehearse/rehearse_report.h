#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/text.h"
#include "config/config.h"
#include "kubelet_emulator.h"
#include "rehearse_load.h"

// What `lastcall rehearse` found: the model behind its summary, its JSON report and its HTML page.
// Every time in it is a signed offset from T0, the moment the pod was "deleted" (negative during
// the warm-up before it). Building the model is pure, so it is tested without processes.
namespace lastcall {

// What the rehearsal ran with.
struct RehearsalSettings {
  std::string app;               // the app's command line, or "already running"
  std::string app_url;           // where the app listens
  bool through_balancer = true;  // false with --direct
  bool native_sidecar = false;
  bool app_pushes = false;  // --push: the app POSTs /drained to lastcall
  bool app_started = true;  // false: --app-url without --app-cmd (rehearse cannot stop it)
  int rps = 100;
  std::vector<std::string> paths;
  Millis warmup{1000};             // load start -> T0
  Millis propagation_delay{1000};  // T0 -> the balancer stops routing new connections
  Millis request_timeout{10000};
  std::string config_file;  // "" when none
  Config config;            // the effective lastcall configuration (grace_period included)
};

// A vertical marker on the timeline.
struct PhaseMark {
  std::string id;      // stable, for data-phase attributes: "deletion", "unready", "draining", ...
  std::string label;   // for people: "lastcall draining"
  std::string source;  // "kubelet", "lastcall", "balancer", "load"
  Millis at{0};
  std::string detail;
};

// One of lastcall's own phase changes, read from its log's events (sequence_event.h).
struct SidecarPhase {
  std::string phase;  // "unready", "draining", "drained", "timed_out", "serving"
  Millis at{0};
  std::string detail;
  std::string why;        // drained / timed_out: DrainEndReason ("monitor", "pushed", ...)
  std::string last_poll;  // drained by the monitor: what it last said
};

// What lastcall logged when its lb wait ended early (its lb_wait_ended event: lb_delay auto's end,
// or a fixed lb_delay cut short because the app was gone).
struct LbWaitRecord {
  std::string end;  // "quiet", "max", "deadline", "cancelled" (auto); "app_gone" (fixed)
  Millis at{0};     // since T0
  std::optional<Millis> last_traffic;  // auto: the last traffic on the app's ports, since unready
};

// Why one of lastcall's waits ended, for people and for tools.
struct WaitEnd {
  // lb wait: "fixed", "quiet", "max", "deadline", "app_gone";
  // drain: "monitor", "pushed", "app_gone", "waited" (monitor none), "timeout".
  std::string reason;
  std::string text;  // one sentence: "quiet for 1s after the last request at +0.42s"
  std::optional<Millis> at;
};

// A request that failed, for the report's list and for the advice rules.
struct FailedRequest {
  Millis sent_at{0};
  Millis finished_at{0};
  RequestOutcome outcome = RequestOutcome::kReset;
  int status = 0;
  std::string path;
  bool reused_connection = false;
};

// One slice of the timeline: requests that finished in it, by kind, and those in flight at its end.
struct Bucket {
  uint32_t sent = 0;
  uint32_t ok = 0;             // answered by the replica (2xx)
  uint32_t other_replica = 0;  // answered by the rest of the Service
  uint32_t failed = 0;
  uint32_t in_flight = 0;  // at the end of the bucket
};

struct RequestTotals {
  uint64_t sent = 0;  // requests the load generator started (not_sent included)
  std::array<uint64_t, kRequestOutcomeCount> by_outcome{};
  std::map<int, uint64_t> non_2xx_statuses;
  Millis longest_replica{0};  // the longest time the replica took to answer (2xx or not)
  // Answered by the replica although sent after the endpoint removal (kept-alive connections).
  uint64_t replica_after_removal = 0;
  uint64_t count(RequestOutcome outcome) const { return by_outcome[static_cast<size_t>(outcome)]; }
  uint64_t failed() const;
  uint64_t succeeded() const {  // by the replica or the rest of the Service
    return count(RequestOutcome::kOk) + count(RequestOutcome::kOtherReplica);
  }
};

struct ContainerSummary {
  std::optional<int> exit_code;
  bool killed = false;
  std::optional<Millis> exited_at;  // unset: still running when the emulation ended
  std::optional<Millis> sigterm_at;
  std::optional<Millis> sigkill_at;
  std::optional<int> hook_result;
  std::optional<Millis> hook_returned_at;
  int group_killed = 0;  // other processes of its group killed when it ended (kubelet_emulator.h)
};

struct Advice {
  enum class Level { kOk, kInfo, kWarning, kProblem };
  Level level = Level::kInfo;
  std::string id;    // stable: "lb-delay-short", "killed-in-flight", ...
  std::string text;  // one or two sentences with concrete numbers and the setting to change
};
std::string_view ToString(Advice::Level level);

struct RehearsalReport {
  std::string version;     // lastcall's
  std::string started_at;  // wall clock of T0, ISO 8601 UTC
  RehearsalSettings settings;
  RequestTotals requests;
  std::vector<FailedRequest> failures;  // in the order sent; at most kMaxListedFailures
  std::optional<Millis> endpoint_removed_at;
  Millis load_ended_at{0};  // when the last request was sent
  std::vector<SidecarPhase> lastcall;
  std::vector<KubeletEvent> kubelet;
  ContainerSummary app;
  std::optional<ContainerSummary> sidecar;
  std::optional<Millis> drain_time;    // lastcall's DRAINING -> DRAINED/TIMED_OUT
  std::optional<WaitEnd> lb_wait_end;  // unset: lastcall never left UNREADY
  std::optional<WaitEnd> drain_end;    // unset: lastcall never ended DRAINING
  bool app_exited_in_grace = false;    // exited by itself, before the grace period ended
  std::vector<PhaseMark> phases;       // sorted by time
  Millis bucket_width{100};
  Millis buckets_start{0};  // the first bucket's start
  std::vector<Bucket> buckets;
  std::vector<Advice> advice;
  // The verdict: nothing lost and the app exited inside the grace period.
  bool passed() const { return requests.failed() == 0 && app_exited_in_grace; }
};

inline constexpr size_t kMaxListedFailures = 2000;

// Everything the rehearsal measured, as raw as it came.
struct RehearsalInputs {
  RehearsalSettings settings;
  std::string version;
  std::string started_at;
  Millis t0_since_load_start{0};              // when T0 happened, on the load generator's clock
  std::vector<RequestRecord> requests;        // times since the load started
  std::optional<Millis> endpoint_removed_at;  // since T0
  std::vector<SidecarPhase> lastcall;         // since T0
  std::optional<LbWaitRecord> lb_wait;        // from lastcall's log
  TerminationReport termination;              // since T0
};

// Builds the report (everything but `advice`). Pure.
RehearsalReport AssembleReport(const RehearsalInputs& inputs);

// lastcall's phase changes from its log (either format): its phase events (sequence_event.h),
// timed by their line's time relative to `t0` (wall clock). Other lines are skipped; messages are
// never read. Pure.
std::vector<SidecarPhase> ParseSidecarPhases(std::string_view log,
                                             std::chrono::system_clock::time_point t0);

// How lastcall's lb wait ended, from its log's first lb_wait_ended event (lb_delay auto, or a fixed
// lb_delay cut short because the app was gone); nullopt when there is none (a fixed lb_delay that
// passed). Pure.
std::optional<LbWaitRecord> ParseLbWaitRecord(std::string_view log,
                                              std::chrono::system_clock::time_point t0);

// Why lastcall's lb wait and drain ended, from its phases, its lb wait record and its
// configuration. Pure.
std::optional<WaitEnd> ExplainLbWait(const std::vector<SidecarPhase>& phases,
                                     const std::optional<LbWaitRecord>& record,
                                     const Config& config);
std::optional<WaitEnd> ExplainDrain(const std::vector<SidecarPhase>& phases, const Config& config);

// "2026-11-24T23:59:01.123Z" -> a time point; nullopt for anything else. Pure.
std::optional<std::chrono::system_clock::time_point> ParseUtcTimestamp(std::string_view text);

// The report as JSON (pretty-printed, stable key order). Pure.
std::string ReportToJson(const RehearsalReport& report);

// The terminal summary: the verdict, request counts by cause, the timeline, the advice. Pure.
std::string FormatSummary(const RehearsalReport& report);

// "+1.25s" / "-0.50s": an offset from T0 as the report prints it.
std::string FormatOffset(Millis at);
// A measured span, to the precision it deserves: "902ms" under a second, else "8.09s".
// (Configured values print with FormatDuration, exactly as they were given.)
std::string FormatMeasured(Millis span);

}  // namespace lastcall

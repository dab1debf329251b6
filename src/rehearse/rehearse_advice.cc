#include "rehearse_advice.h"

#include <algorithm>
#include <string>

#include "base/duration.h"
#include "config/budget.h"

namespace lastcall {
namespace {

using Level = Advice::Level;

// Requests reset by something happening at `at`: sent before it, ended at it or later (a
// process's connections die within a few milliseconds of it).
constexpr Millis kCutSlack{100};

std::string Count(uint64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string Requests(uint64_t n) { return Count(n, "request", "requests"); }

std::string Seconds(Millis duration) { return std::to_string((duration.count() + 999) / 1000); }

const SidecarPhase* FindPhase(const RehearsalReport& report, std::string_view name) {
  for (const SidecarPhase& phase : report.lastcall) {
    if (phase.phase == name) return &phase;
  }
  return nullptr;
}

// What lastcall needs end to end, given a drain timeout.
Millis GraceNeeded(const Config& config, Millis drain_timeout) {
  ShutdownConfig shutdown = config.shutdown;
  shutdown.drain.timeout = drain_timeout;
  return RoundUpToSeconds(shutdown.Budget() + Config::kBudgetMargin);
}

std::vector<const FailedRequest*> CutAt(const RehearsalReport& report, Millis at) {
  std::vector<const FailedRequest*> cut;
  for (const FailedRequest& failure : report.failures) {
    if (failure.outcome != RequestOutcome::kReset) continue;  // a dying process resets
    if (failure.sent_at <= at && failure.finished_at + kCutSlack >= at) cut.push_back(&failure);
  }
  return cut;
}

void LbDelayShort(const RehearsalReport& report, std::vector<Advice>* out) {
  const Millis lb_delay = report.settings.config.shutdown.lb_delay.bound();
  const Millis propagation = report.settings.propagation_delay;
  if (lb_delay >= propagation) return;
  out->push_back({Level::kWarning, "lb-delay-short",
                  "your lb_delay of " + FormatDuration(lb_delay) +
                      " is shorter than the propagation delay of " + FormatDuration(propagation) +
                      " you asked to survive: raise lb_delay (shutdown.lb_delay, --lb-delay) to "
                      "at least " +
                      FormatDuration(propagation) + "."});
}

void RefusedEarly(const RehearsalReport& report, std::vector<Advice>* out) {
  std::vector<const FailedRequest*> refused;
  for (const FailedRequest& failure : report.failures) {
    if (failure.outcome != RequestOutcome::kRefused) continue;
    if (report.settings.through_balancer && report.endpoint_removed_at &&
        failure.finished_at >= *report.endpoint_removed_at) {
      continue;
    }
    refused.push_back(&failure);
  }
  if (refused.empty()) return;
  const std::string window = " between " + FormatOffset(refused.front()->finished_at) + " and " +
                             FormatOffset(refused.back()->finished_at);
  if (!report.settings.through_balancer) {
    out->push_back({Level::kWarning, "refused-direct",
                    Requests(refused.size()) + " were refused" + window +
                        ": with --direct nothing stops sending to the app once it stops "
                        "listening. Behind a Service the load balancer does; rehearse without "
                        "--direct to see what clients of the Service see."});
    return;
  }
  std::string text = Requests(refused.size()) + " were refused" + window;
  if (report.endpoint_removed_at) {
    text += ", before the load balancer stopped routing at " +
            FormatOffset(*report.endpoint_removed_at);
  }
  text += ": the app stopped listening while it still got traffic";
  if (report.app.exited_at) text += " (it exited at " + FormatOffset(*report.app.exited_at) + ")";
  text +=
      ". Its preStop hook must block until lastcall's sequence ends (exec `lastcall prestop`), "
      "and lb_delay must cover the time load balancers take to stop routing.";
  out->push_back({Level::kProblem, "refused-early", text});
}

void KilledInFlight(const RehearsalReport& report, std::vector<Advice>* out) {
  if (!report.app.killed) return;
  const Config& config = report.settings.config;
  const Millis kill_at =
      report.app.sigkill_at.value_or(report.app.exited_at.value_or(config.shutdown.grace_period));
  const std::vector<const FailedRequest*> cut = CutAt(report, kill_at);
  Millis longest = report.requests.longest_replica;
  for (const FailedRequest* failure : cut) longest = std::max(longest, kill_at - failure->sent_at);
  const Millis drain_needed = RoundUpToSeconds(longest + Millis(1000));
  const Millis drain = std::max(drain_needed, config.shutdown.drain.timeout);
  const Millis grace =
      std::max(GraceNeeded(config, drain), RoundUpToSeconds(config.shutdown.grace_period));
  std::string text = cut.empty()
                         ? "the app was still running at SIGKILL (" + FormatOffset(kill_at) + ")"
                         : "the app still had " + Requests(cut.size()) + " in flight at SIGKILL (" +
                               FormatOffset(kill_at) + ")";
  text += ": ";
  if (drain_needed > config.shutdown.drain.timeout) {
    text += "raise drain.timeout to at least " + FormatDuration(drain_needed) + " and ";
  }
  const bool grace_short = GraceNeeded(config, drain) > config.shutdown.grace_period;
  if (grace_short || drain_needed > config.shutdown.drain.timeout) {
    text += "terminationGracePeriodSeconds to " + Seconds(grace) +
            " (lb_delay + drain.timeout + exit_delay + 2s margin).";
  } else {
    text +=
        "lastcall's budget fits, so the app itself did not exit in time after SIGTERM: make "
        "it exit once its in-flight work is done.";
  }
  out->push_back({Level::kProblem, "killed-in-flight", text});
}

void DrainTimedOut(const RehearsalReport& report, std::vector<Advice>* out) {
  const SidecarPhase* timed_out = FindPhase(report, "timed_out");
  if (timed_out == nullptr) return;
  const Config& config = report.settings.config;
  const Millis longest = report.requests.longest_replica;
  const Millis configured = config.shutdown.drain.timeout;
  const Millis measured = report.drain_time.value_or(configured);
  std::string text = "lastcall's drain timed out after " + FormatMeasured(measured);
  // lastcall ends the drain early when the grace period would cut it (shutdown_sequence.h).
  text += measured + kCutSlack < configured
              ? " (drain.timeout " + FormatDuration(configured) +
                    ", cut short to end 2s before the grace period does)"
              : " (drain.timeout)";
  if (!timed_out->detail.empty()) text += ": " + timed_out->detail;
  if (longest + Millis(1000) > config.shutdown.drain.timeout) {
    const Millis needed = RoundUpToSeconds(longest + Millis(1000));
    text += ". The longest request took " + FormatMeasured(longest) +
            ": raise drain.timeout to at least " + FormatDuration(needed) +
            " and terminationGracePeriodSeconds to at least " +
            Seconds(GraceNeeded(config, needed)) + ".";
  } else {
    text += ". No request took longer than " + FormatMeasured(longest) +
            ", so the drain monitor never saw the app drained: check what it polls (" +
            (config.EffectiveMonitorUrl() ? config.EffectiveMonitorUrl()->text : "no URL") +
            ") and that the app answers it as drained once idle, or pick another "
            "monitor (--monitor connections needs no cooperation from the app).";
  }
  out->push_back(
      {report.requests.failed() > 0 ? Level::kProblem : Level::kWarning, "drain-timed-out", text});
}

void BudgetDoesNotFit(const RehearsalReport& report, std::vector<Advice>* out) {
  const Budget budget = ComputeBudget(report.settings.config);
  if (budget.fits()) return;
  out->push_back(
      {Level::kWarning, "budget",
       "lastcall's worst case does not fit the grace period: " + FormatBudget(budget) + "."});
}

void CutAtExit(const RehearsalReport& report, std::vector<Advice>* out) {
  if (report.app.killed || !report.app.exited_at) return;
  const Millis exit_at = *report.app.exited_at;
  const std::vector<const FailedRequest*> cut = CutAt(report, exit_at);
  if (cut.empty()) return;
  std::string text = Requests(cut.size()) + " in flight " + (cut.size() == 1 ? "was" : "were") +
                     " cut when the app exited at " + FormatOffset(exit_at);
  if (report.app.exit_code) text += " (exit code " + std::to_string(*report.app.exit_code) + ")";
  const SidecarPhase* drained = FindPhase(report, "drained");
  if (drained != nullptr && drained->at <= exit_at) {
    text += ". lastcall had reported the app drained at " + FormatOffset(drained->at) +
            ": the drain monitor does not see every request in flight (the app's drain endpoint "
            "must count them all), or new requests kept arriving on kept-alive connections "
            "after it said drained.";
  } else {
    text += ": make the app finish the requests it is serving before it exits on SIGTERM.";
  }
  out->push_back({Level::kProblem, "cut-at-exit", text});
}

// Requests that kept reaching the replica over connections opened before the endpoint removal
// are normal until the app drains; they matter when some of them failed.
void KeptAlive(const RehearsalReport& report, std::vector<Advice>* out) {
  if (!report.settings.through_balancer || !report.endpoint_removed_at) return;
  uint64_t failed_reused = 0;
  for (const FailedRequest& failure : report.failures) {
    if (failure.reused_connection && failure.sent_at >= *report.endpoint_removed_at) {
      ++failed_reused;
    }
  }
  if (failed_reused == 0) return;
  out->push_back(
      {Level::kWarning, "kept-alive",
       Requests(failed_reused) +
           " sent after the endpoint removal over connections kept alive "
           "from before it failed (kube-proxy never cuts established "
           "connections, so " +
           Requests(report.requests.replica_after_removal + failed_reused) +
           " still reached the replica that way): once draining, the app should answer with "
           "`Connection: close` so that clients reconnect to other replicas."});
}

void Non2xx(const RehearsalReport& report, std::vector<Advice>* out) {
  const uint64_t count = report.requests.count(RequestOutcome::kNon2xx);
  if (count == 0) return;
  std::string statuses;
  for (const auto& [status, n] : report.requests.non_2xx_statuses) {
    statuses += (statuses.empty() ? "" : ", ") + std::to_string(status) + " x" + std::to_string(n);
  }
  std::optional<Millis> first;
  std::optional<Millis> last;
  for (const FailedRequest& failure : report.failures) {
    if (failure.outcome != RequestOutcome::kNon2xx) continue;
    if (!first) first = failure.finished_at;
    last = failure.finished_at;
  }
  std::string text = Requests(count) + " got non-2xx answers (" + statuses + ")";
  if (first && last) text += " between " + FormatOffset(*first) + " and " + FormatOffset(*last);
  text +=
      ": keep answering normally while draining; the load balancer, not the app, stops the "
      "traffic.";
  out->push_back({Level::kProblem, "non-2xx", text});
}

void TimedOutRequests(const RehearsalReport& report, std::vector<Advice>* out) {
  const uint64_t count = report.requests.count(RequestOutcome::kTimeout);
  if (count == 0) return;
  out->push_back({Level::kProblem, "request-timeouts",
                  Requests(count) + " got no answer within " +
                      FormatDuration(report.settings.request_timeout) +
                      ": the app stopped answering without closing their connections (a stuck "
                      "handler, or a process frozen during shutdown)."});
}

void LoadTooShort(const RehearsalReport& report, std::vector<Advice>* out) {
  if (!report.settings.app_started || !report.app.exited_at ||
      report.load_ended_at >= *report.app.exited_at) {
    return;
  }
  const Millis needed =
      RoundUpToSeconds(report.settings.warmup + *report.app.exited_at + Millis(1000));
  out->push_back({Level::kInfo, "load-too-short",
                  "the load stopped at " + FormatOffset(report.load_ended_at) +
                      ", before the app exited at " + FormatOffset(*report.app.exited_at) +
                      ": rehearse with --duration " + FormatDuration(needed) +
                      " or more so the whole termination runs under load."});
}

void AppNotStarted(const RehearsalReport& report, std::vector<Advice>* out) {
  if (report.settings.app_started) return;
  out->push_back({Level::kInfo, "app-not-started",
                  "the app was already running (--app-url without --app-cmd), so rehearse could "
                  "not send it SIGTERM: only its drain was rehearsed, not its exit. Give "
                  "--app-cmd to rehearse both."});
}

void SidecarKilled(const RehearsalReport& report, std::vector<Advice>* out) {
  if (!report.sidecar || !report.sidecar->killed) return;
  out->push_back({Level::kWarning, "sidecar-killed",
                  "lastcall itself was still running at SIGKILL: its sequence did not end "
                  "inside the grace period (see the drain and budget advice)."});
}

void AppExitCode(const RehearsalReport& report, std::vector<Advice>* out) {
  if (report.app.killed || !report.app.exit_code || *report.app.exit_code == 0 ||
      !report.settings.app_started) {
    return;
  }
  const int code = *report.app.exit_code;
  std::string text = "the app exited with code " + std::to_string(code) + " after SIGTERM";
  if (code == 128 + 15) {
    text +=
        " (killed by SIGTERM's default action: it has no SIGTERM handler, which is harmless "
        "once lastcall has drained it, but loses work when it has not)";
  }
  out->push_back({Level::kInfo, "app-exit-code", text + "."});
}

// Processes of the app's group that outlived its main process, or the grace period: they never
// got SIGTERM (the runtime signals a container's PID 1 only) and died with the container.
void GroupLeft(const RehearsalReport& report, std::vector<Advice>* out) {
  const ContainerSummary& app = report.app;
  if (app.group_killed <= 0 || !report.settings.app_started) return;
  const std::string others = app.group_killed == 1 ? "1 more process of its group was"
                                                   : std::to_string(app.group_killed) +
                                                         " more processes of its group were";
  const std::string when = app.killed
                               ? "at SIGKILL"
                               : "when its main process exited" +
                                     (app.exited_at ? " at " + FormatOffset(*app.exited_at) : "");
  out->push_back({Level::kWarning, "app-group-left",
                  when + ", " + others +
                      " still running and died with it: in a cluster they would die with the "
                      "container the same way, without a SIGTERM of their own (the runtime "
                      "signals the container's first process only). Make the launcher exec the "
                      "server, or pass SIGTERM on to its workers and wait for them."});
}

void AllGood(const RehearsalReport& report, std::vector<Advice>* out) {
  for (const Advice& advice : *out) {
    if (advice.level == Level::kWarning || advice.level == Level::kProblem) return;
  }
  if (!report.passed()) return;
  const RequestTotals& requests = report.requests;
  std::string text = "nothing lost: " + Requests(requests.sent) + " (" +
                     std::to_string(requests.count(RequestOutcome::kOk)) + " by the replica, " +
                     std::to_string(requests.count(RequestOutcome::kOtherReplica)) +
                     " by other replicas)";
  if (report.drain_time)
    text += "; lastcall drained the app in " + FormatMeasured(*report.drain_time);
  if (report.app.exited_at && report.settings.app_started) {
    const Millis spare = report.settings.config.shutdown.grace_period - *report.app.exited_at;
    text += "; it exited at " + FormatOffset(*report.app.exited_at) + ", " + FormatMeasured(spare) +
            " before the grace period ended";
  }
  out->push_back({Level::kOk, "all-good", text + "."});
}

}  // namespace

Millis RoundUpToSeconds(Millis duration) {
  if (duration.count() <= 0) return Millis(0);
  return Millis((duration.count() + 999) / 1000 * 1000);
}

std::vector<Advice> Advise(const RehearsalReport& report) {
  std::vector<Advice> advice;
  for (auto* rule : {RefusedEarly, KilledInFlight, CutAtExit, DrainTimedOut, Non2xx,
                     TimedOutRequests, LbDelayShort, BudgetDoesNotFit, SidecarKilled, KeptAlive,
                     LoadTooShort, AppNotStarted, AppExitCode, GroupLeft}) {
    rule(report, &advice);
  }
  std::stable_sort(advice.begin(), advice.end(), [](const Advice& a, const Advice& b) {
    return static_cast<int>(a.level) > static_cast<int>(b.level);
  });
  AllGood(report, &advice);
  return advice;
}

}  // namespace lastcall

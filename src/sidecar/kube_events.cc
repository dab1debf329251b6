#include "sidecar/kube_events.h"

#include <fmt/format.h>

#include "base/logging.h"
#include "sidecar/cluster_client.h"

namespace lastcall {
namespace {

Millis Since(const EventContext& context) {
  return std::chrono::duration_cast<Millis>(context.wall - context.state.triggered_at);
}

std::string DrainWhy(const SequenceEvent& event) {
  const DrainEndReason why = event.drain_end.value_or(DrainEndReason::kTimeout);
  switch (why) {
    case DrainEndReason::kMonitor:
      return event.last_poll.empty() ? "the monitor found the app idle"
                                     : "the monitor found the app idle: " + event.last_poll;
    case DrainEndReason::kPushed:
      return "the app reported drained";
    case DrainEndReason::kAppGone:
      return "the app is gone";
    case DrainEndReason::kWaited:
      return "drain.timeout waited (monitor none)";
    case DrainEndReason::kTimeout:
      return event.last_poll.empty() ? "drain.timeout passed with the app busy"
                                     : "drain.timeout passed with the app busy: " + event.last_poll;
    case DrainEndReason::kFailed:
      return "the sequence failed";
  }
  return std::string(ToString(why));
}

std::string LbWhy(const SequenceEvent& event) {
  switch (event.lb_end.value_or(LbWaitWhy::kMax)) {
    case LbWaitWhy::kQuiet:
      return "quiet: no traffic for the quiet window";
    case LbWaitWhy::kMax:
      return "lb_delay auto's max";
    case LbWaitWhy::kDeadline:
      return "the budget's deadline";
    case LbWaitWhy::kCancelled:
      return "cancelled";
    case LbWaitWhy::kAppGone:
      return "the app is gone";
  }
  return "";
}

}  // namespace

KubeEventReporter::~KubeEventReporter() {
  std::vector<std::thread> senders;
  {
    std::lock_guard lock(mu_);
    senders.swap(senders_);
  }
  // Each sender's deadline is kEventBudget after its outcome: joining is bounded by that.
  for (std::thread& sender : senders) sender.join();
}

void KubeEventReporter::OnEvent(const SequenceEvent& event, const EventContext& context) {
  std::lock_guard lock(mu_);
  switch (event.kind) {
    case EventKind::kTriggered:
      sequence_ = Sequence{};
      reported_ = false;
      sequence_.trigger = event.source == TriggerSource::kPreStop
                              ? std::string("preStop")
                              : "signal" + (event.detail.empty() ? "" : " " + event.detail);
      if (event.source == TriggerSource::kResumed) sequence_.trigger = "a resumed sequence";
      break;
    case EventKind::kResumed:
      // A restarted lastcall: the Event of an ended sequence went out before (or was lost with
      // the process); one that goes on is reported when it ends.
      sequence_ = Sequence{};
      sequence_.resumed = true;
      sequence_.trigger =
          std::string(ToString(context.state.source)) + " (resumed after a restart)";
      reported_ = event.ended;
      break;
    case EventKind::kLbWaitEnded:
      sequence_.lb_end = event.waited.value_or(Since(context));
      sequence_.lb_why = LbWhy(event);
      sequence_.last_traffic = event.last_traffic;
      break;
    case EventKind::kEndpointRemoved:
      sequence_.endpoint_removed = event.elapsed.value_or(Since(context));
      sequence_.endpoint_slices = event.slices.value_or(0);
      break;
    case EventKind::kPhase: {
      const Phase phase = event.phase.value_or(Phase::kServing);
      if (phase == Phase::kDraining && !sequence_.lb_end) {
        sequence_.lb_end = Since(context);
        sequence_.lb_why = "lb_delay passed";
      }
      if ((phase == Phase::kDrained || phase == Phase::kTimedOut) && !reported_) {
        reported_ = true;
        sequence_.drain_end = Since(context);
        sequence_.drain_why = DrainWhy(event);
        const bool drained = phase == Phase::kDrained;
        sequence_.exit_code = drained ? 0 : 1;
        kubeapi::EventSpec spec;
        spec.reason = drained ? "Drained" : "DrainTimedOut";
        spec.warning = !drained;
        spec.action = "Drain";
        spec.time = context.wall;
        spec.note = NoteLocked("");
        Start(std::move(spec));
      }
      break;
    }
    case EventKind::kRecovered: {
      kubeapi::EventSpec spec;
      spec.reason = "Recovered";
      spec.warning = true;
      spec.action = "Recover";
      spec.time = context.wall;
      spec.note = fmt::format(
          "no termination signal followed the preStop hook within {} ms: ready again (a container "
          "restart, not a pod deletion); the sequence: {}",
          event.recover_after.value_or(Millis{0}).count(), NoteLocked("recovered"));
      Start(std::move(spec));
      break;
    }
    default:
      break;
  }
}

std::string KubeEventReporter::NoteFor(const std::string& outcome) const {
  std::lock_guard lock(mu_);
  return NoteLocked(outcome);
}

std::string KubeEventReporter::NoteLocked(const std::string& outcome) const {
  const Sequence& s = sequence_;
  std::string note = "unready at +0 ms by " + (s.trigger.empty() ? "a trigger" : s.trigger);
  if (s.endpoint_removed) {
    note += fmt::format("; EndpointSlices dropped the pod at +{} ms ({} slice{})",
                        s.endpoint_removed->count(), s.endpoint_slices,
                        s.endpoint_slices == 1 ? "" : "s");
  }
  if (s.lb_end) {
    note += fmt::format("; LB wait ended at +{} ms ({})", s.lb_end->count(), s.lb_why);
  }
  if (s.drain_end) {
    note += fmt::format("; drain ended at +{} ms ({})", s.drain_end->count(), s.drain_why);
  }
  if (s.last_traffic) {
    note += fmt::format("; traffic after unready: last at +{} ms", s.last_traffic->count());
  } else if (s.lb_why == "lb_delay passed") {
    note += "; traffic after unready: not watched (fixed lb_delay)";
  } else if (s.lb_end) {
    note += "; traffic after unready: none seen";
  }
  if (!outcome.empty()) {
    note += "; " + outcome;
  } else if (s.drain_end) {
    note += fmt::format("; exit code {}", s.exit_code);
  }
  return note;
}

void KubeEventReporter::Start(kubeapi::EventSpec spec) {
  ++in_flight_;
  const auto deadline = std::chrono::steady_clock::now() + kEventBudget;
  senders_.emplace_back([this, spec = std::move(spec), deadline] {
    try {
      const Status sent = send_(spec, deadline);
      if (sent.ok()) {
        LogInfo("Kubernetes Event sent", {{"reason", spec.reason}});
      }
    } catch (...) {
      // Out of memory on this thread: the outcome is in the log; the Event is best effort.
    }
    std::lock_guard lock(mu_);
    --in_flight_;
    cv_.notify_all();
  });
}

void KubeEventReporter::AwaitSent(std::chrono::steady_clock::time_point deadline) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, deadline, [this] { return in_flight_ == 0; })) {
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    LogWarn("exiting without waiting longer for the Kubernetes Event (the API server is slow)",
            {{"waited_ms", static_cast<long long>(waited.count())}});
  }
}

void ReportConfigRefused(const Config::KubeApi& config, const std::string& error) {
  const auto deadline = std::chrono::steady_clock::now() + kEventBudget;
  std::unique_ptr<kubeapi::KubeClient> client = MakeKubeClient(config);
  if (!client) return;
  kubeapi::EventSender sender(*client);
  kubeapi::EventSpec spec;
  spec.reason = "ConfigRefused";
  spec.warning = true;
  spec.action = "Start";
  spec.time = std::chrono::system_clock::now();
  spec.note = "lastcall refused its configuration and exits 2 (the pod is not protected): " + error;
  if (sender.Send(spec, deadline).ok()) {
    LogInfo("Kubernetes Event sent", {{"reason", spec.reason}});
  }
}

}  // namespace lastcall

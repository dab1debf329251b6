#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kube/inject_plan.h"

// The admission logic of `lastcall webhook` (docs/webhook.md): one AdmissionReview in, one answer
// out. Pure: no I/O, no clock, no global state; safe to call from any number of threads at once.
// The TLS server (webhook_server) reads the request body, calls Admit, and writes back the status
// and body Admit returns; it records the outcome in an AdmissionCounters for /metrics.
//
// The wiring comes from the planner and the pod edit of `lastcall inject` (src/kube): the patch is
// the difference between the pod as it came and the pod after inject's own code ran on it, so
// applying it gives what `lastcall inject` writes for that pod, but for two things: no
// lastcall.dev/original annotation (a record of a manifest's text for `lastcall uninject`, which a
// Pod made at admission has no use for), and the status annotation's extra fields "by": "webhook",
// "mesh" and "before" (what a reinvocation needs). The planner sees the pod alone: no Service, no
// Namespace (docs/webhook.md, "Opt-in").
namespace lastcall {

// The API server refuses a request body above 3 MiB; so does Admit.
inline constexpr size_t kMaxAdmissionBodyBytes = 3 * 1024 * 1024;
// JSON nesting deeper than this is refused before any tree is built. A Pod with managedFields is
// about 20 deep; the AdmissionReview around it adds 2.
inline constexpr int kMaxAdmissionJsonDepth = 100;

struct AdmitOptions {
  // inject's flags as defaults for every pod (the image, lb_delay, ...); each pod's lastcall.dev/
  // annotations override them as they do for `lastcall inject`. `input`, `explain` and `strict`
  // are not read.
  InjectOptions inject;
  // Namespaces whose pods are never mutated, whatever the webhook configuration sends.
  std::vector<std::string> never_namespaces{"kube-system"};
};

// What became of one request, for metrics and the log line.
enum class AdmitOutcome {
  kInjected,         // allowed with a patch that adds lastcall
  kReinjected,       // injected by the webhook before; a mesh proxy appeared since: rewired
  kAlreadyInjected,  // already injected (or wired by hand) and up to date: no patch
  kOptedOut,         // lastcall.dev/inject: disabled, a Job's pod, a Helm hook: no patch
  kExcluded,         // never mutated: kube-system, lastcall's own pods, hostNetwork, not a CREATE
  kNotPlanned,       // the planner could not wire it: admitted unchanged, with warnings
  kRefused,          // not an AdmissionReview for a Pod that Admit can read: HTTP 400
};
inline constexpr size_t kAdmitOutcomeCount = 7;
// "injected", "reinjected", "already_injected", "opted_out", "excluded", "not_planned", "refused".
const char* AdmitOutcomeName(AdmitOutcome outcome);

struct AdmissionResult {
  int status = 200;          // 200, or 400 for a request Admit refuses
  std::string content_type;  // "application/json", or text/plain for a 400
  std::string body;          // the AdmissionReview answer, or the 400's message
  AdmitOutcome outcome = AdmitOutcome::kRefused;
  std::string uid;                    // request.uid when it was read ("" otherwise)
  bool dry_run = false;               // request.dryRun
  std::vector<std::string> warnings;  // as in the answer's response.warnings
  std::string summary;                // one line for the log: who, what, why
};

// Answers one AdmissionReview (admission.k8s.io/v1) for a Pod. Never throws, never crashes, on
// any input; memory and time linear in the body's size.
// - 400 with a message naming what is wrong: a body above kMaxAdmissionBodyBytes, JSON that does
//   not parse (with the byte offset) or nests deeper than kMaxAdmissionJsonDepth, a kind or
//   apiVersion other than AdmissionReview admission.k8s.io/v1, no request.uid, a request.kind
//   other than core/v1 Pod, a CREATE without request.object as a mapping.
// - 200 otherwise: an AdmissionReview with response.uid = request.uid and allowed: true, always
//   (failure never blocks the cluster); patchType JSONPatch and a base64 RFC 6902 patch when the
//   pod is changed; `warnings` when the pod cannot be planned for (the reason, and the
//   lastcall.dev/ annotation that would fix it).
AdmissionResult Admit(std::string_view request_body, const AdmitOptions& options);

// Counts of Admit's outcomes, for the server's /metrics. Thread-safe (relaxed atomics).
class AdmissionCounters {
 public:
  void Record(const AdmissionResult& result);
  uint64_t Count(AdmitOutcome outcome) const;
  uint64_t DryRuns() const { return dry_runs_.load(std::memory_order_relaxed); }
  // Prometheus text exposition: lastcall_webhook_admissions_total{outcome="..."} for every
  // outcome, and lastcall_webhook_dry_run_admissions_total, each with HELP and TYPE lines.
  std::string PrometheusText() const;

 private:
  std::array<std::atomic<uint64_t>, kAdmitOutcomeCount> counts_{};
  std::atomic<uint64_t> dry_runs_{0};
};

}  // namespace lastcall

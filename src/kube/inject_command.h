#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli11.h"
#include "config.h"
#include "subcommand.h"

// `lastcall inject`: adds lastcall to the pods of Kubernetes manifests, so that
//   kubectl get deploy app -o yaml | lastcall inject - | kubectl apply -f -
// gives a pod whose shutdown lastcall orchestrates. What is added (deploy/README.md):
// - the `lastcall` container: a regular container appended to `containers`, or with --native an
//   init container with `restartPolicy: Always` (a native sidecar, Kubernetes 1.29+) that has its
//   own preStop hook `lastcall prestop`; readiness probe httpGet /readyz on 9901, liveness /livez;
//   its configuration as flags (`lastcall run --lb-delay ... --grace-period ...`, no ConfigMap);
// - the `lastcall-install` init container (`lastcall install --to /lastcall/bin`) and two emptyDir
//   volumes: `lastcall-bin` (the binary, mounted read-only in the app container) and
//   `lastcall-run` (the control socket, mounted in lastcall and the app container);
// - the app container's preStop hook `exec: [/lastcall/bin/lastcall, prestop]`;
// - `terminationGracePeriodSeconds` = max(the pod's, lb_delay + drain timeout + exit delay + 2s);
// - supplemental group 65532, so the app's hook may connect to lastcall's socket (mode 0660).
// The app container's own readinessProbe stays: a pod is ready only when all its containers are,
// so lastcall's failing /readyz alone takes the pod out of the Service endpoints at shutdown.
//
// Documents that are not workloads, and workloads that already have a container named
// `lastcall`, are copied through byte for byte (so injecting twice changes nothing). A changed
// document is re-written from its parsed form: the same data, but its comments are lost and its
// quoting and indentation normalised.
namespace lastcall {

// ghcr.io/lastcall/lastcall:<this binary's version>.
std::string DefaultImage();

struct InjectOptions {
  std::string input = "-";             // manifest file, or "-" for standard input
  std::string image = DefaultImage();  // the lastcall image (FROM scratch, binary at /lastcall)
  std::string container;               // the app container that gets the hook; "" = the first
  bool native = false;                 // lastcall as a native sidecar (initContainers)
  bool force = false;                  // replace an existing preStop hook on the app container
  Millis lb_delay{5000};               // passed to `lastcall run --lb-delay`
  Millis drain_timeout{20000};         // passed to `lastcall run --drain-timeout`
  Millis exit_delay{0};                // passed to `lastcall run --exit-delay` when not zero
  std::vector<std::string> run_args;   // more arguments for `lastcall run` (e.g. --monitor=...)
};

// The grace period the options need, in whole seconds (rounded up): lb_delay + drain timeout +
// exit delay + Config::kBudgetMargin, the budget `lastcall check` verifies.
long long RequiredGraceSeconds(const InjectOptions& options);

struct InjectResult {
  bool ok = false;
  std::string output;              // when ok: the whole manifest stream, changed
  std::string error;               // when !ok: one line, what cannot be handled and where
  std::vector<std::string> notes;  // informational lines (e.g. a workload left as it was)
};

// Pure: transforms a YAML stream (documents separated by `---` lines). Handles Pod, Deployment,
// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, and the items of a
// List. Refuses (ok = false, nothing written) when a document is not valid YAML or has no kind,
// is another kind that has a pod template (e.g. a custom resource), has a pod without containers,
// names no container --container names, has a preStop hook on the app container (unless
// options.force), already has a volume or mount lastcall needs under another owner, or must run
// to completion (restartPolicy Never/OnFailure: a regular sidecar would never exit) without
// options.native.
InjectResult InjectManifests(std::string_view input, const InjectOptions& options);

// `lastcall inject`: reads options.input (or `in` for "-"), writes the result to `out`, errors
// and notes to `err`. Returns kExitDrained on success, kExitUsage when the input cannot be read
// or is refused; writes nothing to `out` then.
int RunInject(const InjectOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

// Registers the `inject` subcommand on `app` with its flags bound to `options`. Durations are
// parsed with ParseDuration (a bad one is a CLI::ValidationError at parse time).
CLI::App* AddInjectSubcommand(CLI::App& app, InjectOptions& options);

// The `inject` subcommand as main lists it: AddInjectSubcommand's flags, bound to *options, and
// RunInject as its action. REQUIRES: *options outlives the parse and the action.
Subcommand InjectSubcommand(InjectOptions* options);

}  // namespace lastcall

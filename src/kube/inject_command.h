#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli11.h"
#include "cli/subcommand.h"
#include "inject_plan.h"
#include "injection_planner.h"

// `lastcall inject`: adds lastcall to the pods of Kubernetes manifests, so that
//   kubectl get deploy app -o yaml | lastcall inject | kubectl apply -f -
//   helm install app ./chart --post-renderer lastcall --post-renderer-args inject
// gives pods whose shutdown lastcall orchestrates, wired as the injection planner decides from
// each pod and the bundle around it (injection_planner.h). What is added (README, "lastcall
// inject"; docs/kubernetes.md, "How inject decides"):
// - the `lastcall` container (regular, or with --native an init container with
//   `restartPolicy: Always` and its own preStop hook), probes /readyz and /livez on its port,
//   its configuration as `lastcall run` flags, logs as JSON, POD_NAME/POD_NAMESPACE/POD_UID from
//   the downward API;
// - the `lastcall-install` init container and the `lastcall-bin` and `lastcall-run` emptyDirs;
// - the app container's preStop hook `lastcall prestop` (an exec or httpGet hook that was there
//   runs after the drain: `--then`), its two mounts, lastcall's group added to the pod's
//   supplemental groups (none on OpenShift), the grace period;
// - for a mesh (Istio, Linkerd), the proxy annotations that keep it alive through the drain;
// - with --cluster-access (or lastcall.dev/cluster-access: "true"), a Role and a RoleBinding for
//   the pod's service account as documents after the workload's (a List's: items), unless the
//   input has them (cluster_access.h);
// - annotations: lastcall.dev/status (version and settings hash) on the pod template, and
//   lastcall.dev/original (the document as it was) on the object (for the items of a List, on
//   the List only), which `lastcall uninject` restores byte for byte.
// A stream with a YAML merge key (`<<:`) is refused whole (InjectResult::refused), and so is one
// whose injected document uninject would not give back byte for byte.
// Documents that are not workloads are copied byte for byte. A workload that cannot be injected
// is copied unchanged and reported (skipped), and so is any document that is not valid YAML or
// that manifest::FindRefusedYaml refuses (a duplicate key, aliases expanding past
// manifest::kMaxAliasNodes, a cyclic alias), with its line and column; an injected one with the
// same version and settings is copied unchanged, one with others is re-injected (upgraded). A
// changed document is re-written from its parsed form: its leading comments stay; comments inside
// it are lost (its original keeps them).
namespace lastcall {

struct InjectResult {
  std::string output;                // the whole stream (the input itself when refused)
  std::vector<std::string> notes;    // informational lines (one per change worth knowing)
  std::vector<std::string> skipped;  // "document 3: Job migrate: <reason>"
  int injected = 0;                  // workloads injected or upgraded
  // The planner's decision for every workload it was asked about, in input order.
  std::vector<WorkloadDecision> decisions;
  // Not "": the whole input is refused (a merge key, or a document uninject could not give back),
  // and why; nothing may be written.
  std::string refused;
};

// Pure: transforms a YAML stream (documents separated by `---` lines). Reads every Service and
// Namespace first (the bundle the planner reads), then plans and injects Pod, Deployment,
// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, and the items of a List (Jobs and
// CronJobs are planned, and skipped). What it cannot handle is left as it was and listed in
// `skipped`; only input that cannot round-trip fails as a whole (`refused`).
InjectResult InjectManifests(std::string_view input, const InjectOptions& options);

// `lastcall inject`: reads options.input (or `in` for "-"), writes the stream to `out` (with
// options.explain, each decision as one JSON object per line instead), and to `err` each
// workload's decision (WorkloadDecision::Explain), notes and skips, then one summary line.
// Returns kExitDrained (0); kExitTimedOut (1) when something was skipped and options.strict;
// kExitUsage when the input cannot be read or is refused whole (nothing written then).
int RunInject(const InjectOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

// Registers the `inject` subcommand on `app` with its flags bound to `options`. Durations are
// parsed with ParseDuration (a bad one is a CLI::ValidationError at parse time).
CLI::App* AddInjectSubcommand(CLI::App& app, InjectOptions& options);

// The `inject` subcommand as main lists it: AddInjectSubcommand's flags, bound to *options, and
// RunInject as its action. REQUIRES: *options outlives the parse and the action.
Subcommand InjectSubcommand(InjectOptions* options);

}  // namespace lastcall

#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "inject_plan.h"

// The injection planner: the one place that decides how lastcall is wired into a workload, from
// the pod *and the bundle around it* (the Services that send it traffic, the Namespace that may
// turn a mesh on), and says why. `lastcall inject` and `lastcall uninject` call it, and so will the
// admission webhook (one Pod, its namespace's labels from the AdmissionReview): its input is plain
// values, not a YAML file, so any caller can fill it in.
//
// What it decides, per workload (docs/kubernetes.md, "How inject decides"):
// - whether lastcall joins at all: Jobs and CronJobs never (no traffic to drain), annotations that
//   `lastcall check` would reject or that nobody knows (did-you-mean) skip the workload;
// - the ports the drain watches: those a Service of the bundle targets (by number or by name),
//   else the app's declared ports minus well-known non-client ones (peer, replication, JMX, admin,
//   metrics, webhook), else lastcall.dev/ports; HTTP/2 and gRPC ports are multiplexed;
// - the monitor: the app's drain endpoint when declared, else `connections` counting requests in
//   flight (`count: in_flight`, `settle` 1s) so that idle keep-alive connections do not hold it;
// - lastcall's port, clear of every declared port and of the undeclared defaults of Envoy (9901),
//   Istio (15000-15090) and Linkerd (4140-4191);
// - the mesh (Istio, Linkerd, none) and how its proxy is told to stay and then to go;
// - the platform: on OpenShift no fixed UID or GID, so the SCC assigns them.
// Every choice is validated by the code that validates `lastcall run` (LoadConfig, the budget).
namespace lastcall {

// A Service of the bundle, as far as the planner reads it.
struct ServicePortFacts {
  std::string name;
  int port = 0;
  std::string target_port;   // a number or a port name; "" = same as `port`
  std::string protocol;      // "" = TCP
  std::string app_protocol;  // e.g. "grpc", "kubernetes.io/h2c"; "" = not declared
};
struct ServiceFacts {
  std::string namespace_name;  // "" = not set (the namespace it is applied to)
  std::string name;
  std::map<std::string, std::string> selector;  // empty: selects no pod (endpoints by hand)
  bool headless = false;                        // clusterIP: None
  std::vector<ServicePortFacts> ports;
};
struct NamespaceFacts {
  std::string name;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};
// What the bundle says besides the workloads. The webhook fills `namespaces` with the one
// namespace of the AdmissionReview; inject reads every document of its input.
struct BundleFacts {
  std::vector<ServiceFacts> services;
  std::vector<NamespaceFacts> namespaces;
};

// One workload to plan for.
struct WorkloadFacts {
  std::string api_version;
  std::string kind;            // Deployment, StatefulSet, Pod, ...
  std::string namespace_name;  // "" = not set
  std::string name;
  // The workload's annotations and its pod template's, the template's winning on equal keys
  // (for a Pod, its own).
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::string> pod_labels;
  YAML::Node pod_spec;  // the pod's `spec` (JSON is YAML: a webhook loads the Pod it gets)
};

// The facts of the Service and Namespace documents of a parsed YAML stream, Lists' items included.
// Other documents are ignored.
void CollectBundleFacts(const YAML::Node& document, BundleFacts* facts);
// The facts of `object` (a workload of a kind FindWorkloadKind knows) for PlanWorkload.
WorkloadFacts WorkloadFactsOf(const YAML::Node& object);

// A port the drain watches, and why.
struct WatchedPort {
  int port = 0;
  std::string why;           // "Service cartservice → grpc", "declared (no Service)"
  bool multiplexed = false;  // HTTP/2 or gRPC: every open connection counts
  std::string multiplexed_why;
};
// A declared port the drain does not watch, and why.
struct UnwatchedPort {
  int port = 0;
  std::string why;
};

enum class PlanAction {
  kInject,  // `plan` holds the wiring
  kSkip,    // it cannot be injected as it is: `reason` says why and what to set (--strict fails)
  kLeave,   // it should not be: lastcall.dev/inject: disabled, a Job, a CronJob, a Helm hook
};

// The mesh's proxy, as lastcall treats it: kept alive through the drain, then asked to quit.
struct MeshPlan {
  std::string name;         // "istio", "linkerd", or "" (none)
  std::string why;          // "namespace shop label istio-injection=enabled", "--mesh", ...
  bool known = true;        // false: nothing in the input can tell (its namespace is not in it)
  std::string quit_url;     // POST here after the drain makes the proxy exit; "" = none
  std::string quit_method;  // "POST"
  // Annotations the pod template gets for the mesh, key -> value.
  std::map<std::string, std::string> annotations;
};

struct WorkloadDecision {
  std::string kind;
  std::string namespace_name;
  std::string name;
  PlanAction action = PlanAction::kSkip;
  std::string reason;                 // kSkip, kLeave: why
  std::vector<std::string> warnings;  // worth knowing even when injected (removed API, ...)
  InjectOptions options;              // the flags with the workload's annotations applied
  std::optional<InjectPlan> plan;     // kInject: what inject writes

  // The explanation, filled as far as the planner got before any skip.
  std::string monitor;  // status|json|connections|none|"" (given by --run-arg)
  std::string count;    // connections: in_flight or connections
  std::optional<Millis> settle;
  std::vector<WatchedPort> ports;
  std::vector<UnwatchedPort> unwatched;
  std::string ports_why;  // where the ports came from, in a few words
  MeshPlan mesh;
  std::string platform;  // "kubernetes" or "openshift"
  std::string platform_why;
  std::string listen_why;  // why lastcall's port is the one it is, when not the first tried
  // --cluster-access (lastcall.dev/cluster-access: "true"), injected: the service account the
  // Role and RoleBinding of cluster_access.h are for ("": not asked for), and what to know about
  // them (the workload names no namespace, so neither do they).
  std::string cluster_access_account;
  std::string cluster_access_note;

  // "deployment/cart: ports 7070 (Service cartservice → grpc), monitor connections/in_flight
  // settle 1s, lb_delay 5s, mesh istio (namespace shop label istio-injection=enabled)".
  std::string Explain() const;
  // One object: kind, namespace, name, action, reason, ports, unwatched, monitor, lb_delay,
  // drain_timeout, grace_period_seconds, listen_port, mesh, platform, cluster_access, warnings,
  // notes.
  nlohmann::json ToJson() const;
};

// Decides the wiring of one workload. Pure; never throws on any pod spec.
WorkloadDecision PlanWorkload(const WorkloadFacts& workload, const BundleFacts& bundle,
                              const InjectOptions& flags);

// The annotations of the pod template a mesh plan may set: uninject restores them from the
// original (or keeps them, with a note, when it is unknown).
const std::vector<std::string>& MeshAnnotationKeys();

// The lastcall.dev/ annotations inject reads (lastcall.dev/inject, lb-delay, ...) and writes
// (status, original): any other lastcall.dev/ key is an error.
const std::vector<std::string>& KnownAnnotations();

// The flag of `lastcall run` that makes the sidecar ask the mesh proxy to quit after the drain,
// when this build has it (a config key with that flag): "" otherwise, and then inject leaves the
// proxy to its wait-before-exit (the budget).
std::string MeshQuitFlag();

}  // namespace lastcall

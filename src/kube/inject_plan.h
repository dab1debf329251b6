#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"

// `lastcall inject`, part one: read the pod and decide how lastcall is wired into it. Pure: no
// document is changed here (inject_command applies the plan; uninject_command takes it back).
namespace lastcall {

// ghcr.io/lastcall/lastcall:<this binary's version>.
std::string DefaultImage();

// lastcall's default probe port, and where the search for a free one starts.
inline constexpr int kDefaultListenPort = 9901;
// The image's USER and group: the sidecar's UID and GID unless the platform assigns them.
inline constexpr int kSidecarUid = 65532;

// What inject adds to a pod, by name and path: pod_injection writes them, the plan refuses a pod
// that has one of them already, uninject finds them again.
inline constexpr const char* kSidecarName = "lastcall";
inline constexpr const char* kInstallName = "lastcall-install";
inline constexpr const char* kBinVolume = "lastcall-bin";
inline constexpr const char* kRunVolume = "lastcall-run";
inline constexpr const char* kBinDir = "/lastcall/bin";      // where the app container finds it
inline constexpr const char* kRunDir = "/var/run/lastcall";  // the default control socket's dir
inline constexpr const char* kHookBinary = "/lastcall/bin/lastcall";

// inject's flags. Per workload, the workload's `lastcall.dev/*` annotations override them
// (ApplyAnnotations), as the proxy annotations of Linkerd and Istio do.
struct InjectOptions {
  std::string input = "-";             // manifest file, or "-" for standard input
  std::string image = DefaultImage();  // the lastcall image (FROM scratch, binary at /lastcall)
  std::string container;               // the app container; "" = default-container, else first
  bool native = false;                 // lastcall as a native sidecar (initContainers)
  bool force = false;                  // drop an exec/httpGet preStop hook instead of chaining it
  bool strict = false;                 // exit 1 when a workload was skipped
  Millis lb_delay{5000};               // `lastcall run --lb-delay`
  Millis drain_timeout{20000};         // `lastcall run --drain-timeout`
  Millis exit_delay{0};                // `lastcall run --exit-delay` when not zero
  std::string drain_url;               // the app's drain endpoint; "" = none declared
  std::string monitor;                 // status|json|connections|none; "" = chosen from the pod
  std::string refused_means;           // drained|error; "" = error when drain_url is declared
  std::optional<int> port;             // lastcall's port; nullopt = first free from 9901
  std::string mesh = "auto";           // auto|istio|linkerd|none (auto: from the bundle)
  std::string platform = "auto";       // auto|kubernetes|openshift (auto: openshift.io/ marks)
  Millis settle{1000};                 // connections monitor: how long idle must hold
  std::vector<std::string> ports;      // ports to watch (numbers or names); empty = planned
  std::string requests = "cpu=10m,memory=8Mi";  // the sidecar's resources.requests
  std::string limits = "cpu=100m,memory=32Mi";  // the sidecar's resources.limits; "" = none
  std::string run_as;    // UID[:GID] of the sidecar; "" = 65532 (none on OpenShift); "none"
  bool explain = false;  // print the planner's decisions (JSON), not manifests
  // Also write a Role and RoleBinding that let the pod's service account create Events and
  // watch EndpointSlices in its namespace (lastcall's Kubernetes API client).
  bool cluster_access = false;
  std::vector<std::string> run_args;  // more arguments for `lastcall run` (e.g. --settle=1s)
};

// The annotations inject reads (on the workload or its pod template; the template's win) and
// writes.
inline constexpr const char* kAnnotationInject = "lastcall.dev/inject";  // enabled|disabled
inline constexpr const char* kAnnotationStatus = "lastcall.dev/status";
inline constexpr const char* kAnnotationOriginal = "lastcall.dev/original";
inline constexpr const char* kAnnotationClusterAccess = "lastcall.dev/cluster-access";  // bool

// What the lastcall.dev/ annotations of a workload and its pod template ask for (`annotations`:
// both, the template's winning). Checks the shape of each value; what the values mean together
// is checked by the planner, with the sidecar's own config validation.
struct AnnotatedOptions {
  InjectOptions options;
  bool disabled = false;  // lastcall.dev/inject: disabled
  std::string error;      // a bad annotation value: "annotation lastcall.dev/port: ..."
  // The flags of `lastcall run` each annotation turned into: "drain-url" ->
  // "lastcall.dev/drain-url" (so that a config error names the annotation the user wrote).
  std::map<std::string, std::string> flag_sources;
};
AnnotatedOptions ApplyAnnotations(const InjectOptions& flags,
                                  const std::map<std::string, std::string>& annotations);

// What the planner decided for the pod that PlanPod writes down.
struct Wiring {
  std::vector<int> watch_ports;        // the connections monitor's ports
  std::vector<int> multiplexed_ports;  // of those, HTTP/2 and gRPC
  bool count_in_flight = true;         // count: in_flight (else every connection)
  std::set<int> reserved_ports;        // lastcall's port avoids these too (undeclared defaults)
  std::string mesh;                    // "", istio or linkerd
  std::map<std::string, std::string> mesh_annotations;  // for the pod template
  std::vector<std::string> mesh_run_args;               // e.g. the quit URL for the sidecar
  bool openshift = false;  // no fixed UID/GID and no supplemental group: the SCC assigns them
};

// How lastcall joins one pod.
struct InjectPlan {
  size_t app_index = 0;  // in spec.containers
  std::string app_name;  // that container's name
  int listen_port = kDefaultListenPort;
  Millis lb_delay{0};                 // the options', raised to an existing `sleep` hook's duration
  std::vector<std::string> run_args;  // `lastcall run ...` (the sidecar's args)
  std::vector<std::string> hook_command;  // the app container's new preStop exec command
  long long grace_seconds = 30;           // the pod's terminationGracePeriodSeconds after inject
  std::string mesh;                       // "", istio or linkerd
  std::map<std::string, std::string> mesh_annotations;  // pod template annotations to set
  std::optional<long long> run_as_user;  // the sidecar's runAsUser/runAsGroup; nullopt = unset
  std::optional<long long> run_as_group;
  bool supplemental_group = true;               // add run_as_group to the pod's supplementalGroups
  std::map<std::string, std::string> requests;  // the sidecar's resources
  std::map<std::string, std::string> limits;
  std::vector<std::string> notes;  // what the user should know (stderr)
};

struct PlanResult {
  std::optional<InjectPlan> plan;
  std::string skip;  // when no plan: why, and what to set
};

// Reads the pod spec `pod` (and its `annotations`): the app container, its ports (named ones
// too), its readiness probe (-> --readiness-upstream), its existing preStop hook (a sleep raises
// lb_delay; an exec or httpGet hook runs after the drain through `lastcall prestop --then`), the
// ports every container uses (lastcall's port avoids them and wiring.reserved_ports), hostNetwork.
// The monitor: the declared drain endpoint (status, refused = error), else the connections on
// wiring.watch_ports; when neither is known, no plan: `skip` names the annotation to set.
// Called by the planner (injection_planner.h), which fills `wiring`.
PlanResult PlanPod(const YAML::Node& pod, const std::map<std::string, std::string>& annotations,
                   const InjectOptions& options, const Wiring& wiring);

// The container ports of a pod spec's containers (and init containers with `init`).
struct ContainerPort {
  std::string container;
  std::string name;
  int port = 0;
  bool tcp = true;
};
std::vector<ContainerPort> DeclaredPorts(const YAML::Node& pod, bool init);
// The app container's index in spec.containers as PlanPod picks it (options.container, else the
// default-container annotation, else the first); nullopt when none matches.
std::optional<size_t> AppContainerIndex(const YAML::Node& pod,
                                        const std::map<std::string, std::string>& annotations,
                                        const InjectOptions& options);

// "cpu=10m,memory=8Mi" -> {cpu: 10m, memory: 8Mi}; "" -> {}. nullopt after setting *error for a
// resource other than cpu, memory, ephemeral-storage or a value that is not a quantity.
std::optional<std::map<std::string, std::string>> ParseResourceList(const std::string& text,
                                                                    std::string* error);
// "none" -> {} (both nullopt); "1000" -> {1000, 1000}; "1000:2000" -> {1000, 2000}. nullopt after
// setting *error otherwise.
struct RunAs {
  std::optional<long long> user;
  std::optional<long long> group;
};
std::optional<RunAs> ParseRunAs(const std::string& text, std::string* error);

// The grace period a plan needs, in whole seconds (rounded up): lb_delay + drain timeout + exit
// delay + Config::kBudgetMargin, the budget `lastcall check` verifies.
long long RequiredGraceSeconds(Millis lb_delay, const InjectOptions& options);

// A short stable hash of what decides the injected wiring (options after annotations), for the
// status annotation: equal hashes and versions mean re-injecting would change nothing.
std::string SettingsHash(const InjectOptions& options);

}  // namespace lastcall

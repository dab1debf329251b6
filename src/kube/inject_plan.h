#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

// `lastcall inject`, part one: read the pod and decide how lastcall is wired into it. Pure: no
// document is changed here (inject_command applies the plan; uninject_command takes it back).
namespace lastcall {

// ghcr.io/lastcall/lastcall:<this binary's version>.
std::string DefaultImage();

// lastcall's default probe port, and the first one tried when the pod already uses it.
inline constexpr int kDefaultListenPort = 9901;

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
  std::string mesh;                    // istio|linkerd; "" = detected from the workload
  std::vector<std::string> run_args;   // more arguments for `lastcall run` (e.g. --settle=1s)
};

// The annotations inject reads (on the workload or its pod template; the template's win) and
// writes.
inline constexpr const char* kAnnotationInject = "lastcall.dev/inject";  // enabled|disabled
inline constexpr const char* kAnnotationStatus = "lastcall.dev/status";
inline constexpr const char* kAnnotationOriginal = "lastcall.dev/original";

// What the annotations of `object` (a workload or List item) and of its pod template ask for.
struct AnnotatedOptions {
  InjectOptions options;
  bool disabled = false;  // lastcall.dev/inject: disabled
  std::string error;      // a bad annotation value: "annotation lastcall.dev/port: ..."
};
AnnotatedOptions ApplyAnnotations(const InjectOptions& flags, const YAML::Node& object_metadata,
                                  const YAML::Node& pod_metadata);

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
  std::vector<std::string> notes;         // what the user should know (stderr)
};

struct PlanResult {
  std::optional<InjectPlan> plan;
  std::string skip;  // when no plan: why, and what to set
};

// Reads the pod spec `pod` (and its metadata `pod_metadata`, possibly Undefined): the app
// container, its ports (named ones too), its readiness probe (-> --readiness-upstream), its
// existing preStop hook (a sleep raises lb_delay; an exec or httpGet hook runs after the drain
// through `lastcall prestop --then`), the ports every container uses (lastcall's port avoids
// them), hostNetwork, and a service mesh. Chooses a monitor that can observe the app: the
// declared drain endpoint (status, refused = error), else the connections on the app's ports;
// when neither is known, no plan: `skip` names the annotation to set.
PlanResult PlanPod(const YAML::Node& pod, const YAML::Node& pod_metadata,
                   const InjectOptions& options);

// The grace period a plan needs, in whole seconds (rounded up): lb_delay + drain timeout + exit
// delay + Config::kBudgetMargin, the budget `lastcall check` verifies.
long long RequiredGraceSeconds(Millis lb_delay, const InjectOptions& options);

// A short stable hash of what decides the injected wiring (options after annotations), for the
// status annotation: equal hashes and versions mean re-injecting would change nothing.
std::string SettingsHash(const InjectOptions& options);

}  // namespace lastcall

#include "pod_injection.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "base/text.h"
#include "injection_planner.h"
#include "version.h"
#include "yaml_writer.h"

namespace lastcall {

using manifest::Child;
using manifest::Map;
using manifest::Present;
using manifest::ScalarOr;
using manifest::Seq;

namespace {

constexpr const char* kImageBinary = "/lastcall";  // the binary inside the lastcall image
// Where the install step writes the binary: not kBinDir, since in lastcall's image /lastcall is
// the binary itself (a file), and no mount point can be made below a file.
constexpr const char* kInstallDir = "/lastcall-bin";
constexpr const char* kLinkerdSkipInbound = "config.linkerd.io/skip-inbound-ports";

YAML::Node Strings(const std::vector<std::string>& items) {
  YAML::Node seq = Seq();
  for (const auto& item : items) seq.push_back(StringNode(item));
  return seq;
}

YAML::Node HttpProbe(const char* path, int port, int period, int timeout, int failure_threshold) {
  YAML::Node probe = Map();
  probe["httpGet"]["path"] = StringNode(path);
  probe["httpGet"]["port"] = port;
  probe["periodSeconds"] = period;
  probe["timeoutSeconds"] = timeout;
  probe["failureThreshold"] = failure_threshold;
  return probe;
}

// Small by default: lastcall idles at a few MiB and a few millicores (README, "Targets");
// --requests/--limits and lastcall.dev/requests, limits change them.
YAML::Node Resources(const InjectPlan& plan) {
  YAML::Node resources = Map();
  for (const auto& [name, value] : plan.requests) resources["requests"][name] = StringNode(value);
  for (const auto& [name, value] : plan.limits) resources["limits"][name] = StringNode(value);
  return resources;
}

// The restricted Pod Security Standard; the UID and GID only where the platform does not assign
// them (OpenShift's restricted SCC refuses a UID outside the namespace's range).
YAML::Node RestrictedSecurityContext(const InjectPlan& plan) {
  YAML::Node context = Map();
  context["runAsNonRoot"] = true;
  if (plan.run_as_user) context["runAsUser"] = *plan.run_as_user;
  if (plan.run_as_group) context["runAsGroup"] = *plan.run_as_group;
  context["readOnlyRootFilesystem"] = true;
  context["allowPrivilegeEscalation"] = false;
  context["capabilities"]["drop"] = Strings({"ALL"});
  context["seccompProfile"]["type"] = StringNode("RuntimeDefault");
  return context;
}

YAML::Node Mount(const char* volume, const char* path, bool read_only) {
  YAML::Node mount = Map();
  mount["name"] = StringNode(volume);
  mount["mountPath"] = StringNode(path);
  if (read_only) mount["readOnly"] = true;
  return mount;
}

YAML::Node ExecHook(const std::vector<std::string>& command) {
  YAML::Node hook = Map();
  hook["exec"]["command"] = Strings(command);
  return hook;
}

// The pod's identity from the downward API: the sidecar's Kubernetes API client names the pod in
// its Events and finds the pod's endpoints by UID. Set always: harmless without API access.
YAML::Node DownwardEnv() {
  YAML::Node env = Seq();
  for (const auto& [name, field] :
       {std::pair{"POD_NAME", "metadata.name"}, std::pair{"POD_NAMESPACE", "metadata.namespace"},
        std::pair{"POD_UID", "metadata.uid"}}) {
    YAML::Node var = Map();
    var["name"] = StringNode(name);
    var["valueFrom"]["fieldRef"]["fieldPath"] = StringNode(field);
    env.push_back(var);
  }
  return env;
}

YAML::Node SidecarContainer(const InjectPlan& plan, const InjectOptions& options) {
  YAML::Node container = Map();
  container["name"] = StringNode(kSidecarName);
  container["image"] = StringNode(options.image);
  if (options.native) container["restartPolicy"] = StringNode("Always");
  container["args"] = Strings(plan.run_args);
  container["env"] = DownwardEnv();
  YAML::Node port = Map();
  port["name"] = StringNode(kSidecarName);
  port["containerPort"] = plan.listen_port;
  container["ports"].push_back(port);
  // /readyz turns 503 the moment shutdown starts: with failureThreshold 1 and a 1 s period the
  // pod leaves the endpoints within about a second. Liveness stays lenient: a restart mid-drain
  // would undo the drain (KUBERNETES.md).
  container["readinessProbe"] = HttpProbe("/readyz", plan.listen_port, 1, 1, 1);
  container["livenessProbe"] = HttpProbe("/livez", plan.listen_port, 10, 2, 3);
  if (options.native) {
    // A native sidecar gets SIGTERM only after the app exited; its own hook starts the
    // sequence at the same moment the app's does.
    container["lifecycle"]["preStop"] = ExecHook({kImageBinary, "prestop"});
  }
  container["resources"] = Resources(plan);
  container["securityContext"] = RestrictedSecurityContext(plan);
  container["volumeMounts"].push_back(Mount(kRunVolume, kRunDir, false));
  return container;
}

YAML::Node InstallContainer(const InjectPlan& plan, const InjectOptions& options) {
  YAML::Node container = Map();
  container["name"] = StringNode(kInstallName);
  container["image"] = StringNode(options.image);
  container["args"] = Strings({"install", "--to", kInstallDir});
  container["resources"] = Resources(plan);
  container["securityContext"] = RestrictedSecurityContext(plan);
  container["volumeMounts"].push_back(Mount(kBinVolume, kInstallDir, false));
  return container;
}

YAML::Node EmptyDirVolume(const char* name) {
  YAML::Node volume = Map();
  volume["name"] = StringNode(name);
  volume["emptyDir"] = Map();
  return volume;
}

// The map that holds the pod's `metadata` (the template; a Pod itself), as a handle.
YAML::Node PodMetadataHolder(YAML::Node object, const manifest::WorkloadKind& kind) {
  YAML::Node holder = object;
  const auto& path = kind.pod_spec_path;
  for (size_t i = 0; i + 1 < path.size(); ++i) holder.reset(holder[path[i]]);
  return holder;
}

bool IsEmptyCollection(const YAML::Node& node) {
  return node.IsDefined() && (node.IsSequence() || node.IsMap()) && node.size() == 0;
}

// Removes `key` from `map` when its value became empty and `original_map` did not have it.
void DropIfEmptyAndNew(YAML::Node map, const char* key, const YAML::Node& original_map) {
  if (IsEmptyCollection(Child(map, key)) && !Child(original_map, key).IsDefined()) {
    map.remove(std::string(key));
  }
}

bool IsLastcallHook(const YAML::Node& hook) {
  const YAML::Node command = Child(Child(hook, "exec"), "command");
  return command.IsDefined() && command.IsSequence() && command.size() >= 2 &&
         ScalarOr(command[0], "") == kHookBinary && ScalarOr(command[1], "") == "prestop";
}

// The hook lastcall's hook chained, rebuilt from its `--then` arguments; Undefined when none.
YAML::Node UnchainedHook(const YAML::Node& hook) {
  const YAML::Node command = Child(Child(hook, "exec"), "command");
  std::vector<std::string> args;
  for (const auto& arg : command) args.push_back(ScalarOr(arg, ""));
  const auto then = std::find(args.begin(), args.end(), "--then");
  if (then != args.end() && then + 1 != args.end() && *(then + 1) == "--") {
    return ExecHook(std::vector<std::string>(then + 2, args.end()));
  }
  const auto get = std::find(args.begin(), args.end(), "--then-get");
  if (get == args.end() || get + 1 == args.end()) return YAML::Node(YAML::NodeType::Undefined);
  // http://HOST:PORT/PATH as PlanPod wrote it.
  const std::string url = *(get + 1);
  const size_t host_start = url.find("://") + 3;
  const size_t path_start = url.find('/', host_start);
  const std::string authority = url.substr(host_start, path_start - host_start);
  const size_t colon = authority.rfind(':');
  YAML::Node hook_node = Map();
  YAML::Node http = hook_node["httpGet"];
  const std::string host = authority.substr(0, colon);
  if (host != "127.0.0.1") http["host"] = StringNode(host);
  http["path"] = StringNode(path_start == std::string::npos ? "/" : url.substr(path_start));
  http["port"] = manifest::ParseInteger(authority.substr(colon + 1)).value_or(0);
  for (auto it = get; it != args.end(); ++it) {
    if (*it != "--then-header" || it + 1 == args.end()) continue;
    const std::string& header = *(it + 1);
    const size_t separator = header.find(": ");
    YAML::Node entry = Map();
    entry["name"] = StringNode(header.substr(0, separator));
    entry["value"] = StringNode(separator == std::string::npos ? "" : header.substr(separator + 2));
    http["httpHeaders"].push_back(entry);
  }
  return hook_node;
}

}  // namespace

YAML::Node PodSpecOf(const YAML::Node& object, const manifest::WorkloadKind& kind,
                     std::string* missing) {
  YAML::Node pod = object;
  std::string path;
  for (const char* key : kind.pod_spec_path) {
    path += (path.empty() ? "" : ".") + std::string(key);
    if (!Child(pod, key).IsMap()) {
      if (missing != nullptr) *missing = path;
      return YAML::Node(YAML::NodeType::Undefined);
    }
    pod.reset(pod[key]);  // rebind (assignment would overwrite the node in the document)
  }
  return pod;
}

YAML::Node PodMetadataOf(const YAML::Node& object, const manifest::WorkloadKind& kind) {
  YAML::Node holder = object;
  const auto& path = kind.pod_spec_path;
  for (size_t i = 0; i + 1 < path.size(); ++i) holder.reset(Child(holder, path[i]));
  return Child(holder, "metadata");
}

bool HasLastcall(const YAML::Node& pod) {
  return Present(manifest::Named(Child(pod, "containers"), kSidecarName)) ||
         Present(manifest::Named(Child(pod, "initContainers"), kSidecarName));
}

std::vector<std::string> AddLastcall(YAML::Node object, const manifest::WorkloadKind& kind,
                                     const InjectPlan& plan, const InjectOptions& options,
                                     const std::string& settings_hash) {
  std::vector<std::string> notes;
  YAML::Node pod = PodSpecOf(object, kind);
  YAML::Node app = pod["containers"][plan.app_index];
  app["lifecycle"]["preStop"] = ExecHook(plan.hook_command);
  app["volumeMounts"].push_back(Mount(kBinVolume, kBinDir, true));
  app["volumeMounts"].push_back(Mount(kRunVolume, kRunDir, false));

  // Init containers run in order: the binary is installed first; a native sidecar comes next,
  // so it starts before (and, in reverse order, stops after) any sidecar already there.
  YAML::Node new_init = Seq();
  new_init.push_back(InstallContainer(plan, options));
  if (options.native) new_init.push_back(SidecarContainer(plan, options));
  if (const YAML::Node inits = Child(pod, "initContainers");
      inits.IsDefined() && inits.IsSequence()) {
    for (const auto& container : inits) new_init.push_back(container);
  }
  pod["initContainers"] = new_init;
  if (!options.native) pod["containers"].push_back(SidecarContainer(plan, options));
  pod["volumes"].push_back(EmptyDirVolume(kBinVolume));
  pod["volumes"].push_back(EmptyDirVolume(kRunVolume));

  // The control socket is mode 0660, owned by lastcall's group: the app's hook, running as the
  // app's user, reaches it through this supplementary group.
  // The pod's own groups are kept: lastcall's is added to them.
  if (plan.supplemental_group && plan.run_as_group) {
    YAML::Node groups = pod["securityContext"]["supplementalGroups"];
    const std::string group = std::to_string(*plan.run_as_group);
    const bool has_group =
        groups.IsSequence() && std::any_of(groups.begin(), groups.end(), [&](const YAML::Node& g) {
          return ScalarOr(g, "") == group;
        });
    if (!has_group) groups.push_back(*plan.run_as_group);
  }

  const YAML::Node grace_node = Child(pod, "terminationGracePeriodSeconds");
  if (!Present(grace_node) || ScalarOr(grace_node, "") != std::to_string(plan.grace_seconds)) {
    pod["terminationGracePeriodSeconds"] = plan.grace_seconds;
  }

  YAML::Node holder = PodMetadataHolder(object, kind);
  YAML::Node annotations = holder["metadata"]["annotations"];
  // The proxy must outlive the drain (the planner sets its drain or wait to the budget).
  for (const auto& [key, value] : plan.mesh_annotations) {
    if (const YAML::Node existing = Child(annotations, key.c_str()); existing.IsDefined()) {
      if (ScalarOr(existing, "") != value) {
        notes.push_back(fmt::format("{} is set already and left as it is: lastcall's plan wants {}",
                                    key, Quote(value)));
      }
    } else {
      annotations[key] = StringNode(value);
    }
  }
  (void)options;
  if (plan.mesh == "linkerd") {
    const std::string port = std::to_string(plan.listen_port);
    if (const YAML::Node skip = Child(annotations, kLinkerdSkipInbound); skip.IsDefined()) {
      const std::string ports = ScalarOr(skip, "");
      if (("," + ports + ",").find("," + port + ",") == std::string::npos) {
        notes.push_back(fmt::format("{} is set already and left as it is: add {} to it",
                                    kLinkerdSkipInbound, port));
      }
    } else {
      annotations[kLinkerdSkipInbound] = StringNode(port);
    }
  }
  nlohmann::json status = {{"version", kVersion}, {"settings", settings_hash}};
  annotations[kAnnotationStatus] = StringNode(status.dump());
  return notes;
}

std::vector<std::string> RemoveLastcall(YAML::Node object, const manifest::WorkloadKind& kind,
                                        const YAML::Node& original) {
  std::vector<std::string> notes;
  const bool known = original.IsDefined() && original.IsMap();
  YAML::Node pod = PodSpecOf(object, kind);
  const YAML::Node original_pod =
      known ? PodSpecOf(original, kind) : YAML::Node(YAML::NodeType::Undefined);

  // The group inject added to the pod's: the sidecar's (none when the platform assigned it).
  std::string sidecar_group = std::to_string(kSidecarUid);
  for (const char* list : {"containers", "initContainers"}) {
    const YAML::Node sidecar = manifest::Named(Child(pod, list), kSidecarName);
    if (sidecar.IsDefined()) {
      sidecar_group = ScalarOr(Child(Child(sidecar, "securityContext"), "runAsGroup"), "");
    }
  }

  YAML::Node containers = pod["containers"];
  for (size_t i = 0; containers.IsSequence() && i < containers.size(); ++i) {
    YAML::Node app = containers[i];
    if (!IsLastcallHook(Child(Child(app, "lifecycle"), "preStop"))) continue;
    const YAML::Node original_app =
        manifest::Named(Child(original_pod, "containers"), ScalarOr(Child(app, "name"), ""));
    if (known) {
      const YAML::Node original_lifecycle = Child(original_app, "lifecycle");
      if (original_lifecycle.IsDefined()) {
        app["lifecycle"] = YAML::Clone(original_lifecycle);
      } else {
        app.remove(std::string("lifecycle"));
      }
    } else {
      YAML::Node lifecycle = app["lifecycle"];
      const YAML::Node chained = UnchainedHook(Child(lifecycle, "preStop"));
      if (chained.IsDefined()) {
        lifecycle["preStop"] = chained;
      } else {
        lifecycle.remove(std::string("preStop"));
        if (lifecycle.size() == 0) app.remove(std::string("lifecycle"));
      }
    }
    manifest::RemoveNamed(app["volumeMounts"], {kBinVolume, kRunVolume});
    DropIfEmptyAndNew(app, "volumeMounts", original_app);
  }
  manifest::RemoveNamed(containers, {kSidecarName});
  if (Child(pod, "initContainers").IsDefined()) {
    manifest::RemoveNamed(pod["initContainers"], {kSidecarName, kInstallName});
    DropIfEmptyAndNew(pod, "initContainers", original_pod);
  }
  if (Child(pod, "volumes").IsDefined()) {
    manifest::RemoveNamed(pod["volumes"], {kBinVolume, kRunVolume});
    DropIfEmptyAndNew(pod, "volumes", original_pod);
  }

  const YAML::Node original_context = Child(original_pod, "securityContext");
  if (YAML::Node context = Child(pod, "securityContext"); context.IsDefined() && context.IsMap()) {
    const YAML::Node original_groups = Child(original_context, "supplementalGroups");
    const bool had_group =
        original_groups.IsDefined() && original_groups.IsSequence() &&
        std::any_of(original_groups.begin(), original_groups.end(),
                    [&](const YAML::Node& g) { return ScalarOr(g, "") == sidecar_group; });
    YAML::Node groups = pod["securityContext"]["supplementalGroups"];
    if (!sidecar_group.empty() && !had_group && groups.IsSequence()) {
      for (size_t i = groups.size(); i-- > 0;) {
        if (ScalarOr(groups[i], "") == sidecar_group) groups.remove(i);
      }
    }
    YAML::Node writable_context = pod["securityContext"];
    DropIfEmptyAndNew(writable_context, "supplementalGroups", original_context);
    DropIfEmptyAndNew(pod, "securityContext", original_pod);
  }

  if (known) {
    const YAML::Node original_grace = Child(original_pod, "terminationGracePeriodSeconds");
    if (original_grace.IsDefined()) {
      pod["terminationGracePeriodSeconds"] = YAML::Clone(original_grace);
    } else {
      pod.remove(std::string("terminationGracePeriodSeconds"));
    }
  } else if (Child(pod, "terminationGracePeriodSeconds").IsDefined()) {
    notes.push_back(
        "terminationGracePeriodSeconds is kept (its value before inject is not recorded)");
  }

  // Annotations: the pod's (status, mesh), then the object's (original).
  const YAML::Node original_holder = known ? PodMetadataHolder(YAML::Clone(original), kind)
                                           : YAML::Node(YAML::NodeType::Undefined);
  YAML::Node holder = PodMetadataHolder(object, kind);
  const auto clean_annotations = [](YAML::Node holder_node, const YAML::Node& original_holder_node,
                                    const std::vector<std::string>& keys,
                                    const std::vector<std::string>& restorable, bool known_original,
                                    std::vector<std::string>* out_notes) {
    if (!Child(Child(holder_node, "metadata"), "annotations").IsMap()) return;
    YAML::Node metadata = holder_node["metadata"];
    YAML::Node annotations = metadata["annotations"];
    const YAML::Node original_metadata = Child(original_holder_node, "metadata");
    const YAML::Node original_annotations = Child(original_metadata, "annotations");
    for (const auto& key : keys) annotations.remove(key);
    for (const auto& key : restorable) {
      if (!Child(annotations, key.c_str()).IsDefined()) continue;
      if (!known_original) {
        out_notes->push_back(fmt::format("annotation {} is kept (it may predate inject)", key));
        continue;
      }
      const YAML::Node before = Child(original_annotations, key.c_str());
      if (before.IsDefined()) {
        annotations[key] = YAML::Clone(before);
      } else {
        annotations.remove(std::string(key));
      }
    }
    DropIfEmptyAndNew(metadata, "annotations", original_metadata);
    DropIfEmptyAndNew(holder_node, "metadata", original_holder_node);
  };
  clean_annotations(holder, original_holder, {kAnnotationStatus}, MeshAnnotationKeys(), known,
                    &notes);
  clean_annotations(object, original, {kAnnotationOriginal}, {}, known, &notes);
  return notes;
}

InjectStatus ReadStatus(const YAML::Node& pod_metadata) {
  InjectStatus status;
  const YAML::Node value = Child(Child(pod_metadata, "annotations"), kAnnotationStatus);
  if (!value.IsDefined() || !value.IsScalar()) return status;
  const auto json = nlohmann::json::parse(value.Scalar(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) return status;
  status.version = json.value("version", "");
  status.settings = json.value("settings", "");
  return status;
}

}  // namespace lastcall

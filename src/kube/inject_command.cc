#include "inject_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "duration.h"
#include "exit_status.h"
#include "version.h"
#include "yaml_writer.h"

namespace lastcall {
namespace {

constexpr const char* kSidecarName = "lastcall";
constexpr const char* kInstallName = "lastcall-install";
constexpr const char* kBinVolume = "lastcall-bin";
constexpr const char* kRunVolume = "lastcall-run";
constexpr const char* kBinDir = "/lastcall/bin";      // where the app container finds lastcall
constexpr const char* kRunDir = "/var/run/lastcall";  // the default control socket's directory
constexpr const char* kImageBinary = "/lastcall";     // the binary inside the lastcall image
constexpr int kListenPort = 9901;                     // the default `listen`
constexpr int kUid = 65532;                           // the image's USER (and group)
constexpr long long kKubernetesDefaultGrace = 30;     // terminationGracePeriodSeconds unset

// Where a pod template sits in each workload kind.
struct WorkloadKind {
  const char* kind;
  std::vector<const char*> pod_spec_path;
};
const std::vector<WorkloadKind>& WorkloadKinds() {
  static const std::vector<WorkloadKind> kinds = {
      {"Pod", {"spec"}},
      {"Deployment", {"spec", "template", "spec"}},
      {"StatefulSet", {"spec", "template", "spec"}},
      {"DaemonSet", {"spec", "template", "spec"}},
      {"ReplicaSet", {"spec", "template", "spec"}},
      {"ReplicationController", {"spec", "template", "spec"}},
      {"Job", {"spec", "template", "spec"}},
      {"CronJob", {"spec", "jobTemplate", "spec", "template", "spec"}},
  };
  return kinds;
}

std::string SupportedKinds() {
  std::string names;
  for (const auto& kind : WorkloadKinds()) {
    names += (names.empty() ? "" : ", ") + std::string(kind.kind);
  }
  return names;
}

// Read-only lookups: operator[] on a non-const node may add the key, and on a non-map throws.
// A missing key gives an Undefined node that is safe to query (yaml-cpp's own "zombie" node
// throws on Type()), so lookups chain: Child(Child(pod, "spec"), "containers").
YAML::Node Child(const YAML::Node& node, const char* key) {
  if (!node.IsDefined() || !node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node& const_node = node;
  YAML::Node value = const_node[key];
  return value.IsDefined() ? value : YAML::Node(YAML::NodeType::Undefined);
}
bool Present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }
std::string ScalarOr(const YAML::Node& node, const std::string& fallback) {
  return node.IsDefined() && node.IsScalar() ? node.Scalar() : fallback;
}

YAML::Node Map() { return YAML::Node(YAML::NodeType::Map); }
YAML::Node Seq() { return YAML::Node(YAML::NodeType::Sequence); }
YAML::Node Seq(std::initializer_list<std::string> items) {
  YAML::Node seq = Seq();
  for (const auto& item : items) seq.push_back(StringNode(item));
  return seq;
}

YAML::Node HttpProbe(const char* path, int period, int timeout, int failure_threshold) {
  YAML::Node probe = Map();
  probe["httpGet"]["path"] = StringNode(path);
  probe["httpGet"]["port"] = kListenPort;
  probe["periodSeconds"] = period;
  probe["timeoutSeconds"] = timeout;
  probe["failureThreshold"] = failure_threshold;
  return probe;
}

// Small: lastcall idles at a few MiB and a few millicores (README, "Targets").
YAML::Node Resources() {
  YAML::Node resources = Map();
  resources["requests"]["cpu"] = StringNode("10m");
  resources["requests"]["memory"] = StringNode("8Mi");
  resources["limits"]["cpu"] = StringNode("100m");
  resources["limits"]["memory"] = StringNode("32Mi");
  return resources;
}

YAML::Node RestrictedSecurityContext() {
  YAML::Node context = Map();
  context["runAsNonRoot"] = true;
  context["runAsUser"] = kUid;
  context["runAsGroup"] = kUid;
  context["readOnlyRootFilesystem"] = true;
  context["allowPrivilegeEscalation"] = false;
  context["capabilities"]["drop"] = Seq({"ALL"});
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

YAML::Node ExecHook(std::initializer_list<std::string> command) {
  YAML::Node hook = Map();
  hook["exec"]["command"] = Seq(command);
  return hook;
}

std::vector<std::string> RunArgs(const InjectOptions& options, long long grace_seconds) {
  std::vector<std::string> args = {"run", "--lb-delay", FormatDuration(options.lb_delay),
                                   "--drain-timeout", FormatDuration(options.drain_timeout)};
  if (options.exit_delay.count() > 0) {
    args.insert(args.end(), {"--exit-delay", FormatDuration(options.exit_delay)});
  }
  args.insert(args.end(), {"--grace-period", fmt::format("{}s", grace_seconds)});
  args.insert(args.end(), options.run_args.begin(), options.run_args.end());
  return args;
}

YAML::Node SidecarContainer(const InjectOptions& options, long long grace_seconds) {
  YAML::Node container = Map();
  container["name"] = StringNode(kSidecarName);
  container["image"] = StringNode(options.image);
  if (options.native) container["restartPolicy"] = StringNode("Always");
  YAML::Node args = Seq();
  for (const auto& arg : RunArgs(options, grace_seconds)) args.push_back(StringNode(arg));
  container["args"] = args;
  YAML::Node port = Map();
  port["name"] = StringNode(kSidecarName);
  port["containerPort"] = kListenPort;
  container["ports"].push_back(port);
  // /readyz turns 503 the moment shutdown starts: with failureThreshold 1 and a 1 s period the
  // pod leaves the endpoints within about a second. Liveness stays lenient: a restart mid-drain
  // would undo the drain (KUBERNETES.md).
  container["readinessProbe"] = HttpProbe("/readyz", 1, 1, 1);
  container["livenessProbe"] = HttpProbe("/livez", 10, 2, 3);
  if (options.native) {
    // A native sidecar gets SIGTERM only after the app exited; its own hook starts the
    // sequence at the same moment the app's does.
    container["lifecycle"]["preStop"] = ExecHook({kImageBinary, "prestop"});
  }
  container["resources"] = Resources();
  container["securityContext"] = RestrictedSecurityContext();
  container["volumeMounts"].push_back(Mount(kRunVolume, kRunDir, false));
  return container;
}

YAML::Node InstallContainer(const InjectOptions& options) {
  YAML::Node container = Map();
  container["name"] = StringNode(kInstallName);
  container["image"] = StringNode(options.image);
  container["args"] = Seq({"install", "--to", kBinDir});
  container["resources"] = Resources();
  container["securityContext"] = RestrictedSecurityContext();
  container["volumeMounts"].push_back(Mount(kBinVolume, kBinDir, false));
  return container;
}

YAML::Node EmptyDirVolume(const char* name) {
  YAML::Node volume = Map();
  volume["name"] = StringNode(name);
  volume["emptyDir"] = Map();
  return volume;
}

bool HasNamed(const YAML::Node& list, const std::string& name) {
  if (!list.IsSequence()) return false;
  return std::any_of(list.begin(), list.end(), [&](const YAML::Node& item) {
    return ScalarOr(Child(item, "name"), "") == name;
  });
}

std::optional<long long> ParseInteger(const std::string& text) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Why lastcall cannot be added to this pod as asked, or "": the pod runs to completion (a
// regular sidecar would never let it finish), or a name, path or port lastcall needs is taken.
std::string Conflict(const YAML::Node& pod, const YAML::Node& app, const std::string& app_name,
                     const InjectOptions& options) {
  const YAML::Node containers = Child(pod, "containers");
  const YAML::Node init_containers = Child(pod, "initContainers");
  const std::string restart_policy = ScalarOr(Child(pod, "restartPolicy"), "Always");
  if (!options.native && restart_policy != "Always") {
    return fmt::format(
        "the pod's restartPolicy is {}: it runs to completion, and a regular sidecar container "
        "never exits, so the pod would never complete; use --native (a native sidecar stops "
        "when the app has finished; Kubernetes 1.29+)",
        restart_policy);
  }
  if (HasNamed(init_containers, kInstallName) || HasNamed(containers, kInstallName)) {
    return fmt::format("a container named \"{}\" already exists", kInstallName);
  }
  const YAML::Node volumes = Child(pod, "volumes");
  for (const char* volume : {kBinVolume, kRunVolume}) {
    if (HasNamed(volumes, volume)) {
      return fmt::format("a volume named \"{}\" already exists", volume);
    }
  }
  const YAML::Node app_mounts = Child(app, "volumeMounts");
  if (app_mounts.IsSequence()) {
    for (const auto& mount : app_mounts) {
      const std::string path = ScalarOr(Child(mount, "mountPath"), "");
      if (path == kBinDir || path == kRunDir) {
        return fmt::format("container \"{}\" already mounts a volume at {}", app_name, path);
      }
    }
  }
  for (const YAML::Node& list : {containers, init_containers}) {
    if (!list.IsSequence()) continue;
    for (const auto& container : list) {
      const YAML::Node ports = Child(container, "ports");
      if (!ports.IsSequence()) continue;
      for (const auto& port : ports) {
        if (ScalarOr(Child(port, "containerPort"), "") == std::to_string(kListenPort)) {
          return fmt::format("container \"{}\" already uses port {}, where lastcall listens",
                             ScalarOr(Child(container, "name"), ""), kListenPort);
        }
      }
    }
  }
  return "";
}

// Adds lastcall to `pod` (checked by InjectPod first): the hook and mounts on `app`, the init
// container(s), the sidecar, the volumes, the socket's group and the grace period.
void AddLastcall(YAML::Node pod, YAML::Node app, const InjectOptions& options, long long grace) {
  const YAML::Node init_containers = Child(pod, "initContainers");
  const YAML::Node grace_node = Child(pod, "terminationGracePeriodSeconds");
  app["lifecycle"]["preStop"] = ExecHook({std::string(kBinDir) + "/lastcall", "prestop"});
  app["volumeMounts"].push_back(Mount(kBinVolume, kBinDir, true));
  app["volumeMounts"].push_back(Mount(kRunVolume, kRunDir, false));

  // Init containers run in order: the binary is installed first; a native sidecar comes next,
  // so it starts before (and, in reverse order, stops after) any sidecar already there.
  YAML::Node new_init = Seq();
  new_init.push_back(InstallContainer(options));
  if (options.native) new_init.push_back(SidecarContainer(options, grace));
  if (init_containers.IsSequence()) {
    for (const auto& container : init_containers) new_init.push_back(container);
  }
  pod["initContainers"] = new_init;
  if (!options.native) pod["containers"].push_back(SidecarContainer(options, grace));

  pod["volumes"].push_back(EmptyDirVolume(kBinVolume));
  pod["volumes"].push_back(EmptyDirVolume(kRunVolume));

  // The control socket is mode 0660, owned by lastcall's group: the app's hook, running as the
  // app's user, reaches it through this supplementary group.
  YAML::Node groups = pod["securityContext"]["supplementalGroups"];
  const bool has_group =
      groups.IsSequence() && std::any_of(groups.begin(), groups.end(), [](const YAML::Node& g) {
        return ScalarOr(g, "") == std::to_string(kUid);
      });
  if (!has_group) groups.push_back(kUid);

  if (!Present(grace_node) || ScalarOr(grace_node, "") != std::to_string(grace)) {
    pod["terminationGracePeriodSeconds"] = grace;
  }
}

struct PodOutcome {
  bool changed = false;
  std::string error;
  std::vector<std::string> notes;
};

// Checks everything first and changes the pod (through the handle `pod`) only when nothing is
// refused.
PodOutcome InjectPod(const YAML::Node& pod, const InjectOptions& options) {
  PodOutcome outcome;
  const YAML::Node containers = Child(pod, "containers");
  if (!containers.IsSequence() || containers.size() == 0) {
    outcome.error = "the pod has no containers";
    return outcome;
  }
  const YAML::Node init_containers = Child(pod, "initContainers");
  if (HasNamed(containers, kSidecarName) || HasNamed(init_containers, kSidecarName)) {
    outcome.notes.push_back("already has a lastcall container; left unchanged");
    return outcome;
  }

  std::vector<std::string> names;
  for (const auto& container : containers) names.push_back(ScalarOr(Child(container, "name"), ""));
  const auto target_index =
      options.container.empty()
          ? 0
          : static_cast<size_t>(std::find(names.begin(), names.end(), options.container) -
                                names.begin());
  if (target_index == names.size()) {
    outcome.error = fmt::format("no container named \"{}\" (containers: {})", options.container,
                                fmt::join(names, ", "));
    return outcome;
  }
  YAML::Node app = containers[target_index];
  if (!app.IsMap()) {
    outcome.error = "containers[" + std::to_string(target_index) + "] is not a mapping";
    return outcome;
  }
  const std::string& app_name = names[target_index];
  const bool replaces_hook = Present(Child(Child(app, "lifecycle"), "preStop"));
  if (replaces_hook && !options.force) {
    outcome.error = fmt::format(
        "container \"{}\" already has a preStop hook; lastcall's hook would replace it (use "
        "--force to replace it, after moving what it does into the app's drain endpoint)",
        app_name);
    return outcome;
  }

  if (std::string conflict = Conflict(pod, app, app_name, options); !conflict.empty()) {
    outcome.error = std::move(conflict);
    return outcome;
  }
  long long grace = kKubernetesDefaultGrace;
  const YAML::Node grace_node = Child(pod, "terminationGracePeriodSeconds");
  if (Present(grace_node)) {
    const auto parsed = ParseInteger(ScalarOr(grace_node, ""));
    if (!parsed || *parsed < 0) {
      outcome.error = "terminationGracePeriodSeconds is not a non-negative integer";
      return outcome;
    }
    grace = *parsed;
  }
  const long long required = RequiredGraceSeconds(options);
  if (required > grace) {
    outcome.notes.push_back(fmt::format(
        "terminationGracePeriodSeconds raised from {} to {}: lb_delay {} + drain timeout {} + "
        "exit delay {} + margin {} must fit",
        grace, required, FormatDuration(options.lb_delay), FormatDuration(options.drain_timeout),
        FormatDuration(options.exit_delay), FormatDuration(Config::kBudgetMargin)));
    grace = required;
  }

  if (replaces_hook) {
    outcome.notes.push_back(
        fmt::format("replaced the preStop hook of container \"{}\" (--force)", app_name));
  }
  AddLastcall(pod, app, options, grace);
  outcome.changed = true;
  return outcome;
}

struct ObjectOutcome {
  bool changed = false;
  std::string error;  // prefixed with the object's description
  std::vector<std::string> notes;
};

std::string Describe(const YAML::Node& object) {
  const std::string kind = ScalarOr(Child(object, "kind"), "object");
  const YAML::Node metadata = Child(object, "metadata");
  std::string name = ScalarOr(Child(metadata, "name"), "");
  if (name.empty()) name = ScalarOr(Child(metadata, "generateName"), "");
  return name.empty() ? kind : kind + " " + name;
}

// Another kind that carries a pod template: injecting into it is not something to skip silently.
bool HasPodTemplate(const YAML::Node& object) {
  const YAML::Node spec = Child(object, "spec");
  return Present(Child(Child(Child(spec, "template"), "spec"), "containers")) ||
         Present(Child(Child(spec, "jobTemplate"), "spec")) || Present(Child(spec, "containers"));
}

// `object` is a handle: the changes land in the document it belongs to.
ObjectOutcome InjectObject(const YAML::Node& object, const InjectOptions& options) {
  ObjectOutcome outcome;
  if (!object.IsMap()) {
    outcome.error = "not a Kubernetes object (a mapping with apiVersion and kind)";
    return outcome;
  }
  const YAML::Node kind_node = Child(object, "kind");
  if (!kind_node.IsScalar() || kind_node.Scalar().empty()) {
    outcome.error = "not a Kubernetes object: it has no kind";
    return outcome;
  }
  const std::string& kind = kind_node.Scalar();
  const std::string description = Describe(object);
  const YAML::Node items = Child(object, "items");
  if (kind.size() >= 4 && kind.ends_with("List") && items.IsSequence()) {
    for (size_t i = 0; i < items.size(); ++i) {
      ObjectOutcome item = InjectObject(items[i], options);
      const std::string where = fmt::format("{} item {}: ", kind, i + 1);
      for (const auto& note : item.notes) outcome.notes.push_back(where + note);
      if (!item.error.empty()) {
        outcome.error = where + item.error;
        return outcome;
      }
      outcome.changed = outcome.changed || item.changed;
    }
    return outcome;
  }
  const auto known = std::find_if(WorkloadKinds().begin(), WorkloadKinds().end(),
                                  [&](const WorkloadKind& k) { return kind == k.kind; });
  if (known == WorkloadKinds().end()) {
    if (HasPodTemplate(object)) {
      outcome.error = fmt::format(
          "{}: kind {} has a pod template but is not supported (supported: {}); add lastcall to "
          "it by hand (deploy/kubernetes)",
          description, kind, SupportedKinds());
    }
    return outcome;  // not a workload: copied through unchanged
  }
  YAML::Node pod = object;
  std::string path;
  for (const char* key : known->pod_spec_path) {
    path += (path.empty() ? "" : ".") + std::string(key);
    YAML::Node next = Child(pod, key);
    if (!next.IsMap()) {
      outcome.error = fmt::format("{}: no pod spec at {}", description, path);
      return outcome;
    }
    pod.reset(pod[key]);  // rebind (assignment would overwrite the node in the document)
  }
  PodOutcome pod_outcome = InjectPod(pod, options);
  for (const auto& note : pod_outcome.notes) {
    outcome.notes.push_back(fmt::format("{}: {}", description, note));
  }
  if (!pod_outcome.error.empty()) {
    outcome.error = description + ": " + pod_outcome.error;
    return outcome;
  }
  outcome.changed = pod_outcome.changed;
  return outcome;
}

// One document of the stream: its text from its `---` line (if any) to the next one.
struct RawDocument {
  std::string text;
  bool has_separator = false;
  int first_line = 1;  // 1-based line of `text` in the whole input
};

bool IsSeparatorLine(std::string_view line) {
  if (!line.starts_with("---")) return false;
  return line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r' ||
         line[3] == '\n';
}

std::vector<RawDocument> SplitDocuments(std::string_view input) {
  std::vector<RawDocument> documents(1);
  int line_number = 1;
  size_t start = 0;
  while (start < input.size()) {
    size_t end = input.find('\n', start);
    end = end == std::string_view::npos ? input.size() : end + 1;
    const std::string_view line = input.substr(start, end - start);
    if (IsSeparatorLine(line) &&
        (!documents.back().text.empty() || documents.back().has_separator)) {
      documents.push_back(RawDocument{"", true, line_number});
    } else if (IsSeparatorLine(line)) {
      documents.back().has_separator = true;
    }
    documents.back().text += line;
    start = end;
    ++line_number;
  }
  return documents;
}

std::string ReadAll(std::istream& in) {
  std::string text;
  std::array<char, 1 << 16> buffer{};
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    text.append(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  return text;
}

// The comment and blank lines at the top of a document (after its `---` line): kept when the
// document is re-written, since they usually say what the whole object is.
std::string LeadingComments(const RawDocument& document) {
  std::string comments;
  size_t start = 0;
  if (document.has_separator) {
    const size_t end = document.text.find('\n');
    start = end == std::string::npos ? document.text.size() : end + 1;
  }
  while (start < document.text.size()) {
    size_t end = document.text.find('\n', start);
    end = end == std::string::npos ? document.text.size() : end + 1;
    const std::string_view line(document.text.data() + start, end - start);
    const size_t first = line.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && line[first] != '#') break;
    comments += line;
    start = end;
  }
  if (!comments.empty() && comments.back() != '\n') comments += '\n';
  return comments;
}

}  // namespace

std::string DefaultImage() { return std::string("ghcr.io/lastcall/lastcall:") + kVersion; }

long long RequiredGraceSeconds(const InjectOptions& options) {
  const Millis budget =
      options.lb_delay + options.drain_timeout + options.exit_delay + Config::kBudgetMargin;
  return (budget.count() + 999) / 1000;
}

namespace {

InjectResult Refuse(InjectResult result, std::string error) {
  result.ok = false;
  result.output.clear();
  result.error = std::move(error);
  return result;
}

}  // namespace

InjectResult InjectManifests(std::string_view input, const InjectOptions& options) {
  InjectResult result;
  const std::vector<RawDocument> documents = SplitDocuments(input);
  int workloads_changed = 0;
  for (size_t i = 0; i < documents.size(); ++i) {
    const RawDocument& document = documents[i];
    const std::string where = fmt::format("document {}", i + 1);
    YAML::Node node;
    try {
      node = YAML::Load(document.text);
    } catch (const YAML::Exception& e) {
      return Refuse(std::move(result),
                    fmt::format("{}: invalid YAML at line {}, column {}: {}", where,
                                document.first_line + e.mark.line, e.mark.column + 1, e.msg));
    }
    if (!Present(node)) {  // only comments, or empty
      result.output += document.text;
      continue;
    }
    ObjectOutcome outcome;
    try {
      outcome = InjectObject(node, options);
    } catch (const YAML::Exception& e) {  // a field of an unexpected type, e.g. a scalar spec
      outcome.error = std::string("unexpected structure: ") + e.msg;
    }
    for (const auto& note : outcome.notes)
      result.notes.push_back(fmt::format("{}: {}", where, note));
    if (!outcome.error.empty()) return Refuse(std::move(result), where + ": " + outcome.error);
    if (!outcome.changed) {
      result.output += document.text;
      continue;
    }
    ++workloads_changed;
    std::string written = WriteYaml(node);
    // The writer must not change what it was given: read it back and compare.
    try {
      if (!SameYaml(YAML::Load(written), node)) throw YAML::Exception(YAML::Mark(), "differs");
    } catch (const YAML::Exception&) {
      return Refuse(std::move(result),
                    where + ": internal error: the written YAML does not read back the same");
    }
    if (document.has_separator) result.output += "---\n";
    result.output += LeadingComments(document) + written;
  }
  if (workloads_changed == 0 && result.notes.empty()) {
    result.notes.push_back("no workload found (supported: " + SupportedKinds() +
                           "); the input is copied unchanged");
  }
  result.ok = true;
  return result;
}

int RunInject(const InjectOptions& options, std::istream& in, std::ostream& out,
              std::ostream& err) {
  std::string input;
  if (options.input == "-") {
    input = ReadAll(in);
  } else {
    std::ifstream file(options.input, std::ios::binary);
    if (!file) {
      err << "lastcall inject: cannot read " << options.input << ": "
          << std::generic_category().message(errno) << "\n";
      return kExitUsage;
    }
    input = ReadAll(file);
  }
  const InjectResult result = InjectManifests(input, options);
  for (const auto& note : result.notes) err << "lastcall inject: " << note << "\n";
  if (!result.ok) {
    err << "lastcall inject: " << result.error << "\n";
    return kExitUsage;
  }
  out << result.output;
  out.flush();
  return kExitDrained;
}

namespace {

// The long description: `lastcall inject --help` shows it as the footer.
constexpr const char* kInjectDescription =
    "Add the lastcall sidecar to Kubernetes manifests (Pod, Deployment, StatefulSet, DaemonSet, "
    "ReplicaSet, ReplicationController, Job, CronJob, List) and write them to stdout:\n"
    "  kubectl get deploy app -o yaml | lastcall inject - | kubectl apply -f -\n"
    "Other documents, and workloads that already have a container named lastcall, are copied "
    "unchanged. Changed documents lose their comments (the data stays the same).";

// Adds the flags of `inject` to `inject`, bound to `options`.
void DefineInjectFlags(CLI::App* inject, InjectOptions& options) {
  inject->add_option("file", options.input, "Manifest file, or - for standard input")
      ->capture_default_str();
  inject->add_flag("--native", options.native,
                   "Add lastcall as a native sidecar (an init container with restartPolicy "
                   "Always; Kubernetes 1.29+). Required for Jobs, CronJobs and run-to-completion "
                   "pods");
  inject->add_option("--container", options.container,
                     "The app container that gets the preStop hook (default: the first)");
  inject->add_flag("--force", options.force,
                   "Replace an existing preStop hook on the app container");
  inject->add_option("--image", options.image, "The lastcall image")->capture_default_str();
  const auto duration = [inject](const std::string& flag, Millis* target, const char* help) {
    inject
        ->add_option_function<std::string>(
            flag,
            [flag, target](const std::string& text) {
              std::string error;
              const auto value = ParseDuration(text, &error);
              if (!value) throw CLI::ValidationError(flag, "\"" + text + "\": " + error);
              *target = *value;
            },
            help)
        ->default_str(FormatDuration(*target));
  };
  duration("--lb-delay", &options.lb_delay, "lastcall's lb_delay (run --lb-delay)");
  duration("--drain-timeout", &options.drain_timeout, "lastcall's drain timeout");
  duration("--exit-delay", &options.exit_delay, "lastcall's exit delay");
  inject
      ->add_option("--run-arg", options.run_args,
                   "One more argument for `lastcall run`, repeatable; write values that start "
                   "with - as --run-arg=--monitor=connections")
      // One value per occurrence: a file name after it stays the positional argument.
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

}  // namespace

CLI::App* AddInjectSubcommand(CLI::App& app, InjectOptions& options) {
  CLI::App* inject = app.add_subcommand("inject", kInjectDescription);
  DefineInjectFlags(inject, options);
  return inject;
}

Subcommand InjectSubcommand(InjectOptions* options) {
  return {"inject", "Add the lastcall sidecar to Kubernetes manifests (stdin or a file)",
          [options](CLI::App* app, const Env& /*env*/) {
            app->footer(std::string(kInjectDescription) + "\n\n" + app->get_footer());
            DefineInjectFlags(app, *options);
            return ThenRun(nullptr, [options](const CommandIo& io) {
              return RunInject(*options, io.in, io.out, io.err);
            });
          }};
}

}  // namespace lastcall

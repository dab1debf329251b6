#include "inject_command.h"

#include <fmt/format.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "base/exit_status.h"
#include "cluster_access.h"
#include "injection_planner.h"
#include "manifest_yaml.h"
#include "pod_injection.h"
#include "uninject_command.h"
#include "version.h"
#include "yaml_writer.h"

namespace lastcall {

using manifest::Child;
using manifest::Present;
using manifest::ScalarOr;

namespace {

// Kubernetes caps all annotations of an object at 256 KiB together; the original must leave room.
constexpr size_t kMaxOriginalBytes = 128 * 1024;

struct ObjectOutcome {
  bool changed = false;
  std::vector<std::string> notes;    // prefixed with the object's description
  std::vector<std::string> skipped;  // likewise
  int injected = 0;
};

// What every workload of one run shares: the flags, the bundle, and where decisions go.
struct RunContext {
  const InjectOptions& flags;
  const BundleFacts& bundle;
  std::vector<WorkloadDecision>* decisions;
};

// Another kind that carries a pod template: worth a word, since it is left alone.
bool HasPodTemplate(const YAML::Node& object) {
  const YAML::Node spec = Child(object, "spec");
  return Present(Child(Child(Child(spec, "template"), "spec"), "containers")) ||
         Present(Child(Child(spec, "jobTemplate"), "spec")) || Present(Child(spec, "containers"));
}

void SetAnnotation(YAML::Node object, const char* key, const std::string& value) {
  object["metadata"]["annotations"][key] = StringNode(value);
}

// `original_text` reads back as `object` before any change: the document's own text for a
// top-level object; for an item of a List, "" (the List keeps the one copy of the original) and
// `list_original` is the item as the List's original has it (Undefined when there is none).
ObjectOutcome InjectWorkload(YAML::Node object, const manifest::WorkloadKind& kind,
                             const std::string& original_text, const YAML::Node& list_original,
                             const RunContext& run) {
  ObjectOutcome outcome;
  const std::string description = manifest::Describe(object);
  const bool in_list = original_text.empty();
  const auto skip = [&](const std::string& reason) {
    outcome.skipped.push_back(description + ": " + reason);
    return outcome;
  };
  std::string missing;
  if (!PodSpecOf(object, kind, &missing).IsDefined()) return skip("no pod spec at " + missing);

  // Already injected: compare with what this run would inject into the workload as it was.
  YAML::Node base = object;
  std::string base_text = original_text;
  const bool injected_before = !ReadStatus(PodMetadataOf(object, kind)).version.empty();
  if (!injected_before && HasLastcall(PodSpecOf(object, kind))) {
    // Wired by hand, or by an inject that kept no record: not ours to rewrite.
    outcome.notes.push_back(description +
                            ": has a lastcall container but no lastcall.dev/status (not added "
                            "by this inject); left unchanged (to re-inject: lastcall uninject | "
                            "lastcall inject)");
    return outcome;
  }
  if (injected_before) {
    YAML::Node original(YAML::NodeType::Undefined);
    const auto recorded = manifest::Annotation(object, kAnnotationOriginal);
    if (recorded) {
      try {
        original = manifest::LoadBounded(*recorded);
      } catch (const YAML::Exception&) {
        outcome.notes.push_back(description + ": annotation " + kAnnotationOriginal +
                                " is not YAML; ignored");
      }
    } else if (in_list) {
      original = list_original;
    }
    base.reset(YAML::Clone(object));  // rebind: assignment would overwrite `object`
    for (const auto& note : RemoveLastcall(base, kind, original)) {
      outcome.notes.push_back(description + ": " + note);
    }
    if (!in_list) {
      base_text = recorded && original.IsDefined() && SameYaml(base, original) ? *recorded
                                                                               : WriteYaml(base);
    }
  }

  WorkloadDecision decision = PlanWorkload(WorkloadFactsOf(base), run.bundle, run.flags);
  for (const auto& warning : decision.warnings) {
    outcome.notes.push_back(description + ": warning: " + warning);
  }
  const auto record = [&] {
    if (run.decisions != nullptr) run.decisions->push_back(decision);
  };
  if (decision.action == PlanAction::kLeave) {
    record();
    outcome.notes.push_back(description + ": " + decision.reason + "; left unchanged");
    return outcome;
  }
  if (decision.action == PlanAction::kSkip) {
    record();
    return skip(decision.reason);
  }
  const InjectOptions& options = decision.options;
  const std::string hash = SettingsHash(options);
  if (base_text.size() > kMaxOriginalBytes) {
    decision.action = PlanAction::kSkip;
    decision.reason = fmt::format(
        "{} bytes: too large to keep its original for `lastcall uninject`", base_text.size());
    record();
    return skip(decision.reason);
  }
  record();

  // Any re-injection starts from the workload as it was. It changes nothing when the result
  // would be what is there (same version, settings and pod): then the document stays byte for byte.
  const InjectStatus before = ReadStatus(PodMetadataOf(object, kind));
  YAML::Node result = injected_before ? YAML::Clone(base) : object;
  std::vector<std::string> notes;
  for (const auto& note : decision.plan->notes) notes.push_back(description + ": " + note);
  for (const auto& note : AddLastcall(result, kind, *decision.plan, options, hash)) {
    notes.push_back(description + ": " + note);
  }
  if (!in_list) SetAnnotation(result, kAnnotationOriginal, base_text);
  if (injected_before) {
    if (SameYaml(result, object)) {
      outcome.notes.push_back(description + ": already injected with these settings; unchanged");
      return outcome;
    }
    object = result;  // the document's node now holds the re-injected workload
    notes.push_back(fmt::format("{}: re-injected (lastcall {} -> {}{})", description,
                                before.version, kVersion,
                                before.settings == hash ? "" : ", other settings"));
  }
  outcome.notes.insert(outcome.notes.end(), notes.begin(), notes.end());
  outcome.changed = true;
  outcome.injected = 1;
  return outcome;
}

ObjectOutcome InjectObject(YAML::Node object, const std::string& original_text,
                           const YAML::Node& list_original, const RunContext& run, bool top_level) {
  ObjectOutcome outcome;
  if (!object.IsMap()) {
    if (top_level) outcome.skipped.push_back("not a Kubernetes object (a mapping with a kind)");
    return outcome;
  }
  const YAML::Node kind_node = Child(object, "kind");
  if (!kind_node.IsScalar() || kind_node.Scalar().empty()) {
    outcome.skipped.push_back("not a Kubernetes object: it has no kind");
    return outcome;
  }
  const std::string kind = kind_node.Scalar();
  if (top_level && kind.size() >= 4 && kind.ends_with("List") &&
      Child(object, "items").IsSequence()) {
    // The List keeps the one copy of the document as it was (its items none), for uninject to
    // give it back byte for byte.
    YAML::Node recorded_list(YAML::NodeType::Undefined);
    if (const auto recorded = manifest::Annotation(object, kAnnotationOriginal)) {
      try {
        recorded_list = manifest::LoadBounded(*recorded);
      } catch (const YAML::Exception&) {
      }
    }
    const YAML::Node recorded_items = Child(recorded_list, "items");
    YAML::Node items = object["items"];
    for (size_t i = 0; i < items.size(); ++i) {
      YAML::Node item = items[i];
      YAML::Node item_original(YAML::NodeType::Undefined);
      if (recorded_items.IsDefined() && recorded_items.IsSequence() && i < recorded_items.size() &&
          manifest::Describe(recorded_items[i]) == manifest::Describe(item)) {
        item_original.reset(recorded_items[i]);
      }
      ObjectOutcome inner = InjectObject(item, "", item_original, run, false);
      const std::string where = fmt::format("{} item {}: ", kind, i + 1);
      for (const auto& note : inner.notes) outcome.notes.push_back(where + note);
      for (const auto& reason : inner.skipped) outcome.skipped.push_back(where + reason);
      outcome.changed = outcome.changed || inner.changed;
      outcome.injected += inner.injected;
    }
    if (outcome.changed && !manifest::Annotation(object, kAnnotationOriginal)) {
      if (original_text.size() > kMaxOriginalBytes) {
        outcome.skipped.push_back(
            fmt::format("{}: {} bytes: too large to keep its original for `lastcall uninject`",
                        kind, original_text.size()));
        outcome.changed = false;
        outcome.injected = 0;
        return outcome;
      }
      SetAnnotation(object, kAnnotationOriginal, original_text);
    }
    return outcome;
  }
  const manifest::WorkloadKind* known = manifest::FindWorkloadKind(kind);
  if (known == nullptr) {
    if (HasPodTemplate(object)) {
      outcome.skipped.push_back(fmt::format(
          "{}: kind {} has a pod template but is not supported (supported: {}); add lastcall to "
          "it by hand (deploy/kubernetes)",
          manifest::Describe(object), kind, manifest::SupportedKinds()));
    }
    return outcome;  // not a workload: copied through unchanged
  }
  return InjectWorkload(object, *known, original_text, list_original, run);
}

// The Roles and RoleBindings of the input (documents and List items) by ObjectKey: inject never
// writes one that is there already, its own from an earlier run or one the user wrote.
void CollectRbac(const YAML::Node& node, std::set<std::string>* keys) {
  const auto collect = [keys](const YAML::Node& object) {
    if (!object.IsMap()) return;
    const std::string kind = ScalarOr(Child(object, "kind"), "");
    if (kind == "Role" || kind == "RoleBinding") keys->insert(ObjectKey(object));
  };
  collect(node);
  if (!node.IsMap() || !Child(node, "items").IsSequence()) return;
  for (const auto& item : node["items"]) collect(item);
}

// The keys of the objects an earlier inject --cluster-access wrote.
void CollectClusterAccess(const YAML::Node& node, std::set<std::string>* keys) {
  if (!node.IsMap()) return;
  if (IsClusterAccessObject(node)) keys->insert(ObjectKey(node));
  if (!Child(node, "items").IsSequence()) return;
  for (const auto& item : node["items"]) {
    if (IsClusterAccessObject(item)) keys->insert(ObjectKey(item));
  }
}

}  // namespace

InjectResult InjectManifests(std::string_view input, const InjectOptions& options) {
  InjectResult result;
  const std::vector<manifest::RawDocument> documents = manifest::SplitDocuments(input);

  // YAML that cannot round-trip is refused whole: one document rewritten wrongly would be applied
  // with the others.
  for (size_t i = 0; i < documents.size(); ++i) {
    try {
      if (const auto merge = manifest::FindMergeKey(documents[i].text, documents[i].first_line)) {
        result.refused = fmt::format("document {}: line {}, column {}: {}", i + 1, merge->line,
                                     merge->column, merge->what);
        break;
      }
    } catch (const YAML::Exception&) {
      // Invalid YAML: that document is skipped below, with its line and column.
    }
  }
  if (!result.refused.empty()) {
    result.output = std::string(input);
    return result;
  }

  // First the bundle: the Services and Namespaces every workload's plan reads.
  std::vector<std::optional<YAML::Node>> loaded(documents.size());
  std::vector<std::string> load_problems;
  BundleFacts bundle;
  for (size_t i = 0; i < documents.size(); ++i) {
    loaded[i] =
        manifest::LoadDocument(documents[i], fmt::format("document {}", i + 1), &load_problems);
    if (loaded[i]) CollectBundleFacts(*loaded[i], &bundle);
  }
  result.skipped = load_problems;
  const RunContext run{options, bundle, &result.decisions};
  std::set<std::string> rbac_present;    // in the input: never written again
  std::set<std::string> access_present;  // of those, written by an earlier inject
  for (const auto& node : loaded) {
    if (!node) continue;
    CollectRbac(*node, &rbac_present);
    CollectClusterAccess(*node, &access_present);
  }
  std::set<std::string> access_wanted;
  // The Role and RoleBinding the workloads of decisions [from, end) ask for and the input lacks:
  // each written once, beside the first workload that asks.
  const auto access_objects = [&](size_t from) {
    std::vector<YAML::Node> objects;
    for (size_t d = from; d < result.decisions.size(); ++d) {
      const WorkloadDecision& decision = result.decisions[d];
      if (decision.action != PlanAction::kInject) continue;
      const std::string what = fmt::format("{} {}", decision.kind, decision.name);
      if (!decision.cluster_access_note.empty()) {
        result.notes.push_back(what + ": cluster access: " + decision.cluster_access_note);
      }
      if (decision.cluster_access_account.empty()) continue;
      for (YAML::Node& object :
           ClusterAccessObjects(decision.namespace_name, decision.cluster_access_account)) {
        const std::string key = ObjectKey(object);
        if (!access_wanted.insert(key).second) continue;
        if (rbac_present.count(key) != 0) {
          if (access_present.count(key) == 0) {
            result.notes.push_back(fmt::format(
                "{}: cluster access: {} is in the input already, not written by lastcall: kept "
                "as it is (check that it grants what deploy/kubernetes/rbac does)",
                what, key));
          }
          continue;
        }
        result.notes.push_back(fmt::format("{}: cluster access: wrote {} (service account {})",
                                           what, key, decision.cluster_access_account));
        objects.push_back(object);
      }
    }
    return objects;
  };
  // Beside a document: each object as a document of its own (a List's go into its items).
  const auto access_documents = [&](const std::vector<YAML::Node>& objects) {
    std::string text;
    if (!objects.empty() && !result.output.empty() && result.output.back() != '\n') text = "\n";
    for (const auto& object : objects) text += "---\n" + WriteYaml(object);
    return text;
  };

  bool any_workload_seen = false;
  for (size_t i = 0; i < documents.size(); ++i) {
    const manifest::RawDocument& document = documents[i];
    const std::string where = fmt::format("document {}", i + 1);
    if (!loaded[i]) {
      any_workload_seen = true;  // perhaps one: "no workload found" would be wrong
      result.output += document.text;
      continue;
    }
    YAML::Node node = *loaded[i];
    if (!Present(node)) {  // only comments, or empty
      result.output += document.text;
      continue;
    }
    const bool injected_before = document.text.find(kAnnotationStatus) != std::string::npos;
    ObjectOutcome outcome;
    const size_t decisions_before = result.decisions.size();
    try {
      outcome =
          InjectObject(node, document.Body(), YAML::Node(YAML::NodeType::Undefined), run, true);
    } catch (const YAML::Exception& e) {  // a field of an unexpected type, e.g. a scalar spec
      outcome = ObjectOutcome{};
      outcome.skipped.push_back(std::string("unexpected structure: ") + e.msg);
      result.decisions.resize(decisions_before);
      node = YAML::Load(document.text);
    }
    for (const auto& note : outcome.notes) result.notes.push_back(where + ": " + note);
    for (const auto& reason : outcome.skipped) result.skipped.push_back(where + ": " + reason);
    any_workload_seen =
        any_workload_seen || outcome.changed || !outcome.notes.empty() || !outcome.skipped.empty();
    std::vector<YAML::Node> access = access_objects(decisions_before);
    if (!access.empty() && Child(node, "items").IsSequence() &&
        ScalarOr(Child(node, "kind"), "").ends_with("List")) {
      // A List (a kubectl get, a KRM ResourceList) stays one document: the objects join its
      // items.
      for (const auto& object : access) node["items"].push_back(object);
      access.clear();
      outcome.changed = true;
    }
    if (!outcome.changed) {
      result.output += document.text;
      result.output += access_documents(access);
      continue;
    }
    std::string written = WriteYaml(node);
    // The writer must not change what it was given: read it back and compare.
    bool same = false;
    try {
      same = SameYaml(YAML::Load(written), node);
    } catch (const YAML::Exception&) {
    }
    if (!same) {
      result.skipped.push_back(where +
                               ": internal error: the written YAML does not read back "
                               "the same; left unchanged");
      result.output += document.text;
      continue;
    }
    const std::string rewritten =
        document.SeparatorLine() + manifest::LeadingComments(document) + written;
    // What uninject cannot give back byte for byte is not written at all.
    if (!injected_before && UninjectManifests(rewritten).output != document.text) {
      result.refused = where +
                       ": `lastcall uninject` would not give this document back byte for byte "
                       "(please report it with the document)";
      result.output = std::string(input);
      result.injected = 0;
      return result;
    }
    result.injected += outcome.injected;
    result.output += rewritten;
    result.output += access_documents(access);
  }
  for (const auto& key : access_present) {
    if (access_wanted.count(key) == 0) {
      result.notes.push_back(key +
                             ": written by inject --cluster-access for a workload that no "
                             "longer asks for it (or is not in this input); kept (`lastcall "
                             "uninject` removes it)");
    }
  }
  if (!any_workload_seen) {
    result.notes.push_back("no workload found (supported: " + manifest::SupportedKinds() +
                           "); the input is copied unchanged");
  }
  return result;
}

int RunInject(const InjectOptions& options, std::istream& in, std::ostream& out,
              std::ostream& err) {
  const std::optional<std::string> input =
      manifest::ReadInput(options.input, in, err, "lastcall inject");
  if (!input) return kExitUsage;
  const InjectResult result = InjectManifests(*input, options);
  if (!result.refused.empty()) {
    err << "lastcall inject: refused the whole input, nothing written: " << result.refused << "\n";
    return kExitUsage;
  }
  if (options.explain) {
    for (const auto& decision : result.decisions) out << decision.ToJson().dump() << "\n";
  } else {
    out << result.output;
  }
  out.flush();
  for (const auto& decision : result.decisions) {
    err << "lastcall inject: " << decision.Explain() << "\n";
  }
  for (const auto& note : result.notes) err << "lastcall inject: " << note << "\n";
  for (const auto& reason : result.skipped) err << "lastcall inject: skipped " << reason << "\n";
  err << fmt::format(
      "lastcall inject: {} workload(s) injected, {} skipped{}\n", result.injected,
      result.skipped.size(),
      result.skipped.empty() || options.strict ? "" : " (left unchanged; --strict fails on this)");
  return options.strict && !result.skipped.empty() ? kExitTimedOut : kExitDrained;
}

namespace {

constexpr const char* kInjectDescription =
    "Add the lastcall sidecar to Kubernetes manifests (Pod, Deployment, StatefulSet, DaemonSet, "
    "ReplicaSet, ReplicationController, Job, CronJob, List) and write them to stdout:\n"
    "  kubectl get deploy app -o yaml | lastcall inject | kubectl apply -f -\n"
    "  helm install app ./chart --post-renderer lastcall --post-renderer-args inject\n"
    "The wiring follows each pod and the bundle around it: the ports its Services target\n"
    "(connections monitor, requests in flight, settle 1s; gRPC/HTTP/2 ports multiplexed) or its\n"
    "drain endpoint (annotation lastcall.dev/drain-url: status monitor), its readiness probe,\n"
    "its preStop hook (kept, after the drain), a port clear of the pod's and of Envoy's,\n"
    "Istio's and Linkerd's, the mesh of its namespace. Each decision is explained on stderr\n"
    "(--explain: as JSON on stdout). Per-workload annotations lastcall.dev/inject\n"
    "(enabled|disabled), lb-delay, drain-timeout, exit-delay, drain-url, monitor,\n"
    "refused-means, port, ports, settle, mesh, platform, requests, limits, run-as, image,\n"
    "container, cluster-access override the flags; they are validated as `lastcall check`\n"
    "validates. Jobs and CronJobs are left alone (nothing to drain). What cannot be injected is\n"
    "left unchanged and listed on stderr (exit 0; 1 with --strict); input that could not be\n"
    "taken back (a YAML merge key) is refused whole (exit 2, nothing written). Re-running\n"
    "upgrades what another version or other settings injected; `lastcall uninject` takes it\n"
    "all back, the Role and RoleBinding of --cluster-access included.";

void DefineInjectFlags(CLI::App* inject, InjectOptions& options) {
  inject->add_option("file", options.input, "Manifest file, or - for standard input")
      ->capture_default_str();
  inject->add_flag("--native", options.native,
                   "Add lastcall as a native sidecar (an init container with restartPolicy "
                   "Always; Kubernetes 1.29+). Required for a bare Pod that runs to completion; "
                   "Jobs and CronJobs are left alone (nothing to drain)");
  inject->add_option("--container", options.container,
                     "The app container (default: annotation "
                     "kubectl.kubernetes.io/default-container, else the first)");
  inject->add_flag("--force", options.force,
                   "Drop an existing exec or httpGet preStop hook instead of running it after the "
                   "drain");
  inject->add_flag("--cluster-access", options.cluster_access,
                   "Also write a Role (create Events, list and watch EndpointSlices) and a "
                   "RoleBinding for each injected pod's service account, in its namespace, so "
                   "that lastcall reports to the Kubernetes API (annotation "
                   "lastcall.dev/cluster-access: \"true\" per workload)");
  inject->add_flag("--strict", options.strict,
                   "Exit 1 when a workload was skipped (the output is written all the same)");
  inject->add_option("--image", options.image, "The lastcall image")->capture_default_str();
  inject->add_option("--drain-url", options.drain_url,
                     "The apps' drain endpoint (POST starts, GET tells; status monitor); default: "
                     "none, the connections monitor on the app's ports");
  inject->add_option("--monitor", options.monitor, "status, json, connections or none")
      ->check(CLI::IsMember({"status", "json", "connections", "none"}));
  inject
      ->add_option("--refused-means", options.refused_means,
                   "What a refused connection to the drain URL means (default: error)")
      ->check(CLI::IsMember({"drained", "error"}));
  inject
      ->add_option_function<int>(
          "--port", [&options](const int& port) { options.port = port; },
          "lastcall's port (default: the first from 9901 up that the pod does not declare and "
          "Envoy, Istio and Linkerd do not use: 9902 unless taken); required for hostNetwork pods")
      ->check(CLI::Range(1, 65535));
  inject
      ->add_option("--mesh", options.mesh,
                   "The service mesh: auto (from Namespace labels, workload annotations and proxy "
                   "containers in the input), istio, linkerd or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "istio", "linkerd", "none"}));
  inject
      ->add_option("--platform", options.platform,
                   "auto (openshift when openshift.io/ annotations say so), kubernetes, or "
                   "openshift: no fixed runAsUser/runAsGroup, the SCC assigns them")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "kubernetes", "openshift"}));
  inject
      ->add_option("--requests", options.requests,
                   "The sidecar's resource requests, e.g. cpu=10m,memory=8Mi, or none")
      ->capture_default_str();
  inject
      ->add_option("--limits", options.limits,
                   "The sidecar's resource limits, e.g. cpu=100m,memory=32Mi, or none")
      ->capture_default_str();
  inject->add_option("--run-as", options.run_as,
                     "The sidecar's UID[:GID], or none to let the platform assign them (default: "
                     "65532, none on OpenShift)");
  inject->add_flag("--explain", options.explain,
                   "Print the planner's decision for each workload as JSON (one object per line) "
                   "instead of the manifests");
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
  duration("--settle", &options.settle,
           "connections monitor: how long no request may be in flight before it counts as "
           "drained");
  inject
      ->add_option("--run-arg", options.run_args,
                   "One more argument for `lastcall run`, repeatable; write values that start "
                   "with - as --run-arg=--settle=1s")
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

#include "admission.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admission_review.h"
#include "json_patch.h"
#include "kube/injection_planner.h"
#include "kube/manifest_yaml.h"
#include "kube/pod_injection.h"
#include "pod_yaml.h"
#include "version.h"

namespace lastcall {

namespace {

using Json = nlohmann::json;
using manifest::Child;
using manifest::ScalarOr;

// The API server shows warnings to the person who applied the object; it may cut those longer
// than 256 characters (the admission webhook reference, "Response").
constexpr size_t kMaxWarningBytes = 256;
// Pods the shipped webhook Deployment runs carry this label (any value); the
// MutatingWebhookConfiguration's objectSelector leaves them out too.
constexpr const char* kComponentLabel = "lastcall.dev/component";

// The webhook's injections say so in the status annotation inject writes ({"version",
// "settings"}), which readers of the status ignore beyond those two (ReadStatus): "by": "webhook",
// the mesh it wired ("" for none), and what inject replaced that lastcall uninject could not get
// back from the pod alone (the app container's lifecycle, the grace period): the webhook keeps no
// lastcall.dev/original. Only such pods are re-planned when the API server calls again.
constexpr const char* kStatusBy = "by";
constexpr const char* kStatusByWebhook = "webhook";
// The record is left out (and the pod never re-planned) when it would make the annotation large:
// all annotations of a pod together may not pass 256 KiB.
constexpr size_t kMaxStatusBytes = 16 * 1024;
const char* const kMeshProxies[] = {"istio-proxy", "linkerd-proxy"};

const Json* Field(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto found = object.find(key);
  return found == object.end() ? nullptr : &*found;
}

Json StatusOf(const Json& pod) {
  const Json* metadata = Field(pod, "metadata");
  const Json* annotations = metadata != nullptr ? Field(*metadata, "annotations") : nullptr;
  const Json* status = annotations != nullptr ? Field(*annotations, kAnnotationStatus) : nullptr;
  if (status == nullptr || !status->is_string()) return Json::object();
  Json parsed = Json::parse(status->get<std::string>(), nullptr, false);
  return parsed.is_object() ? parsed : Json::object();
}

// The container of `spec`'s `list` named `name`, or null.
Json* NamedContainer(Json& spec, const char* list, const std::string& name) {
  const auto containers = spec.find(list);
  if (containers == spec.end() || !containers->is_array()) return nullptr;
  for (auto& container : *containers) {
    if (container.is_object() && container.value("name", Json()) == name) return &container;
  }
  return nullptr;
}

bool HasMeshProxy(const Json& pod) {
  const Json* spec = Field(pod, "spec");
  if (spec == nullptr) return false;
  Json copy = *spec;
  for (const char* proxy : kMeshProxies) {
    for (const char* list : {"containers", "initContainers"}) {
      if (NamedContainer(copy, list, proxy) != nullptr) return true;
    }
  }
  return false;
}

// Adds the webhook's record to the status annotation of `after` (a pod inject's code wrote),
// `pod_before` being the pod before lastcall was added.
void MarkInjectedByWebhook(Json* after, const Json& pod_before, const InjectPlan& plan) {
  Json status = StatusOf(*after);
  status[kStatusBy] = kStatusByWebhook;
  status["mesh"] = plan.mesh;
  Json record = {{"app", plan.app_name}};
  Json spec = pod_before.value("spec", Json::object());
  if (const Json* app = NamedContainer(spec, "containers", plan.app_name)) {
    record["lifecycle"] = app->value("lifecycle", Json());
  }
  record["grace"] = spec.value("terminationGracePeriodSeconds", Json());
  if (record.dump().size() <= kMaxStatusBytes) status["before"] = record;
  (*after)["metadata"]["annotations"][kAnnotationStatus] = status.dump();
}

// The pod as it was before the webhook added lastcall: RemoveLastcall, then what it cannot know
// from the pod alone from the record. nullopt when the record is missing.
std::optional<Json> BeforeWebhook(const YAML::Node& current, const Json& status,
                                  const manifest::WorkloadKind& pod_kind) {
  const Json* record = Field(status, "before");
  if (record == nullptr || !record->is_object() || !record->value("app", Json()).is_string()) {
    return std::nullopt;
  }
  YAML::Node base = YAML::Clone(current);
  RemoveLastcall(base, pod_kind, YAML::Node(YAML::NodeType::Undefined));
  Json pod = YamlToJson(base);
  if (!pod.contains("spec") || !pod["spec"].is_object()) return std::nullopt;
  Json& spec = pod["spec"];
  Json* app = NamedContainer(spec, "containers", (*record)["app"].get<std::string>());
  if (app == nullptr) return std::nullopt;
  const Json lifecycle = record->value("lifecycle", Json());
  if (lifecycle.is_null()) {
    app->erase("lifecycle");
  } else {
    (*app)["lifecycle"] = lifecycle;
  }
  const Json grace = record->value("grace", Json());
  if (grace.is_null()) {
    spec.erase("terminationGracePeriodSeconds");
  } else {
    spec["terminationGracePeriodSeconds"] = grace;
  }
  return pod;
}

// inject appends its sidecar to the containers; re-planned after a proxy was appended, it would
// come after the proxy, and the patch would rewrite both containers field by field. Put back
// where it was, the patch says only what changed in it.
void KeepSidecarPlace(const Json& before, Json* after) {
  const Json* before_spec = Field(before, "spec");
  Json* after_spec = after->contains("spec") ? &(*after)["spec"] : nullptr;
  if (before_spec == nullptr || after_spec == nullptr) return;
  const Json* was = Field(*before_spec, "containers");
  if (was == nullptr || !was->is_array() || !after_spec->contains("containers")) return;
  Json& containers = (*after_spec)["containers"];
  if (!containers.is_array() || containers.size() != was->size()) return;
  const auto is_sidecar = [](const Json& c) {
    return c.is_object() && c.value("name", Json()) == kSidecarName;
  };
  const auto old_place = std::find_if(was->begin(), was->end(), is_sidecar);
  const auto new_place = std::find_if(containers.begin(), containers.end(), is_sidecar);
  if (old_place == was->end() || new_place == containers.end()) return;
  Json sidecar = *new_place;
  containers.erase(new_place);
  containers.insert(containers.begin() + (old_place - was->begin()), std::move(sidecar));
}

// What the webhook decided for one pod.
struct PodAnswer {
  AdmitOutcome outcome = AdmitOutcome::kNotPlanned;
  Json patch = Json::array();
  std::vector<std::string> warnings;
  std::string why;  // for the log line
};

std::string Truncate(std::string text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t cut = limit - 3;  // room for "..."
  // Never cut a UTF-8 sequence in two: back up to the start of a character.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + "...";
}

std::map<std::string, std::string> StringsOf(const Json& object) {
  std::map<std::string, std::string> out;
  if (!object.is_object()) return out;
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) out[key] = value.get<std::string>();
  }
  return out;
}

// "pod web-7d9f6-* in shop" (a generateName has no name yet).
std::string DescribePod(const Json& metadata, const std::string& namespace_name) {
  std::string name;
  if (const auto found = metadata.find("name"); found != metadata.end() && found->is_string()) {
    name = found->get<std::string>();
  }
  if (name.empty()) {
    if (const auto generate = metadata.find("generateName");
        generate != metadata.end() && generate->is_string()) {
      name = generate->get<std::string>() + "*";
    }
  }
  if (name.empty()) name = "(no name)";
  return namespace_name.empty() ? "pod " + name : fmt::format("pod {} in {}", name, namespace_name);
}

// The repository of an image reference: "ghcr.io/lastcall/lastcall:0.1.0" and
// "ghcr.io/lastcall/lastcall@sha256:..." -> "ghcr.io/lastcall/lastcall".
std::string ImageRepository(std::string image) {
  if (const size_t at = image.find('@'); at != std::string::npos) image.resize(at);
  const size_t colon = image.rfind(':');
  const size_t slash = image.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    image.resize(colon);
  }
  return image;
}

// lastcall's own pods: the webhook's (labelled), or any pod running lastcall's image as its app
// (the webhook under another Deployment, `lastcall rehearse` in a Job). Injected pods, whose
// lastcall and lastcall-install containers run that image too, were recognised before.
bool IsLastcallsOwnPod(const Json& metadata, const Json& spec, const AdmitOptions& options) {
  if (const auto labels = metadata.find("labels");
      labels != metadata.end() && labels->is_object() && labels->contains(kComponentLabel)) {
    return true;
  }
  const std::string own = ImageRepository(options.inject.image);
  for (const char* list : {"containers", "initContainers"}) {
    const auto containers = spec.find(list);
    if (containers == spec.end() || !containers->is_array()) continue;
    for (const auto& container : *containers) {
      if (!container.is_object()) continue;
      const auto image = container.find("image");
      if (image != container.end() && image->is_string() &&
          ImageRepository(image->get<std::string>()) == own) {
        return true;
      }
    }
  }
  return false;
}

// A pod that runs to completion: a Job's (CronJobs make Jobs), or restartPolicy Never/OnFailure.
std::optional<std::string> RunsToCompletion(const Json& metadata, const Json& spec) {
  if (const auto owners = metadata.find("ownerReferences");
      owners != metadata.end() && owners->is_array()) {
    for (const auto& owner : *owners) {
      if (owner.is_object() && owner.value("kind", Json()).is_string() &&
          owner["kind"].get<std::string>() == "Job") {
        return "a Job's pod runs to completion: nothing to drain";
      }
    }
  }
  if (const auto policy = spec.find("restartPolicy");
      policy != spec.end() && policy->is_string() && policy->get<std::string>() != "Always") {
    return fmt::format("restartPolicy {}: the pod runs to completion, nothing to drain",
                       policy->get<std::string>());
  }
  return std::nullopt;
}

// The warnings for a pod the planner could not wire: the reason, and what would fix it. The
// planner names inject's flags (--port); on a pod the annotation of the same name does it.
std::vector<std::string> NotPlannedWarnings(const std::string& pod, const std::string& reason) {
  std::vector<std::string> warnings;
  warnings.push_back(
      Truncate(fmt::format("lastcall: not injected into {}: {}", pod, reason), kMaxWarningBytes));
  std::vector<std::string> fixes;
  for (const auto& key : KnownAnnotations()) {
    const std::string flag = "--" + key.substr(key.find('/') + 1);
    const auto named = [&reason](const std::string& text) {
      for (size_t at = reason.find(text); at != std::string::npos; at = reason.find(text, at + 1)) {
        const size_t end = at + text.size();
        const bool whole =
            end == reason.size() ||
            !(std::isalnum(static_cast<unsigned char>(reason[end])) || reason[end] == '-');
        if (whole) return true;
      }
      return false;
    };
    if (key != kAnnotationInject && (named(key) || named(flag))) fixes.push_back(key);
  }
  if (fixes.empty()) {
    warnings.push_back(
        "lastcall: to leave this pod out quietly, annotate it lastcall.dev/inject: disabled");
  } else {
    warnings.push_back(Truncate(
        fmt::format("lastcall: to fix, annotate the pod (template) {}; to leave it out quietly, "
                    "lastcall.dev/inject: disabled",
                    fmt::join(fixes, ", ")),
        kMaxWarningBytes));
  }
  return warnings;
}

// The patch that turns `before` (the pod as admitted, less managedFields and status, which the
// injection never touches) into `after`; checked by applying it, so that a fault in the diff
// admits the pod unchanged rather than wrongly changed.
PodAnswer PatchAnswer(AdmitOutcome outcome, const Json& before, const Json& after,
                      std::string why) {
  PodAnswer answer;
  answer.outcome = outcome;
  answer.why = std::move(why);
  answer.patch = JsonPatchDiff(before, after);
  if (before.patch(answer.patch) != after) {
    answer.outcome = AdmitOutcome::kNotPlanned;
    answer.patch = Json::array();
    answer.warnings.push_back(
        "lastcall: not injected: internal error: the patch does not reproduce lastcall inject's "
        "result (please report it with the pod)");
    answer.why = "internal error: the patch does not apply";
  }
  return answer;
}

PodAnswer NoPatch(AdmitOutcome outcome, std::string why) {
  PodAnswer answer;
  answer.outcome = outcome;
  answer.why = std::move(why);
  return answer;
}

PodAnswer AnswerPod(const AdmissionRequest& request, const AdmitOptions& options) {
  if (request.operation != "CREATE") {
    return NoPatch(AdmitOutcome::kExcluded,
                   "operation " + request.operation + ": only a pod's creation is mutated");
  }
  if (!request.sub_resource.empty()) {
    return NoPatch(AdmitOutcome::kExcluded, "subresource " + request.sub_resource);
  }
  const Json& object = request.object;
  const Json metadata = object.value("metadata", Json::object());
  const Json spec = object.value("spec", Json::object());
  std::string namespace_name = request.namespace_name;
  if (namespace_name.empty() && metadata.is_object() &&
      metadata.value("namespace", Json()).is_string()) {
    namespace_name = metadata["namespace"].get<std::string>();
  }
  if (!metadata.is_object() || !spec.is_object()) {
    return NoPatch(AdmitOutcome::kNotPlanned, "metadata or spec is not an object");
  }
  const std::string pod = DescribePod(metadata, namespace_name);
  if (std::find(options.never_namespaces.begin(), options.never_namespaces.end(), namespace_name) !=
      options.never_namespaces.end()) {
    return NoPatch(AdmitOutcome::kExcluded,
                   fmt::format("{}: namespace {} is never mutated", pod, namespace_name));
  }
  const auto annotations = StringsOf(metadata.value("annotations", Json::object()));
  const auto labels = StringsOf(metadata.value("labels", Json::object()));
  for (const auto* map : {&annotations, &labels}) {
    if (const auto inject = map->find(kAnnotationInject);
        inject != map->end() && inject->second == "disabled") {
      return NoPatch(AdmitOutcome::kOptedOut, pod + ": lastcall.dev/inject: disabled");
    }
  }

  // What inject's code works on: the pod without the fields it never reads or writes.
  Json before = object;
  if (before.contains("metadata")) before["metadata"].erase("managedFields");
  before.erase("status");
  const bool had_kind = before.contains("kind");
  const bool had_api_version = before.contains("apiVersion");
  if (!had_kind) before["kind"] = "Pod";  // where the planner looks for the spec
  if (!had_api_version) before["apiVersion"] = "v1";
  YAML::Node current = JsonToYaml(before);
  if (YamlToJson(current) != before) {
    return NoPatch(AdmitOutcome::kNotPlanned,
                   pod + ": internal error: the pod does not read back the same");
  }
  const auto finish = [&](Json after) {
    if (!had_kind) {
      before.erase("kind");
      after.erase("kind");
    }
    if (!had_api_version) {
      before.erase("apiVersion");
      after.erase("apiVersion");
    }
    return after;
  };
  const manifest::WorkloadKind& pod_kind = *manifest::FindWorkloadKind("Pod");
  const BundleFacts bundle;  // no Service nor Namespace: the webhook sees the pod alone
  const auto plan = [&](const YAML::Node& pod_node) {
    WorkloadFacts facts = WorkloadFactsOf(pod_node);
    if (facts.namespace_name.empty()) facts.namespace_name = namespace_name;
    return PlanWorkload(facts, bundle, options.inject);
  };

  // Injected before: by this webhook at an earlier invocation of the same admission (the API
  // server calls again after a later webhook changed the pod: reinvocationPolicy IfNeeded), or
  // by `lastcall inject` in the manifest (which may have known more: the Services, the
  // Namespace). Only the first is re-planned, and only when a mesh proxy appeared that its wiring
  // has no mesh for: the rest stays as it was injected (an empty patch: idempotent).
  const InjectStatus status = ReadStatus(Child(current, "metadata"));
  if (!status.version.empty()) {
    const Json record = StatusOf(before);
    if (record.value(kStatusBy, "") != kStatusByWebhook) {
      return NoPatch(AdmitOutcome::kAlreadyInjected,
                     pod + ": injected by lastcall inject; left as it is");
    }
    if (status.version != kVersion || record.value("mesh", "") != "" || !HasMeshProxy(before)) {
      return NoPatch(AdmitOutcome::kAlreadyInjected, pod + ": already injected");
    }
    const std::optional<Json> original = BeforeWebhook(current, record, pod_kind);
    if (!original) {
      return NoPatch(AdmitOutcome::kAlreadyInjected,
                     pod +
                         ": already injected (a mesh proxy was added, but the pod before "
                         "lastcall is not recorded)");
    }
    const YAML::Node base = JsonToYaml(*original);
    const WorkloadDecision decision = plan(base);
    if (decision.action != PlanAction::kInject ||
        SettingsHash(decision.options) != status.settings) {
      return NoPatch(AdmitOutcome::kAlreadyInjected,
                     pod + ": already injected; re-planning for the mesh proxy gave no plan");
    }
    YAML::Node result = YAML::Clone(base);
    AddLastcall(result, pod_kind, *decision.plan, decision.options, status.settings);
    Json after = YamlToJson(result);
    MarkInjectedByWebhook(&after, *original, *decision.plan);
    KeepSidecarPlace(before, &after);
    if (after == before) return NoPatch(AdmitOutcome::kAlreadyInjected, pod + ": already injected");
    after = finish(std::move(after));
    return PatchAnswer(AdmitOutcome::kReinjected, before, after,
                       pod + ": re-planned for the mesh proxy: " + decision.Explain());
  }
  if (HasLastcall(Child(current, "spec"))) {
    return NoPatch(AdmitOutcome::kAlreadyInjected,
                   pod + ": has a lastcall container (wired by hand); left as it is");
  }
  if (IsLastcallsOwnPod(metadata, spec, options)) {
    return NoPatch(AdmitOutcome::kExcluded, pod + ": one of lastcall's own pods");
  }
  if (const auto why = RunsToCompletion(metadata, spec)) {
    return NoPatch(AdmitOutcome::kOptedOut, pod + ": " + *why);
  }
  if (spec.value("hostNetwork", Json(false)) == Json(true)) {
    PodAnswer answer = NoPatch(AdmitOutcome::kExcluded, pod + ": hostNetwork");
    answer.warnings.push_back(Truncate(
        fmt::format(
            "lastcall: not injected into {}: hostNetwork pods are never mutated (lastcall's "
            "port would be a port of the node); use lastcall inject with lastcall.dev/port, "
            "or annotate lastcall.dev/inject: disabled",
            pod),
        kMaxWarningBytes));
    return answer;
  }

  const WorkloadDecision decision = plan(current);
  std::vector<std::string> planner_warnings;
  for (const auto& warning : decision.warnings) {
    planner_warnings.push_back(Truncate("lastcall: " + pod + ": " + warning, kMaxWarningBytes));
  }
  if (decision.action == PlanAction::kLeave) {
    PodAnswer answer = NoPatch(AdmitOutcome::kOptedOut, pod + ": " + decision.reason);
    answer.warnings = planner_warnings;
    return answer;
  }
  if (decision.action == PlanAction::kSkip || !decision.plan) {
    PodAnswer answer = NoPatch(AdmitOutcome::kNotPlanned, pod + ": " + decision.reason);
    answer.warnings = NotPlannedWarnings(pod, decision.reason);
    answer.warnings.insert(answer.warnings.end(), planner_warnings.begin(), planner_warnings.end());
    return answer;
  }
  YAML::Node result = YAML::Clone(current);
  AddLastcall(result, pod_kind, *decision.plan, decision.options, SettingsHash(decision.options));
  Json after = YamlToJson(result);
  MarkInjectedByWebhook(&after, before, *decision.plan);
  after = finish(std::move(after));
  PodAnswer answer = PatchAnswer(AdmitOutcome::kInjected, before, after, decision.Explain());
  answer.warnings.insert(answer.warnings.end(), planner_warnings.begin(), planner_warnings.end());
  return answer;
}

AdmissionResult Refuse(const std::string& message, std::string uid) {
  AdmissionResult result;
  result.status = 400;
  result.content_type = "text/plain; charset=utf-8";
  result.body = "lastcall webhook: refused: " + message + "\n";
  result.outcome = AdmitOutcome::kRefused;
  result.uid = std::move(uid);
  result.summary = "refused: " + message;
  return result;
}

}  // namespace

const char* AdmitOutcomeName(AdmitOutcome outcome) {
  switch (outcome) {
    case AdmitOutcome::kInjected:
      return "injected";
    case AdmitOutcome::kReinjected:
      return "reinjected";
    case AdmitOutcome::kAlreadyInjected:
      return "already_injected";
    case AdmitOutcome::kOptedOut:
      return "opted_out";
    case AdmitOutcome::kExcluded:
      return "excluded";
    case AdmitOutcome::kNotPlanned:
      return "not_planned";
    case AdmitOutcome::kRefused:
      return "refused";
  }
  return "refused";
}

AdmissionResult Admit(std::string_view request_body, const AdmitOptions& options) {
  if (request_body.size() > kMaxAdmissionBodyBytes) {
    return Refuse(fmt::format("the body is {} bytes, above the API server's limit of {} (3 MiB)",
                              request_body.size(), kMaxAdmissionBodyBytes),
                  "");
  }
  std::string error;
  const Json review = ParseBoundedJson(
      request_body, JsonLimits{kMaxAdmissionJsonDepth, JsonLimits{}.max_values}, &error);
  if (review.is_discarded()) return Refuse(error, "");
  const ParsedReview parsed = ReadAdmissionReview(review);
  if (!parsed.ok) return Refuse(parsed.error, parsed.request.uid);
  const AdmissionRequest& request = parsed.request;

  PodAnswer answer;
  try {
    answer = AnswerPod(request, options);
  } catch (const std::exception& e) {  // a field of a type inject's code did not expect
    answer = NoPatch(AdmitOutcome::kNotPlanned, std::string("unexpected structure: ") + e.what());
    answer.warnings.push_back(Truncate(
        std::string("lastcall: not injected: the pod has an unexpected structure: ") + e.what(),
        kMaxWarningBytes));
  }

  AdmissionResult result;
  result.outcome = answer.outcome;
  result.uid = request.uid;
  result.dry_run = request.dry_run;
  result.warnings = answer.warnings;
  Json response = {{"uid", request.uid}, {"allowed", true}};
  if (!answer.patch.empty()) {
    response["patchType"] = "JSONPatch";
    response["patch"] =
        Base64Encode(answer.patch.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  if (!answer.warnings.empty()) response["warnings"] = answer.warnings;
  const Json out = {
      {"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", response}};
  result.status = 200;
  result.content_type = "application/json";
  result.body = out.dump(-1, ' ', false, Json::error_handler_t::replace);
  result.summary = fmt::format("uid {}{}: {}: {}", request.uid, request.dry_run ? " (dry run)" : "",
                               AdmitOutcomeName(answer.outcome), answer.why);
  return result;
}

void AdmissionCounters::Record(const AdmissionResult& result) {
  counts_[static_cast<size_t>(result.outcome)].fetch_add(1, std::memory_order_relaxed);
  if (result.dry_run) dry_runs_.fetch_add(1, std::memory_order_relaxed);
}

uint64_t AdmissionCounters::Count(AdmitOutcome outcome) const {
  return counts_[static_cast<size_t>(outcome)].load(std::memory_order_relaxed);
}

std::string AdmissionCounters::PrometheusText() const {
  std::string text =
      "# HELP lastcall_webhook_admissions_total Admission requests answered, by outcome.\n"
      "# TYPE lastcall_webhook_admissions_total counter\n";
  for (size_t i = 0; i < kAdmitOutcomeCount; ++i) {
    text += fmt::format("lastcall_webhook_admissions_total{{outcome=\"{}\"}} {}\n",
                        AdmitOutcomeName(static_cast<AdmitOutcome>(i)),
                        counts_[i].load(std::memory_order_relaxed));
  }
  text += fmt::format(
      "# HELP lastcall_webhook_dry_run_admissions_total Admission requests with dryRun: true.\n"
      "# TYPE lastcall_webhook_dry_run_admissions_total counter\n"
      "lastcall_webhook_dry_run_admissions_total {}\n",
      dry_runs_.load(std::memory_order_relaxed));
  return text;
}

}  // namespace lastcall

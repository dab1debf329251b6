#include "uninject_command.h"

#include <fmt/format.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <system_error>

#include "base/exit_status.h"
#include "cluster_access.h"
#include "inject_plan.h"
#include "manifest_yaml.h"
#include "pod_injection.h"
#include "yaml_writer.h"

namespace lastcall {

using manifest::Child;
using manifest::Present;

namespace {

struct UninjectOutcome {
  bool changed = false;
  std::vector<std::string> notes;
  int removed = 0;
};

YAML::Node LoadOrUndefined(const std::optional<std::string>& text) {
  if (!text) return YAML::Node(YAML::NodeType::Undefined);
  try {
    return manifest::LoadBounded(*text);
  } catch (const YAML::Exception&) {
    return YAML::Node(YAML::NodeType::Undefined);
  }
}

// Removes the List's own lastcall.dev/original (and the annotations/metadata inject created).
void RemoveListOriginal(YAML::Node list, const YAML::Node& original) {
  if (!Child(Child(list, "metadata"), "annotations").IsMap()) return;
  YAML::Node metadata = list["metadata"];
  YAML::Node annotations = metadata["annotations"];
  annotations.remove(std::string(kAnnotationOriginal));
  const YAML::Node original_metadata = Child(original, "metadata");
  if (annotations.size() == 0 && !Child(original_metadata, "annotations").IsDefined()) {
    metadata.remove(std::string("annotations"));
  }
  if (metadata.size() == 0 && !original_metadata.IsDefined()) list.remove(std::string("metadata"));
}

// `list_original`: for an item of a List, the item as the List's lastcall.dev/original has it
// (inject keeps the one copy there), else Undefined.
UninjectOutcome UninjectObject(YAML::Node object, const YAML::Node& list_original) {
  UninjectOutcome outcome;
  if (!object.IsMap()) return outcome;
  const std::string kind = manifest::ScalarOr(Child(object, "kind"), "");
  if (kind.size() >= 4 && kind.ends_with("List") && Child(object, "items").IsSequence()) {
    const YAML::Node recorded_list =
        LoadOrUndefined(manifest::Annotation(object, kAnnotationOriginal));
    const YAML::Node recorded_items = Child(recorded_list, "items");
    YAML::Node items = object["items"];
    // What inject --cluster-access added to the List's items goes first (the recorded items
    // are matched by index below).
    YAML::Node kept = manifest::Seq();
    for (const auto& item : items) {
      if (IsClusterAccessObject(item)) {
        outcome.notes.push_back(
            fmt::format("{} item: removed {} (written by inject "
                        "--cluster-access)",
                        kind, ObjectKey(item)));
        outcome.changed = true;
      } else {
        kept.push_back(item);
      }
    }
    if (kept.size() != items.size()) {
      object["items"] = kept;
      items.reset(object["items"]);
    }
    for (size_t i = 0; i < items.size(); ++i) {
      YAML::Node item_original(YAML::NodeType::Undefined);
      if (recorded_items.IsDefined() && recorded_items.IsSequence() && i < recorded_items.size() &&
          manifest::Describe(recorded_items[i]) == manifest::Describe(items[i])) {
        item_original.reset(recorded_items[i]);
      }
      UninjectOutcome inner = UninjectObject(items[i], item_original);
      for (const auto& note : inner.notes) {
        outcome.notes.push_back(fmt::format("{} item {}: {}", kind, i + 1, note));
      }
      outcome.changed = outcome.changed || inner.changed;
      outcome.removed += inner.removed;
    }
    if (const auto recorded = manifest::Annotation(object, kAnnotationOriginal)) {
      RemoveListOriginal(object, LoadOrUndefined(recorded));
      outcome.changed = true;
    }
    return outcome;
  }
  const manifest::WorkloadKind* known = manifest::FindWorkloadKind(kind);
  if (known == nullptr) return outcome;
  const YAML::Node pod = PodSpecOf(object, *known);
  if (!pod.IsDefined()) return outcome;
  const auto recorded = manifest::Annotation(object, kAnnotationOriginal);
  if (!HasLastcall(pod) && ReadStatus(PodMetadataOf(object, *known)).version.empty() && !recorded) {
    return outcome;
  }
  const YAML::Node original = recorded ? LoadOrUndefined(recorded) : list_original;
  const std::string description = manifest::Describe(object);
  if (recorded && !original.IsDefined()) {
    outcome.notes.push_back(description + ": annotation " + kAnnotationOriginal +
                            " is not YAML; removed what lastcall adds by name");
  }
  for (const auto& note : RemoveLastcall(object, *known, original)) {
    outcome.notes.push_back(description + ": " + note);
  }
  outcome.changed = true;
  outcome.removed = 1;
  return outcome;
}

}  // namespace

UninjectResult UninjectManifests(std::string_view input) {
  UninjectResult result;
  const std::vector<manifest::RawDocument> documents = manifest::SplitDocuments(input);
  for (size_t i = 0; i < documents.size(); ++i) {
    const manifest::RawDocument& document = documents[i];
    const std::string where = fmt::format("document {}", i + 1);
    const std::optional<YAML::Node> loaded =
        manifest::LoadDocument(document, where, &result.skipped);
    if (!loaded) {
      result.output += document.text;
      continue;
    }
    YAML::Node node = *loaded;
    if (!Present(node) || !node.IsMap()) {
      result.output += document.text;
      continue;
    }
    if (IsClusterAccessObject(node)) {
      // Written by inject --cluster-access: the whole document goes, its `---` line with it.
      result.notes.push_back(where + ": removed " + ObjectKey(node) +
                             " (written by inject --cluster-access)");
      continue;
    }
    const auto recorded = manifest::Annotation(node, kAnnotationOriginal);
    UninjectOutcome outcome;
    try {
      outcome = UninjectObject(node, YAML::Node(YAML::NodeType::Undefined));
    } catch (const YAML::Exception& e) {
      result.skipped.push_back(where + ": unexpected structure: " + e.msg);
      result.output += document.text;
      continue;
    }
    for (const auto& note : outcome.notes) result.notes.push_back(where + ": " + note);
    result.removed += outcome.removed;
    if (!outcome.changed) {
      result.output += document.text;
      continue;
    }
    // Untouched since inject: the document as it was, byte for byte.
    const YAML::Node original = LoadOrUndefined(recorded);
    if (recorded && original.IsDefined() && SameYaml(node, original)) {
      result.output += document.SeparatorLine() + *recorded;
      continue;
    }
    result.notes.push_back(where + ": " + manifest::Describe(node) +
                           ": changed since inject (or read from the cluster): lastcall's "
                           "additions removed, the rest kept and re-written");
    result.output +=
        document.SeparatorLine() + manifest::LeadingComments(document) + WriteYaml(node);
  }
  return result;
}

int RunUninject(const UninjectOptions& options, std::istream& in, std::ostream& out,
                std::ostream& err) {
  const std::optional<std::string> input =
      manifest::ReadInput(options.input, in, err, "lastcall uninject");
  if (!input) return kExitUsage;
  const UninjectResult result = UninjectManifests(*input);
  out << result.output;
  out.flush();
  for (const auto& note : result.notes) err << "lastcall uninject: " << note << "\n";
  for (const auto& reason : result.skipped) err << "lastcall uninject: skipped " << reason << "\n";
  return kExitDrained;
}

namespace {

constexpr const char* kUninjectDescription =
    "Remove what `lastcall inject` added and write the manifests to stdout:\n"
    "  lastcall uninject app.lastcall.yaml > app.yaml\n"
    "A document nobody changed since inject comes back byte for byte; one changed since keeps\n"
    "the changes. Everything else is copied unchanged.";

}  // namespace

CLI::App* AddUninjectSubcommand(CLI::App& app, UninjectOptions& options) {
  CLI::App* uninject = app.add_subcommand("uninject", kUninjectDescription);
  uninject->add_option("file", options.input, "Manifest file, or - for standard input")
      ->capture_default_str();
  return uninject;
}

Subcommand UninjectSubcommand(UninjectOptions* options) {
  return {"uninject", "Remove what inject added (stdin or a file)",
          [options](CLI::App* app, const Env& /*env*/) {
            app->footer(std::string(kUninjectDescription) + "\n\n" + app->get_footer());
            app->add_option("file", options->input, "Manifest file, or - for standard input")
                ->capture_default_str();
            return ThenRun(nullptr, [options](const CommandIo& io) {
              return RunUninject(*options, io.in, io.out, io.err);
            });
          }};
}

}  // namespace lastcall

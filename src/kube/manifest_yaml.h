#pragma once

#include <yaml-cpp/yaml.h>

#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

// What `lastcall inject` and `lastcall uninject` share: read-only lookups on parsed manifests,
// the split of a YAML stream into its documents, and where each workload kind keeps its pod.
namespace lastcall::manifest {

// Read-only lookups: operator[] on a non-const node may add the key, and on a non-map throws.
// A missing key gives an Undefined node that is safe to query, so lookups chain:
// Child(Child(pod, "spec"), "containers").
YAML::Node Child(const YAML::Node& node, const char* key);
bool Present(const YAML::Node& node);  // defined and not null
std::string ScalarOr(const YAML::Node& node, const std::string& fallback);
// The item of a sequence of mappings whose `name` is `name`, or an Undefined node.
YAML::Node Named(const YAML::Node& list, const std::string& name);
// Removes the items of a sequence whose `name` is one of `names`; returns how many.
size_t RemoveNamed(YAML::Node list, const std::vector<std::string>& names);
YAML::Node Map();
YAML::Node Seq();
std::optional<long long> ParseInteger(const std::string& text);

// Where a pod template sits in each workload kind.
struct WorkloadKind {
  const char* kind;
  std::vector<const char*> pod_spec_path;  // e.g. spec, template, spec
  bool runs_to_completion;                 // Job, CronJob
};
const std::vector<WorkloadKind>& WorkloadKinds();
const WorkloadKind* FindWorkloadKind(const std::string& kind);
std::string SupportedKinds();  // "Pod, Deployment, ..."
// The pod template's `metadata` (for a Pod, its own): the map that holds the pod's spec's
// sibling `metadata`. Undefined when missing.
std::vector<const char*> PodMetadataPath(const WorkloadKind& kind);

// "Deployment web", "Pod", "object".
std::string Describe(const YAML::Node& object);
// metadata.annotations[key] of `object` as text, or nullopt.
std::optional<std::string> Annotation(const YAML::Node& object_or_template, const char* key);

// One document of a stream: its text from its `---` line (if any) to the next one.
struct RawDocument {
  std::string text;
  bool has_separator = false;
  int first_line = 1;  // 1-based line of `text` in the whole input
  // The `---` line itself (with its newline), or "" when the document has none.
  std::string SeparatorLine() const;
  // `text` without the separator line.
  std::string Body() const;
};
std::vector<RawDocument> SplitDocuments(std::string_view input);
// The comment and blank lines at the top of a document (after its `---` line): kept when the
// document is re-written, since they usually say what the whole object is (Helm's `# Source:`).
std::string LeadingComments(const RawDocument& document);

// What inject and uninject refuse to read although yaml-cpp reads it (manifest_yaml.cc says why):
// - a mapping with the same key twice: yaml-cpp keeps the first, PyYAML, Go's yaml.v2 (kubectl)
//   and most tools the last, so the object inject rewrites is not the one others would apply;
// - aliases that together add more than kMaxAliasNodes nodes to the document (each alias counts
//   the nodes of what it names, aliases inside included: a "billion laughs" of 600 bytes names
//   billions), since writing and comparing documents copies what an alias names;
// - an alias to a node that contains it (a cycle: no tree reads it).
// `line` and `column` are 1-based; lines count from `first_line` (the text's first line in the
// whole input), also in `what`.
inline constexpr size_t kMaxAliasNodes = 10'000;
struct RefusedYaml {
  int line = 0;
  int column = 0;
  std::string what;
};
// Reads `text` (one document) event by event, without building it: time and memory linear in
// its size whatever its aliases. The first place refused, or nullopt. Throws YAML::Exception on
// invalid YAML, as YAML::Load would.
std::optional<RefusedYaml> FindRefusedYaml(const std::string& text, int first_line = 1);
// The first merge key (`<<: *base`, YAML 1.1's merge) of `text`, or nullopt. yaml-cpp reads it
// as a key named "<<" while kubectl merges the mapping it names: inject would rewrite an object
// that is not the one applied, and uninject could not take it back, so inject refuses the whole
// input. Throws YAML::Exception on invalid YAML.
std::optional<RefusedYaml> FindMergeKey(const std::string& text, int first_line = 1);

// YAML::Load(text) when FindRefusedYaml finds nothing; throws YAML::Exception otherwise (its mark
// and message from RefusedYaml) or on invalid YAML.
YAML::Node LoadBounded(const std::string& text);

// The parsed `document`, or nullopt after adding "<where>: invalid YAML at line L, column C: ..."
// or "<where>: refused at line L, column C: ..." (FindRefusedYaml) to `skipped` (lines counted in
// the whole input).
std::optional<YAML::Node> LoadDocument(const RawDocument& document, const std::string& where,
                                       std::vector<std::string>* skipped);

std::string ReadAll(std::istream& in);
// The manifests a command reads: `path`, or `in` when path is "-". nullopt after telling `err`
// (as "<command>: cannot read <path>: <reason>") when the file cannot be opened.
std::optional<std::string> ReadInput(const std::string& path, std::istream& in, std::ostream& err,
                                     std::string_view command);

}  // namespace lastcall::manifest

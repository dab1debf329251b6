#include "manifest_yaml.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "base/text.h"

namespace lastcall::manifest {

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

YAML::Node Named(const YAML::Node& list, const std::string& name) {
  if (list.IsDefined() && list.IsSequence()) {
    for (const auto& item : list) {
      if (ScalarOr(Child(item, "name"), "") == name) return item;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

size_t RemoveNamed(YAML::Node list, const std::vector<std::string>& names) {
  if (!list.IsDefined() || !list.IsSequence()) return 0;
  size_t removed = 0;
  for (size_t i = list.size(); i-- > 0;) {
    const std::string name = ScalarOr(Child(list[i], "name"), "");
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      list.remove(i);
      ++removed;
    }
  }
  return removed;
}

YAML::Node Map() { return YAML::Node(YAML::NodeType::Map); }
YAML::Node Seq() { return YAML::Node(YAML::NodeType::Sequence); }

std::optional<long long> ParseInteger(const std::string& text) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

const std::vector<WorkloadKind>& WorkloadKinds() {
  static const std::vector<WorkloadKind> kinds = {
      {"Pod", {"spec"}, false},
      {"Deployment", {"spec", "template", "spec"}, false},
      {"StatefulSet", {"spec", "template", "spec"}, false},
      {"DaemonSet", {"spec", "template", "spec"}, false},
      {"ReplicaSet", {"spec", "template", "spec"}, false},
      {"ReplicationController", {"spec", "template", "spec"}, false},
      {"Job", {"spec", "template", "spec"}, true},
      {"CronJob", {"spec", "jobTemplate", "spec", "template", "spec"}, true},
  };
  return kinds;
}

const WorkloadKind* FindWorkloadKind(const std::string& kind) {
  const auto& kinds = WorkloadKinds();
  const auto it = std::find_if(kinds.begin(), kinds.end(),
                               [&](const WorkloadKind& k) { return kind == k.kind; });
  return it == kinds.end() ? nullptr : &*it;
}

std::string SupportedKinds() {
  std::string names;
  for (const auto& kind : WorkloadKinds()) {
    names += (names.empty() ? "" : ", ") + std::string(kind.kind);
  }
  return names;
}

std::vector<const char*> PodMetadataPath(const WorkloadKind& kind) {
  std::vector<const char*> path = kind.pod_spec_path;
  path.back() = "metadata";
  return path;
}

std::string Describe(const YAML::Node& object) {
  const std::string kind = ScalarOr(Child(object, "kind"), "object");
  const YAML::Node metadata = Child(object, "metadata");
  std::string name = ScalarOr(Child(metadata, "name"), "");
  if (name.empty()) name = ScalarOr(Child(metadata, "generateName"), "");
  return name.empty() ? kind : kind + " " + name;
}

std::optional<std::string> Annotation(const YAML::Node& object_or_template, const char* key) {
  const YAML::Node value = Child(Child(Child(object_or_template, "metadata"), "annotations"), key);
  if (!value.IsDefined() || !value.IsScalar()) return std::nullopt;
  return value.Scalar();
}

std::string RawDocument::SeparatorLine() const {
  if (!has_separator) return "";
  const size_t end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end + 1);
}

std::string RawDocument::Body() const { return text.substr(SeparatorLine().size()); }

namespace {

bool IsSeparatorLine(std::string_view line) {
  if (!line.starts_with("---")) return false;
  return line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r' ||
         line[3] == '\n';
}

}  // namespace

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

std::string LeadingComments(const RawDocument& document) {
  const std::string body = document.Body();
  std::string comments;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    end = end == std::string::npos ? body.size() : end + 1;
    const std::string_view line(body.data() + start, end - start);
    const size_t first = line.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && line[first] != '#') break;
    comments += line;
    start = end;
  }
  if (!comments.empty() && comments.back() != '\n') comments += '\n';
  return comments;
}

std::optional<std::string> ReadInput(const std::string& path, std::istream& in, std::ostream& err,
                                     std::string_view command) {
  if (path == "-") return ReadAll(in);
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    err << command << ": cannot read " << path << ": " << std::generic_category().message(errno)
        << "\n";
    return std::nullopt;
  }
  return ReadAll(file);
}

namespace {

// Why aliases are bounded rather than refused: they are valid YAML, a workload may use them
// (`env: *common`), and the documents inject does not rewrite are copied byte for byte, so any
// alias works there. What costs is copying: yaml-cpp's node graph shares what an alias names, but
// WriteYaml, SameYaml and YAML::Clone walk it as a tree, so each alias costs the nodes it names.
// Counting those while reading the events bounds that work to the input's size plus
// kMaxAliasNodes, before any node is built.
class StructureCheck final : public YAML::EventHandler {
 public:
  struct Refused {
    YAML::Mark mark;
    std::string what;
  };

  explicit StructureCheck(int first_line) : first_line_(first_line) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnAnchor(const YAML::Mark&, const std::string& name) override { pending_name_ = name; }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Define(anchor);
    Complete(mark, anchor, 1, std::string(kNullKey));
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Define(anchor);
    Complete(mark, anchor, 1, value);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto size = sizes_.find(anchor);
    if (size == sizes_.end()) {
      throw Refused{mark, "alias " + AliasName(anchor) +
                              " names a node that contains it (a cycle: no tree reads it)"};
    }
    alias_nodes_ += size->second;
    if (alias_nodes_ > kMaxAliasNodes) {
      throw Refused{mark, "alias " + AliasName(anchor) + " brings the nodes that aliases add to " +
                              std::to_string(alias_nodes_) + ", over " +
                              std::to_string(kMaxAliasNodes) +
                              " (aliases that name aliases multiply: a \"billion laughs\")"};
    }
    const auto scalar = scalars_.find(anchor);
    Complete(mark, 0, size->second,
             scalar == scalars_.end() ? std::nullopt : std::optional<std::string>(scalar->second));
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Define(anchor);
    Open(mark, anchor, false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Define(anchor);
    Open(mark, anchor, true);
  }
  void OnMapEnd() override { Close(); }

 private:
  // Keys are compared as text: `~`, `null` and an empty key all read as null.
  static constexpr std::string_view kNullKey{"\0null", 5};

  struct Collection {
    YAML::Mark mark;
    YAML::anchor_t anchor = 0;
    bool is_map = false;
    size_t nodes = 1;  // itself, and what is inside with aliases expanded
    bool next_is_key = true;
    std::map<std::string, YAML::Mark> keys;
  };

  void Define(YAML::anchor_t anchor) {
    if (anchor == 0) return;
    names_[anchor] = pending_name_;
    pending_name_.clear();
  }

  std::string AliasName(YAML::anchor_t anchor) const {
    const auto name = names_.find(anchor);
    return name == names_.end() || name->second.empty() ? "*" : "*" + name->second;
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    Collection& opened = open_.emplace_back();
    opened.mark = mark;
    opened.anchor = anchor;
    opened.is_map = is_map;
  }

  void Close() {
    Collection done = std::move(open_.back());
    open_.pop_back();
    Complete(done.mark, done.anchor, done.nodes, std::nullopt);
  }

  // A node ended: `nodes` with aliases expanded; `key_text` when it is a scalar (or null).
  void Complete(const YAML::Mark& mark, YAML::anchor_t anchor, size_t nodes,
                const std::optional<std::string>& key_text) {
    if (anchor != 0) {
      sizes_[anchor] = nodes;  // only now may an alias name it
      if (key_text) scalars_[anchor] = *key_text;
    }
    if (open_.empty()) return;
    Collection& parent = open_.back();
    parent.nodes += nodes;
    if (!parent.is_map) return;
    if (parent.next_is_key && key_text) {
      const auto [first, inserted] = parent.keys.emplace(*key_text, mark);
      if (!inserted) {
        const std::string shown = *key_text == kNullKey ? "null" : Quote(*key_text);
        throw Refused{mark, "duplicate key " + shown + " (first at line " +
                                std::to_string(first->second.line + first_line_) + ", column " +
                                std::to_string(first->second.column + 1) +
                                "): yaml-cpp reads the first, kubectl, PyYAML and most tools the "
                                "last, so they would not see the same object"};
      }
    }
    parent.next_is_key = !parent.next_is_key;
  }

  std::vector<Collection> open_;
  std::map<YAML::anchor_t, size_t> sizes_;  // anchors complete so far
  std::map<YAML::anchor_t, std::string> scalars_;
  std::map<YAML::anchor_t, std::string> names_;
  std::string pending_name_;
  size_t alias_nodes_ = 0;
  int first_line_;  // the line of the text's first line, in what messages name
};

// Finds a plain `<<` (or a `!!merge`-tagged one) in key position.
class MergeKeyFinder final : public YAML::EventHandler {
 public:
  struct Found {
    YAML::Mark mark;
  };
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { Value(); }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { Value(); }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                const std::string& value) override {
    const bool merge = (tag == "?" && value == "<<") || tag == "tag:yaml.org,2002:merge";
    if (merge && !keys_.empty() && keys_.back()) throw Found{mark};
    Value();
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    keys_.push_back(false);
    in_map_.push_back(false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    keys_.push_back(true);
    in_map_.push_back(true);
  }
  void OnMapEnd() override { Close(); }

 private:
  // A node ended in the collection on top: in a map, keys and values alternate.
  void Value() {
    if (!in_map_.empty() && in_map_.back()) keys_.back() = !keys_.back();
  }
  void Close() {
    keys_.pop_back();
    in_map_.pop_back();
    Value();
  }
  std::vector<bool> keys_;    // per open collection: the next node is a key
  std::vector<bool> in_map_;  // per open collection: it is a map
};

}  // namespace

std::optional<RefusedYaml> FindMergeKey(const std::string& text, int first_line) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  MergeKeyFinder finder;
  try {
    while (parser.HandleNextDocument(finder)) {
    }
  } catch (const MergeKeyFinder::Found& found) {
    return RefusedYaml{found.mark.line + first_line, found.mark.column + 1,
                       "a merge key (<<): kubectl merges the mapping it names, yaml-cpp reads a "
                       "key named \"<<\", so inject cannot rewrite the object kubectl applies nor "
                       "uninject take it back; expand the merge (e.g. `yq 'explode(.)'`) first"};
  }
  return std::nullopt;
}

std::optional<RefusedYaml> FindRefusedYaml(const std::string& text, int first_line) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  StructureCheck check(first_line);
  try {
    parser.HandleNextDocument(check);  // the first document only, as YAML::Load
  } catch (const StructureCheck::Refused& refused) {
    return RefusedYaml{refused.mark.line + first_line, refused.mark.column + 1, refused.what};
  }
  return std::nullopt;
}

YAML::Node LoadBounded(const std::string& text) {
  if (const std::optional<RefusedYaml> refused = FindRefusedYaml(text)) {
    YAML::Mark mark;
    mark.line = refused->line - 1;
    mark.column = refused->column - 1;
    throw YAML::Exception(mark, refused->what);
  }
  return YAML::Load(text);
}

std::optional<YAML::Node> LoadDocument(const RawDocument& document, const std::string& where,
                                       std::vector<std::string>* skipped) {
  try {
    if (const std::optional<RefusedYaml> refused =
            FindRefusedYaml(document.text, document.first_line)) {
      skipped->push_back(where + ": refused at line " + std::to_string(refused->line) +
                         ", column " + std::to_string(refused->column) + ": " + refused->what);
      return std::nullopt;
    }
    return YAML::Load(document.text);
  } catch (const YAML::Exception& e) {
    skipped->push_back(where + ": invalid YAML at line " +
                       std::to_string(document.first_line + e.mark.line) + ", column " +
                       std::to_string(e.mark.column + 1) + ": " + e.msg);
    return std::nullopt;
  }
}

std::string ReadAll(std::istream& in) {
  std::string text;
  std::array<char, 1 << 16> buffer{};
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    text.append(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  return text;
}

}  // namespace lastcall::manifest

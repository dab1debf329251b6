#include "manifest_yaml.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <system_error>

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

std::optional<YAML::Node> LoadDocument(const RawDocument& document, const std::string& where,
                                       std::vector<std::string>* skipped) {
  try {
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

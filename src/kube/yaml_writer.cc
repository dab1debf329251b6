#include "yaml_writer.h"

#include <regex>

namespace lastcall {
namespace {

constexpr const char* kStrTag = "tag:yaml.org,2002:str";

bool MatchesAny(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* word : words) {
    if (text == word) return true;
  }
  return false;
}

// Quoted in the input, explicitly tagged !!str, or made by StringNode.
bool IsTaggedString(const YAML::Node& node) { return node.Tag() == "!" || node.Tag() == kStrTag; }

// A multi-line string that a literal block with "clip" chomping (`|`, the only kind yaml-cpp
// writes) reproduces exactly: one final newline, no leading space on the first line (that would
// need an indentation indicator), nothing but printable text and tabs.
bool FitsLiteralBlock(const std::string& text) {
  if (text.size() < 2 || text.back() != '\n' || text[text.size() - 2] == '\n') return false;
  if (text.front() == ' ' || text.front() == '\t' || text.front() == '\n') return false;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 && c != '\n' && c != '\t') return false;
    if (byte == 0x7f) return false;
  }
  return true;
}

// yaml-cpp ends a literal block with its text's own final newline and then the line break
// before whatever follows, which shows as a blank line; given the text without its final newline
// it writes no blank line, and clip chomping restores that newline on reading.
std::string LiteralBody(const std::string& text) { return text.substr(0, text.size() - 1); }

bool IsMultiLineLiteral(const std::string& text) {
  if (!FitsLiteralBlock(text)) return false;
  // Belt and braces: the block must read back as the same text, followed by more content.
  YAML::Emitter probe;
  probe << YAML::BeginMap << YAML::Key << "k" << YAML::Value << YAML::Literal << LiteralBody(text)
        << YAML::Key << "next" << YAML::Value << 1 << YAML::EndMap;
  try {
    return YAML::Load(probe.c_str())["k"].as<std::string>() == text;
  } catch (const YAML::Exception&) {
    return false;
  }
}

void WriteScalar(YAML::Emitter& out, const YAML::Node& node) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  if (text.find('\n') != std::string::npos) {
    if (IsMultiLineLiteral(text)) {
      out << YAML::Literal << LiteralBody(text);
    } else {
      out << YAML::DoubleQuoted << text;
    }
  } else if (IsTaggedString(node)) {
    // A string: quoted only when its plain form would read as something else. (yaml-cpp
    // itself quotes text whose plain form is not valid YAML, such as "a: b".)
    if (NeedsQuotes(text)) out << YAML::DoubleQuoted;
    out << text;
  } else if (tag.empty() || tag == "?" || tag.rfind("tag:yaml.org,2002:", 0) == 0) {
    out << text;  // plain: reads back as it was read (standard tags resolve the same way)
  } else {
    out << YAML::VerbatimTag(tag) << text;
  }
}

void WriteNode(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out << YAML::Null;
      break;
    case YAML::NodeType::Scalar:
      WriteScalar(out, node);
      break;
    case YAML::NodeType::Sequence:
      if (node.size() == 0) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& item : node) WriteNode(out, item);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Map:
      if (node.size() == 0) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& entry : node) {
        out << YAML::Key;
        WriteNode(out, entry.first);
        out << YAML::Value;
        WriteNode(out, entry.second);
      }
      out << YAML::EndMap;
      break;
  }
}

// What a scalar reads back as, for SameYaml: a string, or something a parser resolves.
bool ReadsAsString(const YAML::Node& node) {
  return IsTaggedString(node) || !NeedsQuotes(node.Scalar());
}

}  // namespace

bool NeedsQuotes(std::string_view view) {
  const std::string text(view);
  if (text.empty()) return true;
  if (MatchesAny(text,
                 {"~",  "null", "Null", "NULL", "y",    "Y",    "yes",  "Yes",   "YES",   "n",
                  "N",  "no",   "No",   "NO",   "true", "True", "TRUE", "false", "False", "FALSE",
                  "on", "On",   "ON",   "off",  "Off",  "OFF",  "=",    "<<"})) {
    return true;
  }
  static const std::regex kNumber(
      "[-+]?("
      "\\.(inf|Inf|INF|nan|NaN|NAN)"                   // infinities, not-a-number
      "|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+"            // other bases
      "|[0-9][0-9_]*(:[0-5]?[0-9])+(\\.[0-9_]*)?"      // YAML 1.1 sexagesimal
      "|([0-9][0-9_]*)?\\.?[0-9_]*([eE][-+]?[0-9]+)?"  // decimal, float
      ")");
  static const std::regex kDate("[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?");
  if (std::regex_match(text, kDate)) return true;
  if (!std::regex_match(text, kNumber)) return false;
  // The decimal branch also matches sign-only or dot-only text, which is a string.
  return text.find_first_of("0123456789") != std::string::npos ||
         text.find("inf") != std::string::npos || text.find("Inf") != std::string::npos ||
         text.find("INF") != std::string::npos || text.find("nan") != std::string::npos ||
         text.find("NaN") != std::string::npos || text.find("NAN") != std::string::npos;
}

YAML::Node StringNode(const std::string& text) {
  YAML::Node node(text);
  if (NeedsQuotes(text)) node.SetTag("!");
  return node;
}

std::string WriteYaml(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  out.SetIndent(2);
  WriteNode(out, node);
  std::string text = out.c_str();
  text += '\n';
  return text;
}

bool SameYaml(const YAML::Node& a, const YAML::Node& b) {
  const bool a_null = !a.IsDefined() || a.IsNull();
  const bool b_null = !b.IsDefined() || b.IsNull();
  if (a_null || b_null) return a_null == b_null;
  if (a.Type() != b.Type()) return false;
  switch (a.Type()) {
    case YAML::NodeType::Scalar:
      return a.Scalar() == b.Scalar() && ReadsAsString(a) == ReadsAsString(b);
    case YAML::NodeType::Sequence:
    case YAML::NodeType::Map: {
      if (a.size() != b.size()) return false;
      auto ia = a.begin();
      auto ib = b.begin();
      for (; ia != a.end(); ++ia, ++ib) {
        if (a.IsMap()) {
          if (!SameYaml(ia->first, ib->first) || !SameYaml(ia->second, ib->second)) return false;
        } else if (!SameYaml(*ia, *ib)) {
          return false;
        }
      }
      return true;
    }
    default:
      return true;
  }
}

}  // namespace lastcall

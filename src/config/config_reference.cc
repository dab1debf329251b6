#include "config/config_reference.h"

#include <vector>

#include "config/config_keys.h"

namespace lastcall {
namespace {

// A table cell: a `|` would end the cell, a line break the row.
std::string Cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// Code spans may hold a `|` only escaped too (GitHub splits the row before it reads the span).
std::string Code(std::string_view text) { return "`" + Cell(text) + "`"; }

// The default as a reader writes it in YAML: ":9901", not "\":9901\"". Defaults that are prose
// ("the drain URL", "auto (grace_period + 2s)") stay prose.
std::string DefaultCell(std::string_view text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    return Code(text.substr(1, text.size() - 2));
  }
  if (text.find(' ') != std::string_view::npos) return Cell(text);
  return Code(text);
}

std::string TypeCell(const ConfigKey& key) {
  std::string type = Code(key.value_name);
  if (key.repeatable) type += ", a list (the flag repeats)";
  return type;
}

// "shutdown.drain.timeout" -> "shutdown.drain"; "listen" -> "".
std::string SectionOf(const std::string& key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

}  // namespace

std::string RenderConfigReference() {
  // Sections in the order their first key appears, each with its keys in table order.
  std::vector<std::pair<std::string, std::vector<const ConfigKey*>>> sections;
  for (const ConfigKey& key : ConfigKeys()) {
    std::string section = SectionOf(key.key);
    auto it = sections.begin();
    while (it != sections.end() && it->first != section) ++it;
    if (it == sections.end()) {
      sections.emplace_back(section, std::vector<const ConfigKey*>{});
      it = sections.end() - 1;
    }
    it->second.push_back(&key);
  }

  std::string out(kConfigReferenceBegin);
  out += "\n";
  for (const auto& [section, keys] : sections) {
    out += "\n### " + (section.empty() ? std::string("Top level") : Code(section)) + "\n\n";
    out += "| YAML key | flag | environment | value | default | what |\n";
    out += "|---|---|---|---|---|---|\n";
    for (const ConfigKey* key : keys) {
      out += "| " + Code(key->key) + " | " + Code("--" + key->flag) + " | " + Code(key->env) +
             " | " + TypeCell(*key) + " | " + DefaultCell(key->default_text) + " | " +
             Cell(key->help) + " |\n";
    }
  }
  out += "\n";
  out += kConfigReferenceEnd;
  out += "\n";
  return out;
}

std::optional<std::string> SpliceConfigReference(std::string_view document, std::string* error) {
  const size_t begin = document.find(kConfigReferenceBegin);
  const size_t end = document.find(kConfigReferenceEnd);
  if (begin == std::string_view::npos || end == std::string_view::npos) {
    *error = "the markers of the generated reference are missing (" +
             std::string(kConfigReferenceBegin) + " ... " + std::string(kConfigReferenceEnd) + ")";
    return std::nullopt;
  }
  if (end < begin || document.find(kConfigReferenceBegin, begin + 1) != std::string_view::npos ||
      document.find(kConfigReferenceEnd, end + 1) != std::string_view::npos) {
    *error = "the markers of the generated reference appear more than once or out of order";
    return std::nullopt;
  }
  size_t after = end + kConfigReferenceEnd.size();
  if (after < document.size() && document[after] == '\n') ++after;
  return std::string(document.substr(0, begin)) + RenderConfigReference() +
         std::string(document.substr(after));
}

}  // namespace lastcall

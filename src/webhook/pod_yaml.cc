#include "pod_yaml.h"

#include <charconv>
#include <cstdint>
#include <string>
#include <system_error>

namespace lastcall {

namespace {

using Json = nlohmann::json;

constexpr const char* kStrTag = "tag:yaml.org,2002:str";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(const std::string& text, bool* integer) {
  size_t i = 0;
  const size_t n = text.size();
  if (i < n && text[i] == '-') ++i;
  if (i >= n || !IsDigit(text[i])) return false;
  if (text[i] == '0') {
    ++i;
  } else {
    while (i < n && IsDigit(text[i])) ++i;
  }
  *integer = true;
  if (i < n && text[i] == '.') {
    *integer = false;
    ++i;
    if (i >= n || !IsDigit(text[i])) return false;
    while (i < n && IsDigit(text[i])) ++i;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    *integer = false;
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    if (i >= n || !IsDigit(text[i])) return false;
    while (i < n && IsDigit(text[i])) ++i;
  }
  return i == n;
}

Json PlainScalar(const std::string& text) {
  if (text == "null" || text == "~" || text.empty()) return nullptr;
  if (text == "true") return true;
  if (text == "false") return false;
  bool integer = false;
  if (!IsJsonNumber(text, &integer)) return text;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (integer) {
    int64_t value = 0;
    if (auto [end, error] = std::from_chars(first, last, value);
        error == std::errc() && end == last) {
      return value;
    }
    uint64_t unsigned_value = 0;
    if (auto [end, error] = std::from_chars(first, last, unsigned_value);
        error == std::errc() && end == last) {
      return unsigned_value;
    }
  }
  // A float, or an integer beyond 64 bits (JSON reads both as a double).
  return Json::parse(text, nullptr, false);
}

}  // namespace

YAML::Node JsonToYaml(const Json& json) {
  switch (json.type()) {
    case Json::value_t::object: {
      YAML::Node map(YAML::NodeType::Map);
      // force_insert: no lookup per key (operator[] would make a large object quadratic).
      for (const auto& [key, value] : json.items()) map.force_insert(key, JsonToYaml(value));
      return map;
    }
    case Json::value_t::array: {
      YAML::Node seq(YAML::NodeType::Sequence);
      for (const auto& item : json) seq.push_back(JsonToYaml(item));
      return seq;
    }
    case Json::value_t::string: {
      YAML::Node scalar(json.get_ref<const std::string&>());
      scalar.SetTag("!");
      return scalar;
    }
    case Json::value_t::boolean:
      return YAML::Node(json.get<bool>() ? "true" : "false");
    case Json::value_t::number_integer:
      return YAML::Node(std::to_string(json.get<int64_t>()));
    case Json::value_t::number_unsigned:
      return YAML::Node(std::to_string(json.get<uint64_t>()));
    case Json::value_t::number_float:
      return YAML::Node(json.dump());
    case Json::value_t::null:
    case Json::value_t::binary:
    case Json::value_t::discarded:
      break;
  }
  return YAML::Node(YAML::NodeType::Null);
}

Json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json object = Json::object();
      for (const auto& entry : node) {
        object[entry.first.Scalar()] = YamlToJson(entry.second);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      for (const auto& item : node) array.push_back(YamlToJson(item));
      return array;
    }
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!" || node.Tag() == kStrTag) return node.Scalar();
      return PlainScalar(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return nullptr;
}

}  // namespace lastcall

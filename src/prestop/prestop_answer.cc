#include "prestop/prestop_answer.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/json_field.h"

namespace lastcall {
namespace {

using nlohmann::json;

std::string_view TypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    default:
      return "a number";
  }
}

// Each Read* leaves *out untouched when the field is absent or null, and returns "" or the
// problem with the field, which it calls `name`.
std::string ReadString(const json& object, const char* key, const std::string& name,
                       std::string* out) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (!it->is_string()) return name + " is " + std::string(TypeName(*it)) + ", not a string";
  *out = it->get<std::string>();
  return "";
}

std::string ReadFiniteNumber(const json& object, const char* key, const std::string& name,
                             std::optional<double>* out) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (!it->is_number()) return name + " is " + std::string(TypeName(*it)) + ", not a number";
  const double value = it->get<double>();
  if (!std::isfinite(value)) return name + " is not a finite number";
  *out = value;
  return "";
}

// A whole number of milliseconds in [0, limit].
std::string ReadMillis(const json& object, const char* key, const std::string& name, Millis limit,
                       std::optional<Millis>* out) {
  std::optional<double> value;
  if (std::string problem = ReadFiniteNumber(object, key, name, &value); !problem.empty()) {
    return problem;
  }
  if (!value) return "";
  if (*value < 0 || *value > static_cast<double>(limit.count()) || std::trunc(*value) != *value) {
    return name + " is " + object.find(key)->dump() + ", not a whole number of ms from 0 to " +
           std::to_string(limit.count());
  }
  *out = Millis(static_cast<long long>(*value));
  return "";
}

std::string ReadTimeline(const json& object, std::vector<SidecarTimelineEntry>* out) {
  const auto it = object.find("timeline");
  if (it == object.end() || it->is_null()) return "";
  if (!it->is_array()) {
    return "field \"timeline\" is " + std::string(TypeName(*it)) + ", not an array";
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    const std::string name = "timeline[" + std::to_string(i) + "]";
    if (!item.is_object()) {
      return name + " is " + std::string(TypeName(item)) + ", not an object";
    }
    SidecarTimelineEntry entry;
    std::optional<Millis> elapsed;
    std::string problem =
        ReadMillis(item, "elapsed_ms", name + ".elapsed_ms", kMaxSidecarBudget, &elapsed);
    if (problem.empty()) problem = ReadString(item, "phase", name + ".phase", &entry.phase);
    if (problem.empty()) problem = ReadString(item, "detail", name + ".detail", &entry.detail);
    if (!problem.empty()) return problem;
    if (elapsed) entry.elapsed_ms = elapsed->count();
    out->push_back(std::move(entry));
  }
  return "";
}

SidecarAnswer Unreadable(std::string error) {
  SidecarAnswer answer;
  answer.error = std::move(error);
  return answer;
}

}  // namespace

SidecarAnswer ReadSidecarAnswer(std::string_view body) {
  // The DOM parser recurses once per level: bound the nesting before it sees the body.
  if (JsonNestingDepth(body, kMaxSidecarAnswerDepth) > kMaxSidecarAnswerDepth) {
    return Unreadable("the answer nests deeper than " + std::to_string(kMaxSidecarAnswerDepth) +
                      " levels");
  }
  const json document = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return Unreadable("the answer is not JSON");
  if (!document.is_object()) {
    return Unreadable("the answer is " + std::string(TypeName(document)) + ", not a JSON object");
  }
  SidecarReport report;
  std::string problem = ReadString(document, "phase", "field \"phase\"", &report.phase);
  if (problem.empty()) problem = ReadString(document, "detail", "field \"detail\"", &report.detail);
  if (problem.empty()) problem = ReadTimeline(document, &report.timeline);
  if (problem.empty()) {
    problem = ReadFiniteNumber(document, "last_value", "field \"last_value\"", &report.last_value);
  }
  if (problem.empty()) {
    problem =
        ReadMillis(document, "budget_ms", "field \"budget_ms\"", kMaxSidecarBudget, &report.budget);
  }
  if (!problem.empty()) return Unreadable(problem);
  SidecarAnswer answer;
  answer.report = std::move(report);
  return answer;
}

}  // namespace lastcall

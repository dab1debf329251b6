#include "sequence/sequence_event.h"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace lastcall {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::array kKinds{
    std::pair{EventKind::kTriggered, "triggered"},
    std::pair{EventKind::kTriggerJoined, "trigger_joined"},
    std::pair{EventKind::kResumed, "resumed"},
    std::pair{EventKind::kPhase, "phase"},
    std::pair{EventKind::kLbWaitEnded, "lb_wait_ended"},
    std::pair{EventKind::kDrainTrigger, "drain_trigger"},
    std::pair{EventKind::kPoll, "poll"},
    std::pair{EventKind::kAppDrained, "app_drained"},
    std::pair{EventKind::kSignal, "signal"},
    std::pair{EventKind::kNote, "note"},
    std::pair{EventKind::kFailed, "failed"},
    std::pair{EventKind::kRecovered, "recovered"},
    std::pair{EventKind::kExit, "exit"},
    std::pair{EventKind::kEndpointRemoved, "endpoint_removed"},
};

constexpr std::array kLbWhys{
    LbWaitWhy::kQuiet,     LbWaitWhy::kMax,     LbWaitWhy::kDeadline,
    LbWaitWhy::kCancelled, LbWaitWhy::kAppGone,
};
constexpr std::array kDrainEnds{
    DrainEndReason::kMonitor, DrainEndReason::kPushed,  DrainEndReason::kAppGone,
    DrainEndReason::kWaited,  DrainEndReason::kTimeout, DrainEndReason::kFailed,
};
constexpr std::array kPhases{Phase::kServing, Phase::kUnready, Phase::kDraining, Phase::kDrained,
                             Phase::kTimedOut};
constexpr std::array kSources{TriggerSource::kSignal, TriggerSource::kPreStop,
                              TriggerSource::kResumed};

std::string_view ToString(SequenceEnd end) {
  return end == SequenceEnd::kDrained ? "drained" : "timed_out";
}

// Unknown names (a newer lastcall's enum values) read as absent, by the version policy.
template <typename Enum, size_t N>
std::optional<Enum> EnumFromName(const std::array<Enum, N>& values, std::string_view name) {
  for (Enum value : values) {
    if (ToString(value) == name) return value;
  }
  return std::nullopt;
}

// Reads the fields of one record. The text format writes every value as text, so in `text` mode
// numbers and booleans are read from strings too.
class FieldReader {
 public:
  FieldReader(const Json& object, bool text) : object_(object), text_(text) {}

  const std::string& error() const { return error_; }

  bool Has(const char* key) const { return object_.contains(key); }

  std::string String(const char* key) {
    const auto it = object_.find(key);
    if (it == object_.end()) return "";
    if (it->is_string()) return it->get<std::string>();
    Fail(key, "a string");
    return "";
  }

  std::optional<long long> Integer(const char* key) {
    const auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return std::nullopt;
    if (it->is_number_integer()) return it->get<long long>();
    if (text_ && it->is_string()) {
      const std::string& text = it->get_ref<const std::string&>();
      char* end = nullptr;
      errno = 0;
      const long long value = std::strtoll(text.c_str(), &end, 10);
      if (!text.empty() && end == text.c_str() + text.size() && errno == 0) return value;
    }
    Fail(key, "an integer");
    return std::nullopt;
  }

  std::optional<Millis> Duration(const char* key) {
    const std::optional<long long> ms = Integer(key);
    return ms ? std::optional<Millis>(Millis(*ms)) : std::nullopt;
  }

  std::optional<double> Number(const char* key) {
    const auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return std::nullopt;
    if (it->is_number()) return it->get<double>();
    if (it->is_string()) {
      if (*it == "NaN") return std::numeric_limits<double>::quiet_NaN();
      if (*it == "+Inf") return std::numeric_limits<double>::infinity();
      if (*it == "-Inf") return -std::numeric_limits<double>::infinity();
    }
    if (text_ && it->is_string()) {
      const std::string& text = it->get_ref<const std::string&>();
      char* end = nullptr;
      const double value = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size()) return value;
    }
    Fail(key, "a number");
    return std::nullopt;
  }

  bool Bool(const char* key) {
    const auto it = object_.find(key);
    if (it == object_.end()) return false;
    if (it->is_boolean()) return it->get<bool>();
    if (text_ && it->is_string() && (*it == "true" || *it == "false")) return *it == "true";
    Fail(key, "true or false");
    return false;
  }

  template <typename Enum, size_t N>
  std::optional<Enum> Enumerated(const char* key, const std::array<Enum, N>& values) {
    if (!Has(key)) return std::nullopt;
    return EnumFromName(values, String(key));
  }

 private:
  void Fail(const char* key, const char* expected) {
    if (error_.empty()) error_ = fmt::format("event field \"{}\" is not {}", key, expected);
  }

  const Json& object_;
  const bool text_;
  std::string error_;
};

// As logging writes a double: the shortest text that reads back the same ("3", not "3.0"), and
// the Prometheus names of the values JSON has no number for.
Json NumberJson(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return Json::parse(fmt::format("{}", value), nullptr, false);
}

Json ToJsonObject(const SequenceEvent& event) {
  Json out;
  out["v"] = kEventSchemaVersion;
  out["kind"] = ToString(event.kind);
  auto put_string = [&](const char* key, const std::string& value) {
    if (!value.empty()) out[key] = value;
  };
  auto put_millis = [&](const char* key, const std::optional<Millis>& value) {
    if (value) out[key] = value->count();
  };
  if (event.phase) out["phase"] = ToString(*event.phase);
  if (event.source) out["trigger"] = ToString(*event.source);
  put_millis("elapsed_ms", event.elapsed);
  if (event.drain_end) out["why"] = ToString(*event.drain_end);
  put_string("last_poll", event.last_poll);
  if (event.kind == EventKind::kResumed) out["ended"] = event.ended;
  if (event.lb_end) out["end"] = ToString(*event.lb_end);
  put_millis("waited_ms", event.waited);
  put_millis("last_traffic_ms", event.last_traffic);
  put_string("monitor", event.monitor);
  if (event.attempt > 0) out["attempt"] = event.attempt;
  put_string("url", event.url);
  put_string("outcome", event.outcome);
  if (event.status) out["status"] = *event.status;
  put_string("error", event.error);
  if (event.value) out["value"] = NumberJson(*event.value);
  put_string("signal", event.signal);
  if (event.kind == EventKind::kSignal) out["repeated"] = event.repeated;
  put_millis("recover_after_ms", event.recover_after);
  if (event.result) out["result"] = ToString(*event.result);
  if (event.exit_code) out["exit_code"] = *event.exit_code;
  if (event.slices) out["slices"] = *event.slices;
  // Last: the one free-text field, so that a text line stays readable.
  put_string("detail", event.detail);
  return out;
}

std::optional<SequenceEvent> FromJsonObject(const Json& object, bool text, std::string* error) {
  if (!object.is_object()) {
    *error = "an event is not a JSON object";
    return std::nullopt;
  }
  FieldReader read(object, text);
  const std::optional<long long> version = read.Integer("v");
  if (!read.error().empty() || !version) {
    *error = "an event has no schema version (\"v\")";
    return std::nullopt;
  }
  if (*version > kEventSchemaVersion) {
    *error = fmt::format(
        "an event has schema version {}, newer than this lastcall reads ({}): use a lastcall at "
        "least as new as the one that wrote the log",
        *version, kEventSchemaVersion);
    return std::nullopt;
  }
  if (*version < 1) {
    *error = fmt::format("an event has schema version {}; versions start at 1", *version);
    return std::nullopt;
  }
  SequenceEvent event;
  event.kind_name = read.String("kind");
  if (event.kind_name.empty()) {
    *error = "an event has no kind";
    return std::nullopt;
  }
  for (const auto& [kind, name] : kKinds) {
    if (event.kind_name == name) event.kind = kind;
  }
  event.phase = read.Enumerated("phase", kPhases);
  event.source = read.Enumerated("trigger", kSources);
  event.elapsed = read.Duration("elapsed_ms");
  event.detail = read.String("detail");
  event.drain_end = read.Enumerated("why", kDrainEnds);
  event.last_poll = read.String("last_poll");
  event.ended = read.Bool("ended");
  event.lb_end = read.Enumerated("end", kLbWhys);
  event.waited = read.Duration("waited_ms");
  event.last_traffic = read.Duration("last_traffic_ms");
  event.attempt = static_cast<int>(read.Integer("attempt").value_or(0));
  event.outcome = read.String("outcome");
  event.url = read.String("url");
  if (const auto status = read.Integer("status")) event.status = static_cast<int>(*status);
  event.error = read.String("error");
  event.monitor = read.String("monitor");
  event.value = read.Number("value");
  event.signal = read.String("signal");
  event.repeated = read.Bool("repeated");
  event.recover_after = read.Duration("recover_after_ms");
  if (read.Has("result")) {
    const std::string result = read.String("result");
    if (result == "drained") event.result = SequenceEnd::kDrained;
    if (result == "timed_out") event.result = SequenceEnd::kTimedOut;
  }
  if (const auto code = read.Integer("exit_code")) event.exit_code = static_cast<int>(*code);
  if (const auto slices = read.Integer("slices")) event.slices = static_cast<int>(*slices);
  if (!read.error().empty()) {
    *error = read.error();
    return std::nullopt;
  }
  return event;
}

// A value of a text line's field: a JSON string when quoted, else up to the next space.
std::optional<std::string> TakeTextValue(std::string_view& rest) {
  if (!rest.empty() && rest.front() == '"') {
    size_t end = 1;
    while (end < rest.size() && rest[end] != '"') end += rest[end] == '\\' ? size_t{2} : size_t{1};
    if (end >= rest.size()) return std::nullopt;
    const Json parsed = Json::parse(rest.substr(0, end + 1), nullptr, false);
    if (!parsed.is_string()) return std::nullopt;
    rest.remove_prefix(end + 1);
    return parsed.get<std::string>();
  }
  const size_t space = rest.find(' ');
  std::string value(rest.substr(0, space));
  rest.remove_prefix(space == std::string_view::npos ? rest.size() : space);
  return value;
}

// `event=KIND v=1 key=value...` to the end of the line.
std::optional<SequenceEvent> ReadTextRecord(std::string_view rest, std::string* error) {
  Json object = Json::object();
  while (!rest.empty()) {
    if (rest.front() == ' ') {
      rest.remove_prefix(1);
      continue;
    }
    const size_t equals = rest.find('=');
    if (equals == std::string_view::npos || equals == 0 ||
        rest.substr(0, equals).find(' ') != std::string_view::npos) {
      *error = "an event field on a text line has no key=value form";
      return std::nullopt;
    }
    const std::string key(rest.substr(0, equals));
    rest.remove_prefix(equals + 1);
    std::optional<std::string> value = TakeTextValue(rest);
    if (!value) {
      *error = fmt::format("event field \"{}\" has an unterminated quoted value", key);
      return std::nullopt;
    }
    const std::string name = key == "event" ? "kind" : key;
    if (object.contains(name)) {
      *error = fmt::format("event field \"{}\" appears twice on a text line", key);
      return std::nullopt;
    }
    object[name] = std::move(*value);
  }
  return FromJsonObject(object, /*text=*/true, error);
}

}  // namespace

std::string_view ToString(EventKind kind) {
  for (const auto& [known, name] : kKinds) {
    if (known == kind) return name;
  }
  return "unknown";
}

std::string_view ToString(LbWaitWhy why) {
  switch (why) {
    case LbWaitWhy::kQuiet:
      return "quiet";
    case LbWaitWhy::kMax:
      return "max";
    case LbWaitWhy::kDeadline:
      return "deadline";
    case LbWaitWhy::kCancelled:
      return "cancelled";
    case LbWaitWhy::kAppGone:
      return "app_gone";
  }
  return "max";
}

std::string_view ToString(DrainEndReason why) {
  switch (why) {
    case DrainEndReason::kMonitor:
      return "monitor";
    case DrainEndReason::kPushed:
      return "pushed";
    case DrainEndReason::kAppGone:
      return "app_gone";
    case DrainEndReason::kWaited:
      return "waited";
    case DrainEndReason::kTimeout:
      return "timeout";
    case DrainEndReason::kFailed:
      return "failed";
  }
  return "timeout";
}

std::string EventToJson(const SequenceEvent& event) {
  return ToJsonObject(event).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<SequenceEvent> EventFromJson(std::string_view json, std::string* error) {
  const Json parsed = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    *error = "an event is not valid JSON";
    return std::nullopt;
  }
  return FromJsonObject(parsed, /*text=*/false, error);
}

LogFields EventLogFields(const SequenceEvent& event, LogFormat format) {
  const Json object = ToJsonObject(event);
  if (format == LogFormat::kJson) {
    // A raw field: logging writes it as the JSON object it is.
    LogField field("event", object.dump(-1, ' ', false, Json::error_handler_t::replace));
    field.raw = true;
    return {field};
  }
  // Text: `event=KIND v=1 key=value...`, the kind first so that the reader finds the record.
  LogFields fields;
  fields.emplace_back("event", ToString(event.kind));
  for (const auto& [key, value] : object.items()) {
    if (key == "kind") continue;
    if (value.is_string()) {
      fields.emplace_back(key, value.get<std::string>());
    } else {
      LogField field(key, value.dump());
      field.raw = true;
      fields.push_back(std::move(field));
    }
  }
  return fields;
}

std::optional<LoggedEvent> ReadLoggedEvent(std::string_view line, std::string* error) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.empty()) return std::nullopt;
  LoggedEvent out;
  if (line.front() == '{') {
    const Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) return std::nullopt;
    const auto event = parsed.find("event");
    const auto time = parsed.find("time");
    if (event == parsed.end() || time == parsed.end() || !time->is_string()) return std::nullopt;
    out.time = time->get<std::string>();
    std::optional<SequenceEvent> read = FromJsonObject(*event, /*text=*/false, error);
    if (!read) return std::nullopt;
    out.event = std::move(*read);
    return out;
  }
  // Text: `TIME LEVEL [PHASE] MESSAGE event=KIND v=1 key=value...`. The message is not read, and
  // may itself hold " event=": the record is the first " event=" from which the rest of the line
  // reads as one.
  const size_t time_end = line.find(' ');
  const size_t phase_end = line.find("] ");
  if (time_end == std::string_view::npos || phase_end == std::string_view::npos) {
    return std::nullopt;
  }
  out.time = std::string(line.substr(0, time_end));
  std::string last_error;
  for (size_t start = line.find(" event=", phase_end); start != std::string_view::npos;
       start = line.find(" event=", start + 1)) {
    last_error.clear();
    std::optional<SequenceEvent> read = ReadTextRecord(line.substr(start + 1), &last_error);
    if (read) {
      out.event = std::move(*read);
      return out;
    }
  }
  *error = last_error;
  return std::nullopt;
}

}  // namespace lastcall

#include "sidecar/state_codec.h"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

namespace lastcall {
namespace {

using SysClock = std::chrono::system_clock;
// Timestamps outside 1970..2200 are corruption, and refusing them keeps the arithmetic on them
// (system_clock counts nanoseconds in 64 bits, up to 2262) far from overflow.
constexpr long long kMaxUnixMillis = 7'258'118'400'000;  // 2200-01-01T00:00:00Z

// The integer at `field` when it is a timestamp lastcall could have written, else nullopt.
std::optional<long long> UnixMillisField(const nlohmann::json& field) {
  if (!field.is_number_integer()) return std::nullopt;
  const auto ms = field.get<long long>();  // unsigned ones over LLONG_MAX come out negative
  if (ms < 0 || ms > kMaxUnixMillis) return std::nullopt;
  return ms;
}

long long ToUnixMillis(SysClock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}
SysClock::time_point FromUnixMillis(long long ms) {
  return SysClock::time_point(std::chrono::milliseconds(ms));
}

std::optional<Phase> PhaseFromName(std::string_view name) {
  for (Phase phase :
       {Phase::kServing, Phase::kUnready, Phase::kDraining, Phase::kDrained, Phase::kTimedOut}) {
    if (ToString(phase) == name) return phase;
  }
  return std::nullopt;
}

std::optional<TriggerSource> SourceFromName(std::string_view name) {
  for (TriggerSource source :
       {TriggerSource::kSignal, TriggerSource::kPreStop, TriggerSource::kResumed}) {
    if (ToString(source) == name) return source;
  }
  return std::nullopt;
}

}  // namespace

std::string SerializeSequenceState(const PersistedSequence& state) {
  nlohmann::ordered_json out;
  out["version"] = kStateFileVersion;
  out["phase"] = ToString(state.phase);
  out["trigger"] = ToString(state.source);
  out["triggered_at_ms"] = ToUnixMillis(state.triggered_at);
  out["draining_since_ms"] =
      state.draining_since ? nlohmann::ordered_json(ToUnixMillis(*state.draining_since)) : nullptr;
  out["trigger_accepted"] = state.trigger_accepted;
  out["signal_received"] = state.signal_received;
  if (state.end) {
    out["result"] = *state.end == SequenceEnd::kDrained ? "drained" : "timed_out";
  } else {
    out["result"] = nullptr;
  }
  out["ended_at_ms"] =
      state.ended_at ? nlohmann::ordered_json(ToUnixMillis(*state.ended_at)) : nullptr;
  out["detail"] = state.detail;
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Expected<PersistedSequence> ParseSequenceState(std::string_view text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Status::Invalid("not a JSON object");
  }
  auto field = [&json](const char* name) -> const nlohmann::json* {
    auto it = json.find(name);
    return it == json.end() ? nullptr : &*it;
  };
  const auto* version = field("version");
  if (version != nullptr && version->is_number_integer() &&
      version->get<long long>() > kStateFileVersion) {
    return Status::Invalid(
        fmt::format("written by a newer lastcall (state file version {}; this one reads {})",
                    version->dump(), kStateFileVersion));
  }
  if (version == nullptr || !version->is_number_integer() ||
      version->get<long long>() != kStateFileVersion) {
    return Status::Invalid("unknown state file version");
  }
  PersistedSequence state;
  const auto* phase = field("phase");
  const auto* trigger = field("trigger");
  const auto* triggered = field("triggered_at_ms");
  if (phase == nullptr || !phase->is_string() || trigger == nullptr || !trigger->is_string() ||
      triggered == nullptr || !triggered->is_number_integer()) {
    return Status::Invalid("missing phase, trigger or triggered_at_ms");
  }
  auto parsed_phase = PhaseFromName(phase->get<std::string>());
  auto parsed_source = SourceFromName(trigger->get<std::string>());
  if (!parsed_phase || !parsed_source) {
    return Status::Invalid("unknown phase or trigger name");
  }
  state.phase = *parsed_phase;
  state.source = *parsed_source;
  const std::optional<long long> triggered_ms = UnixMillisField(*triggered);
  if (!triggered_ms) {
    return Status::Invalid("triggered_at_ms is not a time between 1970 and 2200");
  }
  state.triggered_at = FromUnixMillis(*triggered_ms);
  if (const auto* draining = field("draining_since_ms");
      draining != nullptr && draining->is_number_integer()) {
    const std::optional<long long> draining_ms = UnixMillisField(*draining);
    if (!draining_ms || *draining_ms < *triggered_ms) {
      return Status::Invalid("draining_since_ms is not a time between triggered_at_ms and 2200");
    }
    state.draining_since = FromUnixMillis(*draining_ms);
  }
  if (const auto* accepted = field("trigger_accepted"); accepted && accepted->is_boolean()) {
    state.trigger_accepted = accepted->get<bool>();
  }
  if (const auto* received = field("signal_received"); received && received->is_boolean()) {
    state.signal_received = received->get<bool>();
  }
  if (const auto* result = field("result"); result != nullptr && !result->is_null()) {
    // Anything but the two results lastcall writes is not its file: guessing "timed out" would
    // make a restarted lastcall exit 1 at once.
    const std::string name = result->is_string() ? result->get<std::string>() : "";
    if (name != "drained" && name != "timed_out") {
      return Status::Invalid("unknown result (not \"drained\", \"timed_out\" or null)");
    }
    state.end = name == "drained" ? SequenceEnd::kDrained : SequenceEnd::kTimedOut;
  }
  if (const auto* ended = field("ended_at_ms"); ended != nullptr && !ended->is_null()) {
    const std::optional<long long> ended_ms = UnixMillisField(*ended);
    if (!ended_ms || *ended_ms < *triggered_ms || !state.end) {
      return Status::Invalid(
          "ended_at_ms is not a time between triggered_at_ms and 2200 after a result");
    }
    state.ended_at = FromUnixMillis(*ended_ms);
  }
  if (const auto* detail = field("detail"); detail && detail->is_string()) {
    state.detail = detail->get<std::string>();
  }
  return state;
}

}  // namespace lastcall

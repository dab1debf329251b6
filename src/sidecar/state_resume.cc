#include "sidecar/state_resume.h"

#include <fmt/format.h>

#include <chrono>

#include "base/logging.h"
#include "sidecar/state_codec.h"

namespace lastcall {

Expected<Resumed> ResumeFromStateFile(FileSequenceStore& store, const Config& config,
                                      ShutdownCoordinator& coordinator) {
  const Expected<std::string> text = store.Load();
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return Resumed::kNothing;
    return Status(text.status().code(),
                  fmt::format("{}: {}. lastcall reads (and removes) only a state file it wrote "
                              "itself: remove this one, or set state_file to a path in a "
                              "directory only lastcall's user can write",
                              store.path(), text.status().message()));
  }
  const Expected<PersistedSequence> state = ParseSequenceState(*text);
  if (!state.ok()) {
    return Status::Invalid(
        fmt::format("{}: not a state file of this lastcall: {}. It is left as it is: move it "
                    "away, or set state_file to another path",
                    store.path(), state.status().message()));
  }
  const auto now = std::chrono::system_clock::now();
  const auto age = now - state->triggered_at;
  if (state->phase == Phase::kServing) return Resumed::kNothing;
  // A time in the future means the clock was set back since: the file cannot be trusted.
  if (age >= config.shutdown.grace_period || age < std::chrono::system_clock::duration::zero() ||
      (state->draining_since && *state->draining_since > now) ||
      (state->ended_at && *state->ended_at > now)) {
    LogInfo("ignoring a stale state file from an old sequence",
            {{"path", store.path()},
             {"age_ms", static_cast<long long>(
                            std::chrono::duration_cast<std::chrono::milliseconds>(age).count())}});
    store.Clear();
    return Resumed::kNothing;
  }
  // A preStop-only sequence whose recovery came due while lastcall was down: the container was
  // restarted, not the pod deleted (see ShutdownCoordinator::Resume for one still due).
  const Millis recover_after = config.EffectiveRecoverAfter();
  if (state->end && !state->signal_received && state->source == TriggerSource::kPreStop &&
      recover_after.count() > 0 && state->ended_at && now >= *state->ended_at + recover_after) {
    LogInfo(
        "ignoring the state file of a preStop-only sequence whose recovery came due while "
        "lastcall was down; serving",
        {{"path", store.path()}});
    store.Clear();
    return Resumed::kNothing;
  }
  coordinator.Resume(*state);
  return Resumed::kResumed;
}

}  // namespace lastcall

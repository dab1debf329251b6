#include "state_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "logging.h"
#include "small_file.h"

namespace lastcall {
namespace {

using SysClock = std::chrono::system_clock;
constexpr int kStateVersion = 1;
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

// Unpredictable temporary names (O_EXCL already makes a planted name harmless; this makes it
// unlikely too). getrandom needs no /dev in the container; the fallback still differs per call.
unsigned long long RandomBits() {
  unsigned long long bits = 0;
  if (getrandom(&bits, sizeof bits, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof bits)) {
    return bits;
  }
  static std::atomic<unsigned long long> counter{0};
  const auto now =
      static_cast<unsigned long long>(std::chrono::steady_clock::now().time_since_epoch().count());
  return now ^ (static_cast<unsigned long long>(getpid()) << 32) ^ counter.fetch_add(1);
}

}  // namespace

std::string SerializeSequenceState(const PersistedSequence& state) {
  nlohmann::ordered_json out;
  out["version"] = kStateVersion;
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

std::optional<PersistedSequence> ParseSequenceState(std::string_view text, std::string* error) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    *error = "not a JSON object";
    return std::nullopt;
  }
  auto field = [&json](const char* name) -> const nlohmann::json* {
    auto it = json.find(name);
    return it == json.end() ? nullptr : &*it;
  };
  const auto* version = field("version");
  if (version == nullptr || !version->is_number_integer() ||
      version->get<long long>() != kStateVersion) {
    *error = "unknown state file version";
    return std::nullopt;
  }
  PersistedSequence state;
  const auto* phase = field("phase");
  const auto* trigger = field("trigger");
  const auto* triggered = field("triggered_at_ms");
  if (phase == nullptr || !phase->is_string() || trigger == nullptr || !trigger->is_string() ||
      triggered == nullptr || !triggered->is_number_integer()) {
    *error = "missing phase, trigger or triggered_at_ms";
    return std::nullopt;
  }
  auto parsed_phase = PhaseFromName(phase->get<std::string>());
  auto parsed_source = SourceFromName(trigger->get<std::string>());
  if (!parsed_phase || !parsed_source) {
    *error = "unknown phase or trigger name";
    return std::nullopt;
  }
  state.phase = *parsed_phase;
  state.source = *parsed_source;
  const std::optional<long long> triggered_ms = UnixMillisField(*triggered);
  if (!triggered_ms) {
    *error = "triggered_at_ms is not a time between 1970 and 2200";
    return std::nullopt;
  }
  state.triggered_at = FromUnixMillis(*triggered_ms);
  if (const auto* draining = field("draining_since_ms");
      draining != nullptr && draining->is_number_integer()) {
    const std::optional<long long> draining_ms = UnixMillisField(*draining);
    if (!draining_ms || *draining_ms < *triggered_ms) {
      *error = "draining_since_ms is not a time between triggered_at_ms and 2200";
      return std::nullopt;
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
      *error = "unknown result (not \"drained\", \"timed_out\" or null)";
      return std::nullopt;
    }
    state.end = name == "drained" ? SequenceEnd::kDrained : SequenceEnd::kTimedOut;
  }
  if (const auto* ended = field("ended_at_ms"); ended != nullptr && !ended->is_null()) {
    const std::optional<long long> ended_ms = UnixMillisField(*ended);
    if (!ended_ms || *ended_ms < *triggered_ms || !state.end) {
      *error = "ended_at_ms is not a time between triggered_at_ms and 2200 after a result";
      return std::nullopt;
    }
    state.ended_at = FromUnixMillis(*ended_ms);
  }
  if (const auto* detail = field("detail"); detail && detail->is_string()) {
    state.detail = detail->get<std::string>();
  }
  return state;
}

std::string StateFilePath(const Config& config) {
  if (!config.state_file.empty()) return config.state_file;
  const ListenAddress& control = config.control.value;
  if (!control.is_unix) return "";
  const auto slash = control.socket_path.rfind('/');
  if (slash == std::string::npos) return "";
  return control.socket_path.substr(0, slash + 1) + "state.json";
}

void FileSequenceStore::Save(const PersistedSequence& state) {
  const std::string text = SerializeSequenceState(state);
  // A unique name, created exclusively and never through a symlink: the directory is often a
  // shared emptyDir, where a predictable name would let another container's user plant a link
  // that makes lastcall (often root) overwrite its target.
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    temp = fmt::format("{}.tmp-{:016x}", path_, RandomBits());
    fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    LogWarn("cannot write the state file", {{"path", temp}, {"error", std::strerror(errno)}});
    return;
  }
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  // fsync before rename: after a node crash the name points at the old or the new contents,
  // never at an empty file.
  const bool complete = written == text.size() && fsync(fd) == 0;
  const int write_errno = errno;
  close(fd);
  // rename replaces a symlink at path_ itself, never its target.
  if (!complete || std::rename(temp.c_str(), path_.c_str()) != 0) {
    const int err = complete ? errno : write_errno;
    LogWarn("cannot write the state file", {{"path", path_}, {"error", std::strerror(err)}});
    unlink(temp.c_str());
  }
}

void FileSequenceStore::Clear() { unlink(path_.c_str()); }

std::optional<std::string> FileSequenceStore::Load(std::string* error) const {
  SmallFile file = ReadSmallFile(path_, kMaxStateFileBytes, Symlinks::kRefuse);
  if (file.error == SmallFileError::kMissing) return std::nullopt;
  if (!file.ok()) {
    *error = file.reason;
    return std::nullopt;
  }
  return std::move(file.text);
}

void FileSequenceStore::WarnIfDirectoryShared() const {
  const auto slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
  struct stat info {};
  if (stat(dir.c_str(), &info) != 0) return;
  if ((info.st_mode & S_IWOTH) != 0 && (info.st_mode & S_ISVTX) == 0) {
    LogWarn(
        "the state file's directory is writable by every user and has no sticky bit: another "
        "container's user can replace or delete lastcall's state; lastcall writes it without "
        "following links, but give the volume to lastcall's user alone (fsGroup, or a directory "
        "of its own)",
        {{"directory", dir}, {"mode", fmt::format("{:04o}", info.st_mode & 07777)}});
  }
}

bool ResumeFromStateFile(FileSequenceStore& store, const Config& config,
                         ShutdownCoordinator& coordinator) {
  std::string error;
  const auto text = store.Load(&error);
  if (!text) {
    if (!error.empty()) {
      LogWarn("ignoring an unreadable state file", {{"path", store.path()}, {"error", error}});
      store.Clear();
    }
    return false;
  }
  const auto state = ParseSequenceState(*text, &error);
  if (!state) {
    LogWarn("ignoring a corrupt state file", {{"path", store.path()}, {"error", error}});
    store.Clear();
    return false;
  }
  const auto now = SysClock::now();
  const auto age = now - state->triggered_at;
  if (state->phase == Phase::kServing) return false;
  // A time in the future means the clock was set back since: the file cannot be trusted.
  if (age >= config.shutdown.grace_period || age < SysClock::duration::zero() ||
      (state->draining_since && *state->draining_since > now) ||
      (state->ended_at && *state->ended_at > now)) {
    LogInfo("ignoring a stale state file from an old sequence",
            {{"path", store.path()},
             {"age_ms", static_cast<long long>(
                            std::chrono::duration_cast<std::chrono::milliseconds>(age).count())}});
    store.Clear();
    return false;
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
    return false;
  }
  coordinator.Resume(*state);
  return true;
}

}  // namespace lastcall

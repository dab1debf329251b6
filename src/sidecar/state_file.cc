#include "sidecar/state_file.h"

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

#include "base/logging.h"
#include "base/small_file.h"
#include "http/http_client.h"

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
  if (version != nullptr && version->is_number_integer() &&
      version->get<long long>() > kStateVersion) {
    *error = fmt::format("written by a newer lastcall (state file version {}; this one reads {})",
                         version->dump(), kStateVersion);
    return std::nullopt;
  }
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

FileFacts FactsOf(const struct stat& info) {
  return FileFacts{.mode = info.st_mode, .owner = info.st_uid, .links = info.st_nlink};
}

std::string WhyUntrustedDirectory(const FileFacts& dir, uid_t self, StateDirectory kind) {
  if (!S_ISDIR(dir.mode)) return fmt::format("is {}, not a directory", DescribeFileType(dir.mode));
  const bool owner_ok = dir.owner == self || (kind == StateDirectory::kGiven && dir.owner == 0);
  if (!owner_ok) {
    return fmt::format("is owned by uid {}, not by lastcall's uid {}{}", dir.owner, self,
                       kind == StateDirectory::kGiven ? " (or root)" : "");
  }
  const bool shared = (dir.mode & (S_IWGRP | S_IWOTH)) != 0;
  const bool sticky = (dir.mode & S_ISVTX) != 0;
  if (shared && (kind == StateDirectory::kOwn || !sticky)) {
    return fmt::format(
        "is writable by {} (mode {:04o}){}: another user could put a state file there",
        (dir.mode & S_IWOTH) != 0 ? "every user" : "its group", dir.mode & 07777,
        kind == StateDirectory::kOwn ? "" : " without the sticky bit");
  }
  return "";
}

std::string WhyUntrustedStateFile(const FileFacts& file, uid_t self) {
  if (!S_ISREG(file.mode)) {
    return fmt::format("is {}, not a regular file", DescribeFileType(file.mode));
  }
  if (file.owner != self) {
    return fmt::format("is owned by uid {}, not by lastcall's uid {}: lastcall did not write it",
                       file.owner, self);
  }
  if ((file.mode & (S_IWGRP | S_IWOTH)) != 0) {
    return fmt::format("is writable by {} (mode {:04o}); lastcall writes it 0600",
                       (file.mode & S_IWOTH) != 0 ? "every user" : "its group", file.mode & 07777);
  }
  if (file.links != 1) {
    return fmt::format("has {} hard links; the one lastcall writes has one", file.links);
  }
  return "";
}

std::unique_ptr<FileSequenceStore> FileSequenceStore::Open(const std::string& path,
                                                           StateDirectory kind,
                                                           std::string* error) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    *error = path + ": is not a file name";
    return nullptr;
  }
  if (kind == StateDirectory::kOwn) {
    // The control listener creates the socket's missing directories 0750 (http_server.cc), but
    // only after this: create them as it would, then lastcall's own.
    for (size_t at = dir.find('/', 1); at != std::string::npos; at = dir.find('/', at + 1)) {
      const std::string parent = dir.substr(0, at);
      if (mkdir(parent.c_str(), 0750) == 0) chmod(parent.c_str(), 0750);
    }
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = fmt::format("{}: cannot create the state directory: {}", dir, std::strerror(errno));
      return nullptr;
    }
  }
  // O_NOFOLLOW: a symlink planted at the directory's name is refused, not followed elsewhere.
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  // A directory lastcall may search but not read (0711): enough for everything but its fsync.
  if (fd < 0 && errno == EACCES) {
    fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) {
    const int err = errno;
    struct stat link {};
    if ((err == ELOOP || err == ENOTDIR) && lstat(dir.c_str(), &link) == 0 &&
        !S_ISDIR(link.st_mode)) {
      *error = fmt::format("{}: {}", dir, WhyUntrustedDirectory(FactsOf(link), geteuid(), kind));
    } else {
      *error =
          fmt::format("{}: cannot open the state file's directory: {}", dir, std::strerror(err));
    }
    return nullptr;
  }
  struct stat info {};
  std::string why;
  if (fstat(fd, &info) != 0) {
    why = std::string("cannot stat: ") + std::strerror(errno);
  } else {
    why = WhyUntrustedDirectory(FactsOf(info), geteuid(), kind);
  }
  if (!why.empty()) {
    close(fd);
    *error = dir + ": " + why;
    return nullptr;
  }
  return std::unique_ptr<FileSequenceStore>(new FileSequenceStore(path, name, fd));
}

FileSequenceStore::~FileSequenceStore() { close(directory_); }

std::optional<FileFacts> FileSequenceStore::Look(std::string* error) const {
  struct stat info {};
  if (fstatat(directory_, name_.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) *error = std::string("cannot stat: ") + std::strerror(errno);
    return std::nullopt;
  }
  return FactsOf(info);
}

void FileSequenceStore::Save(const PersistedSequence& state) {
  const std::string text = SerializeSequenceState(state);
  // A unique name, created exclusively and never through a symlink, in a directory nobody else
  // can write (or a sticky one): nothing planted there can redirect the write.
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    temp = fmt::format("{}.tmp-{:016x}", name_, RandomBits());
    fd = openat(directory_, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    LogWarn("cannot write the state file", {{"path", path_}, {"error", std::strerror(errno)}});
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
  std::string error = complete ? "" : std::strerror(errno != 0 ? errno : EIO);
  close(fd);
  if (complete) {
    std::string look_error;
    const std::optional<FileFacts> current = Look(&look_error);
    if (current) {
      // Only lastcall's own file is replaced. In a sticky directory nobody else can swap it
      // between this look and the rename.
      if (std::string why = WhyUntrustedStateFile(*current, geteuid()); !why.empty()) {
        error = "not replacing a file lastcall did not write: it " + why;
      } else if (renameat(directory_, temp.c_str(), directory_, name_.c_str()) != 0) {
        error = std::strerror(errno);
      }
    } else if (!look_error.empty()) {
      error = look_error;
    } else if (renameat2(directory_, temp.c_str(), directory_, name_.c_str(), RENAME_NOREPLACE) !=
               0) {
      // No file: one created since by someone else (a sticky directory) is never replaced. A
      // filesystem without RENAME_NOREPLACE gets the plain rename.
      if (errno == EINVAL || errno == ENOSYS) {
        if (renameat(directory_, temp.c_str(), directory_, name_.c_str()) != 0) {
          error = std::strerror(errno);
        }
      } else if (errno == EEXIST) {
        error = "not replacing a file that appeared while lastcall wrote its own";
      } else {
        error = std::strerror(errno);
      }
    }
  }
  if (!error.empty()) {
    LogWarn("cannot write the state file", {{"path", path_}, {"error", error}});
    unlinkat(directory_, temp.c_str(), 0);
    return;
  }
  fsync(directory_);  // the rename itself survives a node crash (fails harmlessly on O_PATH)
}

void FileSequenceStore::Clear() {
  std::string error;
  const std::optional<FileFacts> current = Look(&error);
  if (!current) return;
  if (std::string why = WhyUntrustedStateFile(*current, geteuid()); !why.empty()) {
    LogWarn("not removing a state file lastcall did not write", {{"path", path_}, {"reason", why}});
    return;
  }
  unlinkat(directory_, name_.c_str(), 0);
}

std::optional<std::string> FileSequenceStore::Load(std::string* error) const {
  // Look first, so that a FIFO or a device is never opened (opening some devices acts).
  const std::optional<FileFacts> seen = Look(error);
  if (!seen) return std::nullopt;
  const uid_t self = geteuid();
  if (std::string why = WhyUntrustedStateFile(*seen, self); !why.empty()) {
    *error = why;
    return std::nullopt;
  }
  const int fd =
      openat(directory_, name_.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    *error = errno == ELOOP ? "is a symbolic link, not a regular file"
                            : std::string("cannot read: ") + std::strerror(errno);
    return std::nullopt;
  }
  // The decision that counts is on what was opened: the name may have changed since Look.
  struct stat info {};
  std::string why = fstat(fd, &info) != 0 ? std::string("cannot stat: ") + std::strerror(errno)
                                          : WhyUntrustedStateFile(FactsOf(info), self);
  SmallFile file;
  if (why.empty()) {
    file = ReadOpenedSmallFile(fd, kMaxStateFileBytes);
    if (!file.ok()) why = file.reason;
  }
  close(fd);
  if (!why.empty()) {
    *error = why;
    return std::nullopt;
  }
  return std::move(file.text);
}

Resumed ResumeFromStateFile(FileSequenceStore& store, const Config& config,
                            ShutdownCoordinator& coordinator, std::string* refusal) {
  std::string error;
  const auto text = store.Load(&error);
  if (!text) {
    if (error.empty()) return Resumed::kNothing;
    *refusal = fmt::format(
        "{}: {}. lastcall reads (and removes) only a state file it wrote itself: remove this "
        "one, or set state_file to a path in a directory only lastcall's user can write",
        store.path(), error);
    return Resumed::kRefused;
  }
  const auto state = ParseSequenceState(*text, &error);
  if (!state) {
    *refusal = fmt::format(
        "{}: not a state file of this lastcall: {}. It is left as it is: move it away, or set "
        "state_file to another path",
        store.path(), error);
    return Resumed::kRefused;
  }
  const auto now = SysClock::now();
  const auto age = now - state->triggered_at;
  if (state->phase == Phase::kServing) return Resumed::kNothing;
  // A time in the future means the clock was set back since: the file cannot be trusted.
  if (age >= config.shutdown.grace_period || age < SysClock::duration::zero() ||
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

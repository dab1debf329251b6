#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "config.h"
#include "coordinator.h"

// The sequence state kept in a small file beside the control socket (the pod's shared volume),
// so that a lastcall restarted mid-termination resumes the sequence instead of reporting ready.
namespace lastcall {

// Pure: the file's text and back. ParseSequenceState returns nullopt and sets *error when the
// text is not a state file lastcall wrote (corrupt, truncated, another version).
std::string SerializeSequenceState(const PersistedSequence& state);
std::optional<PersistedSequence> ParseSequenceState(std::string_view text, std::string* error);

// config.state_file, or state.json beside a Unix control socket; "" when there is nowhere safe.
std::string StateFilePath(const Config& config);

// A state file lastcall wrote is a few hundred bytes; anything larger is not one.
inline constexpr size_t kMaxStateFileBytes = size_t{64} * 1024;

class FileSequenceStore final : public SequenceStore {
 public:
  explicit FileSequenceStore(std::string path) : path_(std::move(path)) {}
  // Writes a temporary file with a unique name (O_EXCL|O_NOFOLLOW: never through a planted
  // symlink), fsyncs it and renames it over the old one: a crash never leaves half a file.
  // Failures are logged; the sequence goes on without its state file.
  void Save(const PersistedSequence& state) override;
  void Clear() override;
  // The file's text; nullopt when there is none (no *error) or it cannot be used: a symlink,
  // FIFO, device or directory, or larger than kMaxStateFileBytes (*error says which). Never
  // blocks.
  std::optional<std::string> Load(std::string* error) const;
  // Logs a warning when the directory is writable by every user without the sticky bit. Once, at
  // start.
  void WarnIfDirectoryShared() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Reads the store; resumes a sequence younger than the grace period (or restores its result, with
// its recovery deadline); logs, removes and ignores a stale, corrupt or unreadable file, and the
// file of a preStop-only sequence whose recovery came due while lastcall was down. Returns true
// when a sequence was resumed or restored.
bool ResumeFromStateFile(FileSequenceStore& store, const Config& config,
                         ShutdownCoordinator& coordinator);

}  // namespace lastcall

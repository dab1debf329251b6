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

class FileSequenceStore final : public SequenceStore {
 public:
  explicit FileSequenceStore(std::string path) : path_(std::move(path)) {}
  // Writes a temporary file and renames it over the old one: a crash never leaves half a file.
  void Save(const SequenceReport& report, std::chrono::system_clock::time_point triggered,
            std::optional<std::chrono::system_clock::time_point> draining_since) override;
  void Clear() override;
  std::optional<std::string> Load() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Reads the store; resumes a sequence younger than the grace period; logs and ignores a stale or
// corrupt file. Returns true when a sequence was resumed or restored.
bool ResumeFromStateFile(FileSequenceStore& store, const Config& config,
                         ShutdownCoordinator& coordinator);

}  // namespace lastcall

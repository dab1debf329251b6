#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "sidecar/coordinator.h"

// The sequence state kept in a small file on the pod's shared volume, so that a lastcall restarted
// mid-termination resumes the sequence instead of reporting ready.
//
// Only a file lastcall wrote itself is ever read, and nothing else is ever deleted or replaced
// (PRODUCT.md §5 "state"): the file must be a regular file owned by lastcall's effective UID,
// writable by nobody else, with one link, in a directory nobody else can replace it in. Anything
// else at the path, and any file whose contents are not a state file of this version, makes
// `lastcall run` refuse to start (exit 2) naming the path and the reason: forging the state file
// would let another user decide the pod's shutdown, and guessing would be worse.
namespace lastcall {

// Pure: the file's text and back. ParseSequenceState returns nullopt and sets *error when the
// text is not a state file lastcall wrote (corrupt, truncated, another version).
std::string SerializeSequenceState(const PersistedSequence& state);
std::optional<PersistedSequence> ParseSequenceState(std::string_view text, std::string* error);

// A state file lastcall wrote is a few hundred bytes; anything larger is not one.
inline constexpr size_t kMaxStateFileBytes = size_t{64} * 1024;

// What the trust decision reads from fstat(2) of an opened file or directory.
struct FileFacts {
  mode_t mode = 0;  // st_mode: the file type and the permission bits
  uid_t owner = 0;  // st_uid
  nlink_t links = 1;
};
FileFacts FactsOf(const struct stat& info);

enum class StateDirectory {
  kOwn,    // the default, <control socket's directory>/lastcall-state: lastcall creates it 0700
  kGiven,  // the directory of a configured state_file
};

// Pure. "" when `dir` may hold lastcall's state file, else why not ("is owned by uid 65534, not
// lastcall's uid 1000"). kOwn: a directory owned by `self` that neither its group nor others can
// write. kGiven: a directory owned by `self` or root (root can forge anything anyway) that
// neither its group nor others can write, or that is sticky (as /tmp): there nobody else can
// rename or delete lastcall's file, and a file they plant is refused by WhyUntrustedStateFile.
std::string WhyUntrustedDirectory(const FileFacts& dir, uid_t self, StateDirectory kind);
// Pure. "" when `file` can be a state file lastcall wrote: a regular file owned by `self`, that
// neither its group nor others can write, with a single link (a hard link to one of lastcall's
// files, made elsewhere, is not its state file). Else why not.
std::string WhyUntrustedStateFile(const FileFacts& file, uid_t self);

class FileSequenceStore final : public SequenceStore {
 public:
  // Opens the directory of `path` without following a symlink (kOwn: creates it first, mode
  // 0700) and checks the opened directory with WhyUntrustedDirectory; every later access is
  // relative to that descriptor, so a directory swapped after the check is never used.
  // nullptr and *error ("<dir>: <reason>") when it cannot be opened or is not trusted.
  static std::unique_ptr<FileSequenceStore> Open(const std::string& path, StateDirectory kind,
                                                 std::string* error);
  ~FileSequenceStore() override;
  FileSequenceStore(const FileSequenceStore&) = delete;
  FileSequenceStore& operator=(const FileSequenceStore&) = delete;

  // Writes a temporary file with an unpredictable name (O_EXCL|O_NOFOLLOW, 0600: never through a
  // planted name), fsyncs it and renames it over the old one: a crash never leaves half a file.
  // Never replaces a file lastcall did not write (WhyUntrustedStateFile). Failures are logged;
  // the sequence goes on without its state file.
  void Save(const PersistedSequence& state) override;
  // Removes the state file when it is lastcall's (WhyUntrustedStateFile), and nothing else.
  void Clear() override;
  // The file's text; nullopt when there is none (no *error) or it cannot be one lastcall wrote:
  // not trusted (WhyUntrustedStateFile, decided on the opened descriptor), not a regular file
  // (a FIFO or device is never opened), larger than kMaxStateFileBytes. *error says why. Never
  // blocks.
  std::optional<std::string> Load(std::string* error) const;
  const std::string& path() const { return path_; }

 private:
  FileSequenceStore(std::string path, std::string name, int directory)
      : path_(std::move(path)), name_(std::move(name)), directory_(directory) {}
  // The state file's facts (lstat, relative to directory_); nullopt when it does not exist or
  // cannot be looked at (*error set in the latter case).
  std::optional<FileFacts> Look(std::string* error) const;

  std::string path_;
  std::string name_;  // the last component of path_
  int directory_;     // path_'s directory, opened and checked by Open
};

enum class Resumed {
  kNothing,  // no state file, a stale one (removed), or nothing to resume
  kResumed,  // a sequence was resumed, or its result restored
  kRefused,  // the file is not one lastcall wrote: *refusal says why and what to do
};

// Reads the store; resumes a sequence younger than the grace period (or restores its result, with
// its recovery deadline); logs and removes a stale file, and the file of a preStop-only sequence
// whose recovery came due while lastcall was down (lastcall wrote them). Refuses a file it cannot
// trust, cannot read as a state file, or of another version, and leaves it where it is: the caller
// refuses to start (exit 2).
Resumed ResumeFromStateFile(FileSequenceStore& store, const Config& config,
                            ShutdownCoordinator& coordinator, std::string* refusal);

}  // namespace lastcall

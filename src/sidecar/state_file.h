#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "base/status.h"
#include "sequence/sequence_types.h"
#include "sidecar/state_codec.h"

// Where the sequence state lives: a small file on the pod's shared volume, so that a lastcall
// restarted mid-termination resumes the sequence instead of reporting ready. Its text is
// state_codec.h's; what a restarted lastcall does with it, state_resume.h's.
//
// Only a file lastcall wrote itself is ever read, and nothing else is ever deleted or replaced
// (PRODUCT.md §5 "state"): the file must be a regular file owned by lastcall's effective UID,
// writable by nobody else, with one link, in a directory nobody else can replace it in. Anything
// else at the path, and any file whose contents are not a state file of this version, makes
// `lastcall run` refuse to start (exit 2) naming the path and the reason: forging the state file
// would let another user decide the pod's shutdown, and guessing would be worse.
namespace lastcall {

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

// Pure. OK when `dir` may hold lastcall's state file, else kUntrusted saying why not ("is owned
// by uid 65534, not lastcall's uid 1000"). kOwn: a directory owned by `self` that neither its
// group nor others can write. kGiven: a directory owned by `self` or root (root can forge
// anything anyway) that neither its group nor others can write, or that is sticky (as /tmp):
// there nobody else can rename or delete lastcall's file, and a file they plant is refused by
// CheckStateFile.
Status CheckStateDirectory(const FileFacts& dir, uid_t self, StateDirectory kind);
// Pure. OK when `file` can be a state file lastcall wrote: a regular file owned by `self`, that
// neither its group nor others can write, with a single link (a hard link to one of lastcall's
// files, made elsewhere, is not its state file). Else kUntrusted saying why not.
Status CheckStateFile(const FileFacts& file, uid_t self);

class FileSequenceStore final : public SequenceStore {
 public:
  // Opens the directory of `path` without following a symlink (kOwn: creates it first, mode
  // 0700) and checks the opened directory with CheckStateDirectory; every later access is
  // relative to that descriptor, so a directory swapped after the check is never used.
  // Failures name the directory ("<dir>: <reason>"): kUntrusted when it is not to be trusted,
  // kUnavailable when it cannot be created or opened, kInvalid when `path` names no file.
  static Expected<std::unique_ptr<FileSequenceStore>> Open(const std::string& path,
                                                           StateDirectory kind);
  ~FileSequenceStore() override;
  FileSequenceStore(const FileSequenceStore&) = delete;
  FileSequenceStore& operator=(const FileSequenceStore&) = delete;

  // Writes a temporary file with an unpredictable name (O_EXCL|O_NOFOLLOW, 0600: never through a
  // planted name), fsyncs it and renames it over the old one: a crash never leaves half a file.
  // Never replaces a file lastcall did not write (CheckStateFile: kUntrusted). kUnavailable when
  // a system call failed. The temporary file never outlives a failure.
  Status Write(const PersistedSequence& state);
  // Removes the state file when it is lastcall's (CheckStateFile), and nothing else: OK when
  // removed or there is none, kUntrusted when it is not lastcall's (left in place).
  Status Remove();

  // SequenceStore: Write and Remove, their failures logged. The sequence goes on without its
  // state file.
  void Save(const PersistedSequence& state) override;
  void Clear() override;

  // The file's text. kNotFound when there is none; kUntrusted when lastcall cannot have written
  // it (CheckStateFile, decided on the opened descriptor; a FIFO or device is never opened);
  // kInvalid when it is larger than kMaxStateFileBytes; kUnavailable when it cannot be read. The
  // message is the reason without the path ("is a FIFO, not a regular file"). Never blocks.
  Expected<std::string> Load() const;
  const std::string& path() const { return path_; }

 private:
  FileSequenceStore(std::string path, std::string name, int directory)
      : path_(std::move(path)), name_(std::move(name)), directory_(directory) {}
  // The state file's facts (lstat, relative to directory_): kNotFound when it does not exist,
  // kUnavailable when it cannot be looked at.
  Expected<FileFacts> Look() const;

  std::string path_;
  std::string name_;  // the last component of path_
  int directory_;     // path_'s directory, opened and checked by Open
};

}  // namespace lastcall

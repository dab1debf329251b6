#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

// Reads a small regular file (config, token, state) without ever blocking or reading without
// bound: a FIFO, a device or a symlink to /dev/zero at one of lastcall's paths is refused with a
// reason instead of hanging start-up or exhausting memory.
namespace lastcall {

// What identifies the contents of a file cheaply: when none of these changed, the contents did
// not either (a Kubernetes secret rotation swaps a symlink, so the inode changes).
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  long long mtime_ns = 0;
  long long ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

enum class SmallFileError {
  kNone,
  kMissing,     // ENOENT / ENOTDIR
  kNotRegular,  // a directory, FIFO, socket or device
  kSymlink,     // a symbolic link where links are not followed
  kTooLarge,    // more than the caller's limit
  kUnreadable,  // any other errno (permissions, I/O error)
};

struct SmallFile {
  SmallFileError error = SmallFileError::kNone;
  // Without the path: "cannot read: No such file or directory", "is a FIFO, not a regular file",
  // "larger than 4 KiB". Callers prefix what the file is and its path.
  std::string reason;
  std::string text;       // the contents when error == kNone
  FileIdentity identity;  // of the file that was read, when error == kNone
  bool ok() const { return error == SmallFileError::kNone; }
};

enum class Symlinks { kFollow, kRefuse };

// Opens `path` with O_NONBLOCK (an open never waits for a FIFO's writer), checks with fstat that
// it is a regular file, and reads at most `max_bytes` (a file that grows past it while being read
// is kTooLarge too). With Symlinks::kRefuse a symlink as the last component is kSymlink.
// Thread-safe; never throws (std::bad_alloc aside).
SmallFile ReadSmallFile(const std::string& path, size_t max_bytes,
                        Symlinks symlinks = Symlinks::kFollow);

// The same checks and bounded read on a descriptor the caller opened (with openat beside a
// directory it holds, say). Does not close `fd`.
SmallFile ReadOpenedSmallFile(int fd, size_t max_bytes);

// stat(2) of `path`, following symlinks; nullopt when it cannot be stat'ed.
std::optional<FileIdentity> StatIdentity(const std::string& path);

// "a FIFO", "a character device", "a symbolic link", ... for st_mode's file type; "a regular
// file" and "a directory" too.
const char* DescribeFileType(mode_t mode);

// "4 KiB", "1 MiB", "123 bytes": for messages about limits.
std::string DescribeSize(size_t bytes);

}  // namespace lastcall

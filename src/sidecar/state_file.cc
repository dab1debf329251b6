#include "sidecar/state_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "base/logging.h"
#include "base/small_file.h"

namespace lastcall {
namespace {

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

std::string ErrnoText(int err) { return std::strerror(err != 0 ? err : EIO); }

}  // namespace

FileFacts FactsOf(const struct stat& info) {
  return FileFacts{.mode = info.st_mode, .owner = info.st_uid, .links = info.st_nlink};
}

Status CheckStateDirectory(const FileFacts& dir, uid_t self, StateDirectory kind) {
  if (!S_ISDIR(dir.mode)) {
    return Status::Untrusted(fmt::format("is {}, not a directory", DescribeFileType(dir.mode)));
  }
  const bool owner_ok = dir.owner == self || (kind == StateDirectory::kGiven && dir.owner == 0);
  if (!owner_ok) {
    return Status::Untrusted(fmt::format("is owned by uid {}, not by lastcall's uid {}{}",
                                         dir.owner, self,
                                         kind == StateDirectory::kGiven ? " (or root)" : ""));
  }
  const bool shared = (dir.mode & (S_IWGRP | S_IWOTH)) != 0;
  const bool sticky = (dir.mode & S_ISVTX) != 0;
  if (shared && (kind == StateDirectory::kOwn || !sticky)) {
    return Status::Untrusted(
        fmt::format("is writable by {} (mode {:04o}){}: another user could put a state file there",
                    (dir.mode & S_IWOTH) != 0 ? "every user" : "its group", dir.mode & 07777,
                    kind == StateDirectory::kOwn ? "" : " without the sticky bit"));
  }
  return Status();
}

Status CheckStateFile(const FileFacts& file, uid_t self) {
  if (!S_ISREG(file.mode)) {
    return Status::Untrusted(fmt::format("is {}, not a regular file", DescribeFileType(file.mode)));
  }
  if (file.owner != self) {
    return Status::Untrusted(
        fmt::format("is owned by uid {}, not by lastcall's uid {}: lastcall did not write it",
                    file.owner, self));
  }
  if ((file.mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Status::Untrusted(fmt::format("is writable by {} (mode {:04o}); lastcall writes it 0600",
                                         (file.mode & S_IWOTH) != 0 ? "every user" : "its group",
                                         file.mode & 07777));
  }
  if (file.links != 1) {
    return Status::Untrusted(
        fmt::format("has {} hard links; the one lastcall writes has one", file.links));
  }
  return Status();
}

Expected<std::unique_ptr<FileSequenceStore>> FileSequenceStore::Open(const std::string& path,
                                                                     StateDirectory kind) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    return Status::Invalid(path + ": is not a file name");
  }
  if (kind == StateDirectory::kOwn) {
    // The control listener creates the socket's missing directories 0750 (http_server.cc), but
    // only after this: create them as it would, then lastcall's own.
    for (size_t at = dir.find('/', 1); at != std::string::npos; at = dir.find('/', at + 1)) {
      const std::string parent = dir.substr(0, at);
      if (mkdir(parent.c_str(), 0750) == 0) chmod(parent.c_str(), 0750);
    }
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::Unavailable(
          fmt::format("{}: cannot create the state directory: {}", dir, std::strerror(errno)));
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
      return CheckStateDirectory(FactsOf(link), geteuid(), kind).Annotate(dir);
    }
    return Status::Unavailable(
        fmt::format("{}: cannot open the state file's directory: {}", dir, std::strerror(err)));
  }
  struct stat info {};
  Status trusted = fstat(fd, &info) != 0
                       ? Status::Unavailable(std::string("cannot stat: ") + std::strerror(errno))
                       : CheckStateDirectory(FactsOf(info), geteuid(), kind);
  if (!trusted.ok()) {
    close(fd);
    return std::move(trusted).Annotate(dir);
  }
  return std::unique_ptr<FileSequenceStore>(new FileSequenceStore(path, name, fd));
}

FileSequenceStore::~FileSequenceStore() { close(directory_); }

Expected<FileFacts> FileSequenceStore::Look() const {
  struct stat info {};
  if (fstatat(directory_, name_.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::NotFound("no state file");
    return Status::Unavailable(std::string("cannot stat: ") + std::strerror(errno));
  }
  return FactsOf(info);
}

Status FileSequenceStore::Write(const PersistedSequence& state) {
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
  if (fd < 0) return Status::Unavailable(ErrnoText(errno));
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
  Status result = complete ? Status() : Status::Unavailable(ErrnoText(errno));
  close(fd);
  if (complete) {
    const Expected<FileFacts> current = Look();
    if (current.ok()) {
      // Only lastcall's own file is replaced. In a sticky directory nobody else can swap it
      // between this look and the rename.
      if (Status mine = CheckStateFile(*current, geteuid()); !mine.ok()) {
        result =
            Status::Untrusted("not replacing a file lastcall did not write: it " + mine.message());
      } else if (renameat(directory_, temp.c_str(), directory_, name_.c_str()) != 0) {
        result = Status::Unavailable(ErrnoText(errno));
      }
    } else if (current.status().code() != StatusCode::kNotFound) {
      result = current.status();
    } else if (renameat2(directory_, temp.c_str(), directory_, name_.c_str(), RENAME_NOREPLACE) !=
               0) {
      // No file: one created since by someone else (a sticky directory) is never replaced. A
      // filesystem without RENAME_NOREPLACE gets the plain rename.
      if (errno == EINVAL || errno == ENOSYS) {
        if (renameat(directory_, temp.c_str(), directory_, name_.c_str()) != 0) {
          result = Status::Unavailable(ErrnoText(errno));
        }
      } else if (errno == EEXIST) {
        result =
            Status::Untrusted("not replacing a file that appeared while lastcall wrote its own");
      } else {
        result = Status::Unavailable(ErrnoText(errno));
      }
    }
  }
  if (!result.ok()) {
    unlinkat(directory_, temp.c_str(), 0);
    return result;
  }
  fsync(directory_);  // the rename itself survives a node crash (fails harmlessly on O_PATH)
  return Status();
}

Status FileSequenceStore::Remove() {
  const Expected<FileFacts> current = Look();
  if (!current.ok()) {
    return current.status().code() == StatusCode::kNotFound ? Status() : current.status();
  }
  if (Status mine = CheckStateFile(*current, geteuid()); !mine.ok()) return mine;
  unlinkat(directory_, name_.c_str(), 0);
  return Status();
}

void FileSequenceStore::Save(const PersistedSequence& state) {
  if (Status written = Write(state); !written.ok()) {
    LogWarn("cannot write the state file", {{"path", path_}, {"error", written.message()}});
  }
}

void FileSequenceStore::Clear() {
  if (Status removed = Remove(); removed.code() == StatusCode::kUntrusted) {
    LogWarn("not removing a state file lastcall did not write",
            {{"path", path_}, {"reason", removed.message()}});
  }
}

Expected<std::string> FileSequenceStore::Load() const {
  // Look first, so that a FIFO or a device is never opened (opening some devices acts).
  const Expected<FileFacts> seen = Look();
  if (!seen.ok()) return seen.status();
  const uid_t self = geteuid();
  if (Status mine = CheckStateFile(*seen, self); !mine.ok()) return mine;
  const int fd =
      openat(directory_, name_.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("no state file");
    if (errno == ELOOP) return Status::Untrusted("is a symbolic link, not a regular file");
    return Status::Unavailable(std::string("cannot read: ") + std::strerror(errno));
  }
  // The decision that counts is on what was opened: the name may have changed since Look.
  struct stat info {};
  Status status = fstat(fd, &info) != 0
                      ? Status::Unavailable(std::string("cannot stat: ") + std::strerror(errno))
                      : CheckStateFile(FactsOf(info), self);
  SmallFile file;
  if (status.ok()) {
    file = ReadOpenedSmallFile(fd, kMaxStateFileBytes);
    if (file.error == SmallFileError::kTooLarge) {
      status = Status::Invalid(file.reason);
    } else if (!file.ok()) {
      status = Status::Unavailable(file.reason);
    }
  }
  close(fd);
  if (!status.ok()) return status;
  return std::move(file.text);
}

}  // namespace lastcall

#include "base/small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lastcall {
namespace {

FileIdentity IdentityOf(const struct stat& info) {
  FileIdentity id;
  id.device = info.st_dev;
  id.inode = info.st_ino;
  id.size = info.st_size;
  id.mtime_ns = static_cast<long long>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  id.ctime_ns = static_cast<long long>(info.st_ctim.tv_sec) * 1'000'000'000 + info.st_ctim.tv_nsec;
  return id;
}

SmallFile Fail(SmallFileError error, std::string reason) {
  SmallFile file;
  file.error = error;
  file.reason = std::move(reason);
  return file;
}

SmallFile FailErrno(int err) {
  return Fail(
      err == ENOENT || err == ENOTDIR ? SmallFileError::kMissing : SmallFileError::kUnreadable,
      std::string("cannot read: ") + std::strerror(err));
}

// Closes on every path out of ReadSmallFile.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

const char* DescribeFileType(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "a file of unknown type";
}

std::string DescribeSize(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

SmallFile ReadSmallFile(const std::string& path, size_t max_bytes, Symlinks symlinks) {
  int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  if (symlinks == Symlinks::kRefuse) flags |= O_NOFOLLOW;
  const Fd fd{open(path.c_str(), flags)};
  if (fd.fd < 0) {
    const int err = errno;
    // O_NOFOLLOW on a symlink fails with ELOOP; say what it is rather than "too many levels".
    if (err == ELOOP && symlinks == Symlinks::kRefuse) {
      struct stat link {};
      if (lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
        return Fail(SmallFileError::kSymlink, "is a symbolic link; refusing to follow it");
      }
    }
    // A directory opened read-only succeeds on Linux, but EISDIR is possible elsewhere.
    if (err == EISDIR) return Fail(SmallFileError::kNotRegular, "is a directory");
    return FailErrno(err);
  }
  return ReadOpenedSmallFile(fd.fd, max_bytes);
}

SmallFile ReadOpenedSmallFile(int fd, size_t max_bytes) {
  struct stat info {};
  if (fstat(fd, &info) != 0) return FailErrno(errno);
  if (S_ISDIR(info.st_mode)) return Fail(SmallFileError::kNotRegular, "is a directory");
  if (!S_ISREG(info.st_mode)) {
    return Fail(SmallFileError::kNotRegular,
                std::string("is ") + DescribeFileType(info.st_mode) + ", not a regular file");
  }
  const std::string too_large =
      "larger than " + DescribeSize(max_bytes) + "; is it the right file?";
  if (info.st_size < 0 || static_cast<unsigned long long>(info.st_size) > max_bytes) {
    return Fail(SmallFileError::kTooLarge, too_large);
  }
  // Read one byte past the limit: a file that grew since fstat is refused, not truncated.
  SmallFile file;
  file.text.resize(max_bytes + 1);
  size_t got = 0;
  while (got < file.text.size()) {
    const ssize_t n = read(fd, file.text.data() + got, file.text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno(errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max_bytes) return Fail(SmallFileError::kTooLarge, too_large);
  file.text.resize(got);
  file.identity = IdentityOf(info);
  return file;
}

std::optional<FileIdentity> StatIdentity(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) return std::nullopt;
  return IdentityOf(info);
}

}  // namespace lastcall

#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/small_file.h"

// The control endpoint's bearer token, read from a file that may change while lastcall runs
// (Kubernetes rotates a mounted secret by swapping the `..data` symlink behind the file's path).
namespace lastcall {

inline constexpr size_t kMaxTokenFileBytes = 4096;

// The token in a token file's text: without a UTF-8 byte order mark and without leading and
// trailing whitespace (secret files often end in a newline). nullopt and *error when the text is
// empty, longer than kMaxTokenFileBytes, or holds control characters (they could split an HTTP
// header). Pure.
std::optional<std::string> ParseToken(std::string_view text, std::string* error);

// Reads and parses the token file at `path` (a regular file, never blocking, at most 4 KiB and some
// whitespace); nullopt and *error (without the path) when it cannot. *identity, when given, is
// the identity of the file read, or nullopt when none could be read.
std::optional<std::string> ReadToken(const std::string& path, std::string* error,
                                     std::optional<FileIdentity>* identity = nullptr);

// The token that is valid now. Each Current() stats the path (cheap) and re-reads the file only
// when the file behind it changed (inode, size, mtime or ctime), so a rotated secret takes effect
// on the next request and the old token stops working. While the file is missing or invalid no
// token is valid; each change of state is logged once. Thread-safe.
class TokenFile {
 public:
  explicit TokenFile(std::string path);
  std::optional<std::string> Current();
  const std::string& path() const { return path_; }

 private:
  void Reload();  // REQUIRES: mu_ held

  const std::string path_;
  std::mutex mu_;
  std::optional<FileIdentity> identity_;  // GUARDED_BY(mu_): of the file last read
  std::optional<std::string> token_;      // GUARDED_BY(mu_)
  std::string problem_;                   // GUARDED_BY(mu_): why token_ is empty, as logged
};

}  // namespace lastcall

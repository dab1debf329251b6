#include "base/file_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace lastcall {

std::optional<std::string> PosixFileReader::Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

bool FileReader::ReadChunks(const std::string& path, size_t chunk,
                            const std::function<bool(std::string_view)>& consume) {
  const std::optional<std::string> text = Read(path);
  if (!text) return false;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t n = std::min(chunk, rest.size());
    if (!consume(rest.substr(0, n))) break;
    rest.remove_prefix(n);
  }
  return true;
}

bool PosixFileReader::ReadChunks(const std::string& path, size_t chunk,
                                 const std::function<bool(std::string_view)>& consume) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return false;
  std::string buffer(chunk, '\0');
  bool ok = true;
  while (true) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      ok = false;
      break;
    }
    if (got == 0) break;
    if (!consume(std::string_view(buffer.data(), static_cast<size_t>(got)))) break;
  }
  ::close(fd);
  return ok;
}

}  // namespace lastcall

#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

// Reads files: the seam through which the connections monitor, the traffic observer's /proc
// fallback and the listening table read /proc/net/tcp*, so their tests hand them fixed tables.
namespace lastcall {

class FileReader {
 public:
  virtual ~FileReader() = default;
  // The whole file; nullopt when it cannot be read.
  virtual std::optional<std::string> Read(const std::string& path) = 0;
  // The file streamed to `consume` in pieces of at most `chunk` bytes (REQUIRES: chunk > 0),
  // for files that may be large (/proc/net/tcp with a socket flood): memory stays one chunk.
  // `consume` returns false to stop early. Returns false when the file cannot be opened or a
  // read fails (`consume` may have seen a part then: the caller must not take it as whole);
  // true otherwise, stopped early or not. This default serves Read() in pieces, so a fake need
  // only implement Read.
  virtual bool ReadChunks(const std::string& path, size_t chunk,
                          const std::function<bool(std::string_view)>& consume);
};
class PosixFileReader final : public FileReader {
 public:
  std::optional<std::string> Read(const std::string& path) override;
  bool ReadChunks(const std::string& path, size_t chunk,
                  const std::function<bool(std::string_view)>& consume) override;
};

}  // namespace lastcall

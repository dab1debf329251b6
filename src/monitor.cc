#include "monitor.h"

#include <fstream>
#include <sstream>

namespace lastcall {

std::string_view ToString(PollOutcome outcome) {
  switch (outcome) {
    case PollOutcome::kDrained:
      return "drained";
    case PollOutcome::kBusy:
      return "busy";
    case PollOutcome::kRefused:
      return "refused";
    case PollOutcome::kError:
      return "error";
  }
  return "unknown";
}

std::optional<std::string> PosixFileReader::Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

}  // namespace lastcall

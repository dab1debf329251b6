#include "kubeapi/watch_lines.h"

#include <fmt/format.h>

namespace lastcall::kubeapi {

WatchLineSplitter::Result WatchLineSplitter::Feed(
    std::string_view bytes, const std::function<bool(std::string_view)>& on_line) {
  while (!bytes.empty()) {
    const size_t newline = bytes.find('\n');
    const std::string_view part = bytes.substr(0, newline);
    if (partial_.size() + part.size() > max_line_) {
      error_ = fmt::format("a watch line longer than {} bytes", max_line_);
      partial_.clear();
      partial_.shrink_to_fit();
      return Result::kTooLarge;
    }
    if (newline == std::string_view::npos) {
      partial_.append(part);
      return Result::kMore;
    }
    bytes.remove_prefix(newline + 1);
    std::string_view line = part;
    if (!partial_.empty()) {
      partial_.append(part);
      line = partial_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool go_on = line.empty() || on_line(line);
    partial_.clear();
    if (!go_on) return Result::kStopped;
  }
  return Result::kMore;
}

}  // namespace lastcall::kubeapi

#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "kubeapi/watch_source.h"

// Cuts a watch stream's body (after HTTP's chunked framing is removed) into lines, for a
// WatchSource over a real connection: the API server writes one JSON event per line, and a chunk
// may carry part of a line or several. Holds at most one partial line, never more than
// `max_line` bytes: a longer line fails the stream as soon as its bytes pass the bound.
// Thread-compatible.
namespace lastcall::kubeapi {

class WatchLineSplitter {
 public:
  enum class Result {
    kMore,      // feed more
    kStopped,   // on_line returned false
    kTooLarge,  // a line passed max_line (error() says how long it got)
  };

  explicit WatchLineSplitter(size_t max_line = kMaxWatchLineBytes) : max_line_(max_line) {}

  // Feeds the next body bytes; calls on_line for each complete line (its "\n" or "\r\n" removed;
  // empty lines skipped).
  Result Feed(std::string_view bytes, const std::function<bool(std::string_view)>& on_line);
  // Bytes of a line not yet ended: a stream that closes here lost that line (a watch ends at
  // line boundaries, so this is a cut stream).
  size_t pending() const { return partial_.size(); }
  const std::string& error() const { return error_; }

 private:
  const size_t max_line_;
  std::string partial_;
  std::string error_;
};

}  // namespace lastcall::kubeapi

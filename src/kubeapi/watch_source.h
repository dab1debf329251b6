#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "base/status.h"

// What the EndpointSlice watch (endpoint_watch.h) needs of an API client, and no more: a GET
// whose whole answer is read, and a GET whose chunked answer is handed over line by line (a
// watch: one JSON event per line). The in-cluster client implements it; tests implement it with
// scripted answers. Paths are the API server's, query included
// ("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?limit=100").
namespace lastcall::kubeapi {

using Deadline = std::chrono::steady_clock::time_point;

// The largest list answer read (one page of a chunked list: endpoint_watch asks for
// kSliceListPage slices a page, a few hundred KiB). A larger answer is refused as soon as its
// framing announces it or the bytes pass it, never buffered whole.
inline constexpr size_t kMaxListBytes = size_t{4} * 1024 * 1024;
// The longest watch line read: one event holds one EndpointSlice (at most 1,000 endpoints,
// ~300 KiB). A longer line ends the watch (WatchEnd::kTooLarge) without being buffered whole.
inline constexpr size_t kMaxWatchLineBytes = size_t{1} * 1024 * 1024;

// A whole answer: its HTTP status (any), and its body (JSON for the API server's answers, a
// Status object for its errors).
struct ListAnswer {
  int status = 0;
  std::string body;
};

enum class WatchEnd {
  kClosed,    // the server ended the stream (timeoutSeconds passed, or it went away): resume
  kStatus,    // the server answered with a status other than 200: WatchResult::status and body
  kDeadline,  // the deadline passed first
  kStopped,   // `stop` was requested, or on_line returned false
  kTooLarge,  // a line longer than kMaxWatchLineBytes
  kFailed,    // no answer: connect, TLS, a malformed chunked stream; WatchResult::error says what
};
std::string_view ToString(WatchEnd end);

struct WatchResult {
  WatchEnd end = WatchEnd::kFailed;
  int status = 0;     // kStatus: the answer's status (200 for the other ends once it began)
  std::string body;   // kStatus: its body (at most kMaxListBytes), for the Status object's message
  std::string error;  // kFailed, kTooLarge: what went wrong, naming the server
};

class WatchSource {
 public:
  virtual ~WatchSource() = default;

  // GETs `path` and reads the whole answer, whatever its status. Fails (a Status naming the
  // server and what failed) when no answer came by `deadline`, the body would pass
  // kMaxListBytes, or `stop` was requested. Returns by `deadline`, and within ~100 ms of a stop
  // request. Thread-safe.
  virtual Expected<ListAnswer> List(std::string_view path, Deadline deadline,
                                    std::stop_token stop) = 0;

  // GETs `path` (a watch: `watch=1` in its query) and calls `on_line` with each line of its 200
  // answer as it arrives (without its line end; empty lines skipped), on the caller's thread,
  // until the stream ends. on_line returning false ends it (kStopped). Returns by `deadline`,
  // and within ~100 ms of a stop request, however the server behaves (a stream that stalls or
  // trickles a byte a second). Thread-safe.
  virtual WatchResult Watch(std::string_view path, Deadline deadline, std::stop_token stop,
                            const std::function<bool(std::string_view line)>& on_line) = 0;
};

}  // namespace lastcall::kubeapi

#include "kubeapi/api_watch_source.h"

#include <chrono>
#include <string>
#include <utility>

#include "http/http_response_reader.h"
#include "kubeapi/watch_lines.h"

namespace lastcall::kubeapi {
namespace {

using SteadyClock = std::chrono::steady_clock;

// One TLS record's plaintext at most: a read never leaves a record half taken.
constexpr size_t kReadBytes = 16 * 1024;

// A failure to get or read an answer, as the watch's end: a stop or the deadline are not
// failures of the server.
WatchResult Ended(const Status& failure, Deadline deadline, const std::stop_token& stop) {
  WatchResult result;
  if (stop.stop_requested()) {
    result.end = WatchEnd::kStopped;
  } else if (SteadyClock::now() >= deadline) {
    result.end = WatchEnd::kDeadline;
  } else {
    result.end = WatchEnd::kFailed;
    result.error = failure.message();
  }
  return result;
}

}  // namespace

Expected<ListAnswer> ApiWatchSource::List(std::string_view path, Deadline deadline,
                                          std::stop_token stop) {
  if (stop.stop_requested()) {
    return Status::Unavailable(client_.settings().Address() + ": the list was stopped");
  }
  Expected<std::unique_ptr<tls::TlsClient>> opened = client_.Open("GET", path, "", deadline, stop);
  if (!opened.ok()) return opened.status();
  Expected<ApiAnswer> answer = ReadWholeAnswer(**opened, false, kMaxListBytes, deadline, stop);
  if (!answer.ok()) return answer.status();
  return ListAnswer{answer->status, std::move(answer->body)};
}

WatchResult ApiWatchSource::Watch(std::string_view path, Deadline deadline, std::stop_token stop,
                                  const std::function<bool(std::string_view line)>& on_line) {
  if (stop.stop_requested()) return WatchResult{WatchEnd::kStopped, 0, "", ""};
  Expected<std::unique_ptr<tls::TlsClient>> opened = client_.Open("GET", path, "", deadline, stop);
  if (!opened.ok()) return Ended(opened.status(), deadline, stop);
  tls::TlsClient& tls = **opened;

  // The reader bounds what it holds of the body (a chunk's size against what it buffered), and
  // a 200's body is taken out after each read: it decodes the stream without keeping it. An
  // error answer's body is kept whole (kMaxListBytes at most) for its Status object.
  ResponseReader reader(false, kMaxListBytes);
  WatchLineSplitter splitter;
  std::string buffer(kReadBytes, '\0');
  // Each pass reads at least one byte, or ends: bounded by the deadline and by `stop`.
  while (true) {
    Expected<size_t> n = tls.Read(buffer.data(), buffer.size(), deadline, stop);
    if (!n.ok()) return Ended(n.status(), deadline, stop);
    const ResponseReader::State state =
        *n == 0 ? reader.FinishAtEof() : reader.Feed(std::string_view(buffer.data(), *n));
    HttpResponse& response = reader.response();
    if (response.status == 200 && !response.body.empty()) {
      const WatchLineSplitter::Result fed = splitter.Feed(response.body, on_line);
      response.body.clear();
      if (fed == WatchLineSplitter::Result::kStopped) {
        return WatchResult{WatchEnd::kStopped, 200, "", ""};
      }
      if (fed == WatchLineSplitter::Result::kTooLarge) {
        return WatchResult{WatchEnd::kTooLarge, 200, "", tls.peer() + ": " + splitter.error()};
      }
    }
    if (state == ResponseReader::State::kError) {
      // A 200 stream cut in the middle is a server that went away: the watch resumes from the
      // last resourceVersion it saw, so the line cut short is delivered again.
      if (response.status == 200 && response.error == HttpError::kReset) {
        return WatchResult{WatchEnd::kClosed, 200, "", ""};
      }
      return WatchResult{WatchEnd::kFailed, response.status, "",
                         tls.peer() + ": the answer: " + response.error_detail};
    }
    if (state == ResponseReader::State::kDone) {
      if (response.status == 200) return WatchResult{WatchEnd::kClosed, 200, "", ""};
      return WatchResult{WatchEnd::kStatus, response.status, std::move(response.body), ""};
    }
    if (stop.stop_requested()) return WatchResult{WatchEnd::kStopped, response.status, "", ""};
    if (SteadyClock::now() >= deadline) {
      return WatchResult{WatchEnd::kDeadline, response.status, "", ""};
    }
  }
}

}  // namespace lastcall::kubeapi

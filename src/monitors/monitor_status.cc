// The `status` monitor: the app says drained with its status code (default: 200 drained, 202
// or anything else busy), the default drain protocol's GET /drain. The polled value is the
// in-flight number when the body is a JSON object that has one at monitor.field (for /status
// and the logs only; the status alone decides), else the status code.
//
// A redirect (3xx) or a server error (5xx) outside drained_status is busy too, as it may be a
// proxy in front of an app still at work; but it is more often a misconfigured URL, so the
// detail says so and a warning is logged the first time each class is seen.
//
// With monitor.long_poll it long-polls: GET URL?wait=<N>ms, which an app that supports it holds
// until it is drained or the wait ends. A busy answer that came after at least half the wait is
// `held`: the app paced the poll, so the next may follow at once. A busy answer that came sooner
// (an app that ignores wait=) is a plain poll, so such an app is never polled faster than the
// interval.
#include <algorithm>
#include <chrono>
#include <string_view>

#include "base/duration.h"
#include "base/json_field.h"
#include "base/logging.h"
#include "monitors/monitor.h"
#include "monitors/monitor_request.h"

namespace lastcall {
namespace {

// A body this small that starts like a JSON object may carry the in-flight count, which is
// worth showing in /status and the logs; anything else is not even parsed.
constexpr size_t kMaxInflightBodyBytes = 64 * 1024;

class StatusMonitor final : public DrainMonitor {
 public:
  StatusMonitor(const Config& config, HttpClient& http)
      : request_(config, http),
        drained_status_(config.shutdown.drain.monitor.drained_status),
        field_(config.shutdown.drain.monitor.field),
        long_poll_(config.shutdown.drain.monitor.long_poll),
        timeout_(config.shutdown.drain.monitor.timeout) {}

  PollResult Poll(Deadline deadline) override {
    PollResult result;
    const auto sent = std::chrono::steady_clock::now();
    const Millis wait = WaitFor(deadline, sent);
    std::optional<HttpResponse> response = request_.Send(deadline, &result, wait);
    if (!response) return result;
    const bool drained = std::find(drained_status_.begin(), drained_status_.end(),
                                   response->status) != drained_status_.end();
    result.outcome = drained ? PollOutcome::kDrained : PollOutcome::kBusy;
    result.value = response->status;
    result.detail = "HTTP " + std::to_string(response->status);
    if (std::optional<double> inflight = ReadInflight(response->body, deadline)) {
      result.value = *inflight;
      result.detail += ", " + field_ + " = " + FormatValue(*inflight);
    }
    if (wait.count() > 0 && !drained) {
      result.held = std::chrono::steady_clock::now() - sent >= wait / 2;
      result.detail += result.held ? ", long poll held " + FormatDuration(wait)
                                   : ", long poll of " + FormatDuration(wait) + " answered early";
    }
    if (!drained) NoteSuspiciousStatus(response->status, &result.detail);
    return result;
  }

  std::string_view kind() const override { return "status"; }

 private:
  // The wait to ask for: long_poll, but answered by `deadline` - timeout. Rounded up to whole
  // milliseconds: the caller computed `deadline` from a `now` a few microseconds earlier.
  Millis WaitFor(Deadline deadline, std::chrono::steady_clock::time_point now) const {
    if (long_poll_.count() <= 0) return Millis{0};
    const Millis room = std::chrono::ceil<Millis>(deadline - now) - timeout_;
    return std::max(Millis{0}, std::min(long_poll_, room));
  }

  std::optional<double> ReadInflight(std::string_view body, Deadline deadline) const {
    if (body.size() > kMaxInflightBodyBytes) return std::nullopt;
    const size_t first = body.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || body[first] != '{') return std::nullopt;
    return ReadJsonNumber(body, field_, deadline).value;
  }

  void NoteSuspiciousStatus(int status, std::string* detail) {
    const bool redirect = status >= 300 && status <= 399;
    const bool server_error = status >= 500 && status <= 599;
    if (!redirect && !server_error) return;
    *detail += redirect ? " (a redirect, counted as busy: lastcall does not follow redirects)"
                        : " (a server error, counted as busy)";
    bool& warned = redirect ? warned_redirect_ : warned_server_error_;
    if (warned) return;
    warned = true;
    LogWarn(redirect ? "the status monitor got a redirect; counted as busy until the drain timeout "
                       "unless a drained status follows (is monitor.url right?)"
                     : "the status monitor got a server error; counted as busy until the drain "
                       "timeout unless a drained status follows",
            {{"url", request_.url()}, {"status", status}});
  }

  MonitorRequest request_;
  std::vector<int> drained_status_;
  std::string field_;
  Millis long_poll_;
  Millis timeout_;
  bool warned_redirect_ = false;  // warn once per class: every poll would flood the log
  bool warned_server_error_ = false;
};

}  // namespace

std::unique_ptr<DrainMonitor> MakeStatusMonitor(const Config& config, HttpClient& http) {
  return std::make_unique<StatusMonitor>(config, http);
}

}  // namespace lastcall

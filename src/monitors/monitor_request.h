#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "http/http_client.h"
#include "monitors/monitor.h"

// The GET that the status, json and prometheus monitors send on each poll.
namespace lastcall {

class MonitorRequest {
 public:
  // Targets config.EffectiveMonitorUrl(). Without one (the loader refuses that for the kinds
  // that poll a URL) every Send is an error saying so. `http` must outlive this.
  MonitorRequest(const Config& config, HttpClient& http,
                 std::vector<std::pair<std::string, std::string>> headers = {});

  // Sends one GET, due by the earlier of `deadline` and now + monitor.timeout. Returns the
  // response when one arrived, whatever its status. Otherwise returns nullopt and sets *failure:
  // kRefused when the connection was refused (MakeMonitor's WithGoneCheck, port_listeners.h,
  // keeps that only when the app is proven gone), kError naming the transport problem (timeout,
  // reset, ...).
  // A positive `wait` makes it a long poll: the URL gets wait=<N>ms (after its own query, if
  // any) and the request may take wait + monitor.timeout, still never past `deadline`.
  std::optional<HttpResponse> Send(Deadline deadline, PollResult* failure, Millis wait = Millis{0});

  const std::string& url() const { return url_text_; }

 private:
  HttpClient& http_;
  std::string url_text_;                // as configured, for details
  std::optional<HttpRequest> request_;  // unset without a URL
  Millis timeout_;
};

// `target` (path and query of a request line) with wait=<N>ms added to its query, for a long
// poll: "/drain" -> "/drain?wait=5000ms", "/drain?x=1" -> "/drain?x=1&wait=5000ms". Pure.
std::string WithWaitParameter(const std::string& target, Millis wait);

// "HTTP 503" and, when the body is not empty, the start of it: for details about an answer
// that cannot be used.
std::string DescribeStatusAndBody(const HttpResponse& response);

// A polled value for a detail string, in the fewest digits that read back the same (3, 2.5,
// 1e+21), and NaN, +Inf, -Inf as Prometheus writes them.
std::string FormatValue(double value);

}  // namespace lastcall

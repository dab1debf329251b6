#include "monitors/monitor_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/text.h"

namespace lastcall {

MonitorRequest::MonitorRequest(const Config& config, HttpClient& http,
                               std::vector<std::pair<std::string, std::string>> headers)
    : http_(http), timeout_(config.shutdown.drain.monitor.timeout) {
  const std::optional<Parsed<Url>>& url = config.EffectiveMonitorUrl();
  if (!url) return;
  url_text_ = url->text;
  request_.emplace();
  request_->method = "GET";
  request_->url = url->value;
  request_->headers = std::move(headers);
}

std::optional<HttpResponse> MonitorRequest::Send(Deadline deadline, PollResult* failure,
                                                 Millis wait) {
  if (!request_) {
    failure->outcome = PollOutcome::kError;
    failure->detail =
        "no monitor URL: shutdown.drain.monitor.url and shutdown.drain.trigger.url are both empty";
    return std::nullopt;
  }
  const Deadline due = std::min(deadline, std::chrono::steady_clock::now() + wait + timeout_);
  HttpResponse response;
  if (wait.count() > 0) {
    HttpRequest long_poll = *request_;
    long_poll.url.target = WithWaitParameter(long_poll.url.target, wait);
    response = http_.Send(long_poll, due);
  } else {
    response = http_.Send(*request_, due);
  }
  if (response.ok()) return response;
  failure->outcome =
      response.error == HttpError::kRefused ? PollOutcome::kRefused : PollOutcome::kError;
  failure->detail = "GET " + url_text_ + ": " +
                    (response.error_detail.empty() ? std::string(ToString(response.error))
                                                   : response.error_detail);
  return std::nullopt;
}

std::string WithWaitParameter(const std::string& target, Millis wait) {
  // ParseUrl refuses fragments: the query is whatever follows the first '?'.
  const char separator = target.find('?') == std::string::npos ? '?' : '&';
  const bool ends_query = !target.empty() && (target.back() == '?' || target.back() == '&');
  return target + (ends_query ? "" : std::string(1, separator)) +
         "wait=" + std::to_string(wait.count()) + "ms";
}

std::string DescribeStatusAndBody(const HttpResponse& response) {
  std::string out = "HTTP " + std::to_string(response.status);
  if (!response.body.empty()) out += " " + QuoteSnippet(response.body, 60);
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

}  // namespace lastcall

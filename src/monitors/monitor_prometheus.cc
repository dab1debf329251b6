// The `prometheus` monitor: scrapes a metrics page and sums the samples a selector picks
// (envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="ingress_http"}); drained when
// the sum is at or below drained_at. What each answer means:
// - a status other than 2xx, or a malformed page: error (not drained), naming the line;
// - the metric appears nowhere on the page (no sample, no # HELP/# TYPE): error, "metric X not
//   found in N samples" -- most likely a typo, which must not read as "drained";
// - the metric is declared or has other series, but no series matches the labels: the sum is 0.
//   Client libraries create a labelled series on first use, so none means nothing in flight.
//   (client_golang omits an unused vector entirely; that reads as "not found" until first use.)
// - NaN samples are left out of the sum and counted in the detail; if every matched sample is
//   NaN the answer is an error;
// - a sum of +Inf is busy; a negative sum, -Inf (or +Inf and -Inf together) is an error: no
//   app has fewer than zero requests in flight;
// - a page that takes past the poll's deadline to scan is an error ("deadline passed").
#include <cmath>
#include <string_view>

#include "base/prometheus_text.h"
#include "monitors/monitor.h"
#include "monitors/monitor_request.h"

namespace lastcall {
namespace {

// Both text formats are parsed; asking for them keeps servers from choosing protobuf.
constexpr char kAccept[] =
    "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.8,*/*;q=0.1";

class PrometheusMonitor final : public DrainMonitor {
 public:
  PrometheusMonitor(const Config& config, HttpClient& http)
      : request_(config, http, {{"Accept", kAccept}}),
        drained_at_(config.shutdown.drain.monitor.drained_at) {
    selector_ = ParseMetricSelector(config.shutdown.drain.monitor.metric, &selector_error_);
  }

  PollResult Poll(Deadline deadline) override {
    PollResult result;
    if (!selector_) {
      result.outcome = PollOutcome::kError;
      result.detail = "metric selector is invalid: " + selector_error_;
      return result;
    }
    std::optional<HttpResponse> response = request_.Send(deadline, &result);
    if (!response) return result;
    result.outcome = PollOutcome::kError;
    if (response->status < 200 || response->status > 299) {
      result.detail = "metrics answer " + DescribeStatusAndBody(*response);
      return result;
    }
    const PrometheusSum sum = SumMatchingSamples(response->body, *selector_, deadline);
    const std::string name = selector_->ToString();
    if (sum.deadline_passed) {
      result.detail = "gave up scanning the metrics page (" +
                      std::to_string(response->body.size()) + " bytes): the poll's deadline passed";
      return result;
    }
    if (!sum.ok()) {
      result.detail = "metrics page is malformed: " + sum.error;
      return result;
    }
    if (sum.matched == 0 && !sum.name_seen) {
      result.detail =
          "metric " + selector_->name + " not found in " + std::to_string(sum.samples) + " samples";
      return result;
    }
    if (sum.matched > 0 && sum.nan_skipped == sum.matched) {
      result.detail = "all " + std::to_string(sum.matched) + " samples of " + name + " are NaN";
      return result;
    }
    result.value = sum.sum;
    if (sum.matched == 0) {
      result.detail = name + " = 0 (no matching series)";
    } else {
      result.detail =
          name + " = " + FormatValue(sum.sum) + " (" + std::to_string(sum.matched) + " series";
      if (sum.nan_skipped > 0) {
        result.detail += ", " + std::to_string(sum.nan_skipped) + " NaN left out";
      }
      result.detail += ")";
    }
    if (std::isnan(sum.sum) || sum.sum < 0) {
      result.detail += ": not a count";
      return result;
    }
    result.outcome = sum.sum <= drained_at_ ? PollOutcome::kDrained : PollOutcome::kBusy;
    return result;
  }

  std::string_view kind() const override { return "prometheus"; }

 private:
  MonitorRequest request_;
  double drained_at_;
  std::optional<MetricSelector> selector_;
  std::string selector_error_;
};

}  // namespace

std::unique_ptr<DrainMonitor> MakePrometheusMonitor(const Config& config, HttpClient& http) {
  return std::make_unique<PrometheusMonitor>(config, http);
}

}  // namespace lastcall

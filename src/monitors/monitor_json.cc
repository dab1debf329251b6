// The `json` monitor: the app reports its in-flight work as a number in a JSON answer
// ({"inflight": 3} at /inflight); drained when it is at or below drained_at.
//
// Any status counts when the body carries the number: an app that answers 503 while shutting
// down still knows what it has in flight. A body without the number is an error (not drained),
// whatever the status, and the detail says which status and what was wrong. So is a negative
// number: no app has fewer than zero requests in flight, so it is a bug or a wrapped counter,
// and it must not read as "drained".
#include <string_view>

#include "base/json_field.h"
#include "monitors/monitor.h"
#include "monitors/monitor_request.h"

namespace lastcall {
namespace {

class JsonMonitor final : public DrainMonitor {
 public:
  JsonMonitor(const Config& config, HttpClient& http)
      : request_(config, http, {{"Accept", "application/json"}}),
        field_(config.shutdown.drain.monitor.field),
        drained_at_(config.shutdown.drain.monitor.drained_at) {}

  PollResult Poll(Deadline deadline) override {
    PollResult result;
    std::optional<HttpResponse> response = request_.Send(deadline, &result);
    if (!response) return result;
    const std::string status = "HTTP " + std::to_string(response->status);
    const JsonNumber number = ReadJsonNumber(response->body, field_, deadline);
    if (!number.ok()) {
      result.outcome = PollOutcome::kError;
      result.detail = status + ": " + number.error;
      return result;
    }
    result.value = *number.value;
    result.detail = status + ", " + field_ + " = " + FormatValue(*number.value);
    if (*number.value < 0) {
      result.outcome = PollOutcome::kError;
      result.detail += ": a negative in-flight count is not a count";
      return result;
    }
    result.outcome = *number.value <= drained_at_ ? PollOutcome::kDrained : PollOutcome::kBusy;
    return result;
  }

  std::string_view kind() const override { return "json"; }

 private:
  MonitorRequest request_;
  std::string field_;
  double drained_at_;
};

}  // namespace

std::unique_ptr<DrainMonitor> MakeJsonMonitor(const Config& config, HttpClient& http) {
  return std::make_unique<JsonMonitor>(config, http);
}

}  // namespace lastcall

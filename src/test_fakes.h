#pragma once

// Fakes for unit tests of the shutdown sequence and the drain monitors: a clock that jumps instead
// of sleeping, an HTTP client and a monitor that answer from scripts and record what they saw.
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "clock.h"
#include "http_client.h"
#include "monitor.h"

namespace lastcall::testing {

// Starts at an arbitrary fixed point; SleepUntil jumps there at once. Single-threaded use.
class FakeClock final : public Clock {
 public:
  time_point Now() override { return now_; }
  bool SleepUntil(time_point when) override {
    if (woken_) {
      woken_ = false;
      return true;
    }
    if (when > now_) now_ = when;
    return false;
  }
  void Wake() override { woken_ = true; }
  void Advance(duration d) { now_ += d; }
  time_point start() const { return start_; }
  Millis Elapsed() const { return std::chrono::duration_cast<Millis>(now_ - start_); }

 private:
  time_point start_ = time_point{} + std::chrono::hours(1000);
  time_point now_ = start_;
  bool woken_ = false;
};

struct RecordedRequest {
  HttpRequest request;
  Millis at;  // fake-clock time since start
  Deadline deadline;
};

class FakeHttpClient final : public HttpClient {
 public:
  explicit FakeHttpClient(FakeClock& clock) : clock_(clock) {}
  std::function<HttpResponse(const HttpRequest&, Deadline)> answer = [](const HttpRequest&,
                                                                        Deadline) {
    HttpResponse r;
    r.status = 200;
    return r;
  };
  HttpResponse Send(const HttpRequest& request, Deadline deadline) override {
    std::lock_guard lock(mu_);
    requests.push_back({request, clock_.Elapsed(), deadline});
    return answer(request, deadline);
  }
  std::vector<RecordedRequest> requests;

 private:
  FakeClock& clock_;
  std::mutex mu_;
};

class FakeMonitor final : public DrainMonitor {
 public:
  explicit FakeMonitor(FakeClock& clock) : clock_(clock) {}
  // Receives the time since the clock's start and the poll deadline.
  std::function<PollResult(Millis, Deadline)> answer = [](Millis, Deadline) {
    return PollResult{PollOutcome::kDrained, 0.0, ""};
  };
  PollResult Poll(Deadline deadline) override {
    polls.push_back(clock_.Elapsed());
    deadlines.push_back(deadline);
    return answer(clock_.Elapsed(), deadline);
  }
  std::string_view kind() const override { return "fake"; }
  std::vector<Millis> polls;
  std::vector<Deadline> deadlines;

 private:
  FakeClock& clock_;
};

inline HttpResponse Status(int code) {
  HttpResponse r;
  r.status = code;
  return r;
}
inline HttpResponse TransportError(HttpError error) {
  HttpResponse r;
  r.error = error;
  r.error_detail = std::string(ToString(error));
  return r;
}

}  // namespace lastcall::testing

#pragma once

// Fakes for unit tests of the shutdown sequence, the coordinator and lb_delay auto: a clock that
// jumps instead of sleeping (with a wall clock that follows it), an HTTP client, a background
// request and a monitor that answer from scripts and record what they saw, and scripted traffic
// on the app's port. (The drain monitors' own tests use monitor_test_fakes.h.)
#include <algorithm>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "http/http_client.h"
#include "monitors/background_request.h"
#include "monitors/monitor.h"
#include "monitors/traffic_observer.h"

namespace lastcall::testing {

// Starts at an arbitrary fixed point; SleepUntil never blocks: it returns true at once after a
// Wake(), else jumps to the earliest alarm before `when` (returning true, as a Wake would), else
// to `when`. Thread-safe, so a coordinator's sequence thread and the test's thread may share it;
// time then moves only when one of them sleeps, and never backwards.
class FakeClock final : public Clock {
 public:
  time_point Now() override {
    std::lock_guard lock(mu_);
    return now_;
  }
  bool SleepUntil(time_point when) override {
    std::lock_guard lock(mu_);
    if (woken_) {
      woken_ = false;
      return true;
    }
    if (!alarms_.empty()) {
      auto earliest = std::min_element(alarms_.begin(), alarms_.end());
      if (*earliest < when) {
        now_ = std::max(now_, *earliest);
        alarms_.erase(earliest);
        return true;
      }
    }
    if (when > now_) now_ = when;
    return false;
  }
  void Wake() override {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  // A Wake() at `when`: what another thread finishing its work then would do.
  void WakeAt(time_point when) {
    std::lock_guard lock(mu_);
    alarms_.push_back(when);
  }
  void Advance(duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }
  time_point start() const { return start_; }
  Millis Elapsed() const {
    std::lock_guard lock(mu_);
    return std::chrono::duration_cast<Millis>(now_ - start_);
  }
  // The wall clock that goes with this clock: kWallStart at start(), moving as Now() moves.
  static constexpr std::chrono::system_clock::time_point kWallStart{
      std::chrono::seconds(1'800'000'000)};  // 2027-01-15T08:00:00Z
  std::chrono::system_clock::time_point WallNow() {
    return kWallStart +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(Now() - start_);
  }
  WallClock wall_clock() {
    return [this] { return WallNow(); };
  }

 private:
  const time_point start_ = time_point{} + std::chrono::hours(1000);
  mutable std::mutex mu_;
  time_point now_ = start_;         // GUARDED_BY(mu_)
  bool woken_ = false;              // GUARDED_BY(mu_)
  std::vector<time_point> alarms_;  // GUARDED_BY(mu_)
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

// The drain trigger's background request on the fake clock: the FakeHttpClient's answer is
// computed when the request starts (so it sees the start time), and delivered `latency` later, or
// as a timeout at the request's deadline when that comes first.
class FakeBackgroundRequest final : public BackgroundRequest {
 public:
  FakeBackgroundRequest(FakeClock& clock, FakeHttpClient& http) : clock_(clock), http_(http) {}
  std::function<Millis(const HttpRequest&)> latency = [](const HttpRequest&) { return Millis{0}; };

  void Start(const HttpRequest& request, Deadline deadline) override {
    response_ = http_.Send(request, deadline);
    ready_at_ = clock_.Now() + latency(request);
    if (ready_at_ > deadline) {
      ready_at_ = deadline;
      response_ = HttpResponse{};
      response_->error = HttpError::kTimeout;
      response_->error_detail = "timed out";
    }
    clock_.WakeAt(ready_at_);
  }
  std::optional<HttpResponse> Collect() override {
    if (!response_ || clock_.Now() < ready_at_) return std::nullopt;
    std::optional<HttpResponse> response = std::move(response_);
    response_.reset();
    return response;
  }

 private:
  FakeClock& clock_;
  FakeHttpClient& http_;
  std::optional<HttpResponse> response_;
  Clock::time_point ready_at_{};
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

// The traffic a load balancer sends to the app's port, on the fake clock: one keep-alive
// connection (id 1) that receives a request at each of `requests` (times since the clock's
// start), and a short connection seen only in TIME_WAIT after each of `short_connections`.
// With `no_info`, snapshots look like the /proc fallback; with `fail`, every look fails.
class ScriptedTraffic final : public TrafficObserver {
 public:
  explicit ScriptedTraffic(FakeClock& clock) : clock_(clock) {}
  std::vector<Millis> requests;
  std::vector<Millis> short_connections;
  bool no_info = false;
  bool fail = false;
  std::vector<Millis> looks;

  Observation Observe(TrafficTime /*deadline*/) override {
    const Millis now = clock_.Elapsed();
    looks.push_back(now);
    Observation out;
    if (fail) {
      out.error = "sock_diag socket: Operation not permitted";
      return out;
    }
    TrafficSnapshot& snapshot = out.snapshot.emplace();
    snapshot.taken = clock_.Now();
    snapshot.listeners = 1;
    TrafficConnection keep_alive;
    keep_alive.id = 1;
    keep_alive.local_port = 8080;
    keep_alive.has_info = !no_info;
    Millis last{-600000};  // the connection opened long before
    for (Millis at : requests) {
      if (at > now) break;
      keep_alive.bytes_received += 100;
      keep_alive.bytes_answered += 1000;
      last = at;
    }
    keep_alive.last_data_recv_ms = static_cast<uint32_t>((now - last).count());
    keep_alive.last_data_sent_ms = keep_alive.last_data_recv_ms;
    snapshot.connections.push_back(keep_alive);
    uint64_t id = 100;
    for (Millis at : short_connections) {
      ++id;
      if (at > now) break;
      TrafficConnection gone;
      gone.id = id;
      gone.state = TcpState::kTimeWait;
      gone.local_port = 8080;
      snapshot.connections.push_back(gone);
    }
    return out;
  }

 private:
  FakeClock& clock_;
};

}  // namespace lastcall::testing

#include "monitors/background_request.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace lastcall {
namespace {

// Answers each request only once released; records how many it saw.
class GatedClient final : public HttpClient {
 public:
  HttpResponse Send(const HttpRequest& request, Deadline) override {
    std::unique_lock lock(mu_);
    ++started_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
    HttpResponse response;
    response.status = request.method == "POST" ? 202 : 200;
    ++finished_;
    cv_.notify_all();
    return response;
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  void WaitStarted(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_ >= n; });
  }
  void WaitFinished(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return finished_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  int finished_ = 0;
  bool released_ = false;
};

HttpRequest Post() {
  HttpRequest request;
  request.method = "POST";
  return request;
}

const Deadline kFarAway = std::chrono::steady_clock::now() + std::chrono::hours(1);

TEST_CASE("ThreadedBackgroundRequest: the caller goes on while the request is in flight") {
  auto client = std::make_shared<GatedClient>();
  SteadyClock clock;
  ThreadedBackgroundRequest calls(client, clock);
  CHECK(!calls.Collect());  // nothing started
  calls.Start(Post(), kFarAway);
  client->WaitStarted(1);
  CHECK(!calls.Collect());  // in flight: the caller is not held
  client->Release();
  // Its end wakes the caller's sleep (no timing assumption: the wake is sticky).
  std::optional<HttpResponse> response;
  while (!(response = calls.Collect())) clock.SleepUntil(kFarAway);
  CHECK(response->status == 202);
  CHECK(!calls.Collect());  // collected once
}

TEST_CASE("ThreadedBackgroundRequest: an abandoned request is never waited for") {
  auto client = std::make_shared<GatedClient>();
  SteadyClock clock;
  {
    ThreadedBackgroundRequest calls(client, clock);
    calls.Start(Post(), kFarAway);
    client->WaitStarted(1);
    SUBCASE("by a new request") {
      calls.Start(Post(), kFarAway);  // returns although the first one hangs
      client->WaitStarted(2);
      client->Release();
      std::optional<HttpResponse> response;
      while (!(response = calls.Collect())) clock.SleepUntil(kFarAway);
      CHECK(response->status == 202);
      client->WaitFinished(2);
    }
    SUBCASE("by the destructor") {}  // returns at once, the request still hanging
  }
  client->Release();
  client->WaitFinished(1);  // the detached thread ends on its own, touching only what it owns
}

// A monitor whose polls each answer only once released; counts them, and how many ran at once.
class GatedMonitor final : public DrainMonitor {
 public:
  PollResult Poll(Deadline) override {
    std::unique_lock lock(mu_);
    ++started_;
    max_at_once_ = std::max(max_at_once_, ++running_);
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_ > finished_; });
    --running_;
    ++finished_;
    cv_.notify_all();
    return PollResult{PollOutcome::kBusy, static_cast<double>(finished_), ""};
  }
  std::string_view kind() const override { return "gated"; }
  void Release() {  // lets one more poll answer
    std::lock_guard lock(mu_);
    ++released_;
    cv_.notify_all();
  }
  void WaitStarted(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_ >= n; });
  }
  void WaitFinished(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return finished_ >= n; });
  }
  int started() {
    std::lock_guard lock(mu_);
    return started_;
  }
  int max_at_once() {
    std::lock_guard lock(mu_);
    return max_at_once_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  int finished_ = 0;
  int released_ = 0;
  int running_ = 0;
  int max_at_once_ = 0;
};

TEST_CASE("ThreadedPoll: the caller goes on while the poll is in flight, and is woken at its end") {
  auto monitor = std::make_shared<GatedMonitor>();
  SteadyClock clock;
  ThreadedPoll polls(monitor, clock);
  CHECK(!polls.Collect());  // nothing started
  polls.Start(kFarAway);
  monitor->WaitStarted(1);
  CHECK(!polls.Collect());
  monitor->Release();
  std::optional<PollResult> result;
  while (!(result = polls.Collect())) clock.SleepUntil(kFarAway);
  CHECK(result->outcome == PollOutcome::kBusy);
  CHECK(!polls.Collect());  // collected once
}

TEST_CASE("ThreadedPoll: an abandoned poll is never waited for, never returned, never doubled") {
  auto monitor = std::make_shared<GatedMonitor>();
  SteadyClock clock;
  {
    ThreadedPoll polls(monitor, clock);
    polls.Start(kFarAway);
    monitor->WaitStarted(1);
    SUBCASE("by Abandon, then a new poll") {
      polls.Abandon();
      polls.Start(kFarAway);  // returns at once; its poll waits for the abandoned one to end
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      CHECK(monitor->started() == 1);  // one at a time: the monitor is thread-compatible
      monitor->Release();              // the abandoned poll ends...
      monitor->WaitStarted(2);         // ...and the new one starts
      monitor->Release();
      std::optional<PollResult> result;
      while (!(result = polls.Collect())) clock.SleepUntil(kFarAway);
      CHECK(*result->value == 2);  // the new poll's result, never the abandoned one's
      CHECK(monitor->max_at_once() == 1);
      monitor->WaitFinished(2);
      return;
    }
    SUBCASE("by the destructor") {}  // returns at once, the poll still hanging
  }
  monitor->Release();
  monitor->WaitFinished(1);  // the detached thread ends on its own, holding the monitor
}

}  // namespace
}  // namespace lastcall

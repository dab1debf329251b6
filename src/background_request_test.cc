#include "background_request.h"

#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>

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

}  // namespace
}  // namespace lastcall

#pragma once

#include <memory>
#include <optional>

#include "clock.h"
#include "http_client.h"

// One HTTP request at a time, sent off the caller's thread, so that a slow or hanging drain
// trigger never holds the drain monitor: the sequence keeps polling while the trigger is in
// flight. The seam the sequence's tests fake (their clock is single-threaded).
namespace lastcall {

class BackgroundRequest {
 public:
  virtual ~BackgroundRequest() = default;
  // Starts `request`, bounded by `deadline`. A request still in flight from before is abandoned:
  // its answer is never returned. When the request completes, Clock::Wake() interrupts the
  // caller's SleepUntil, so it can Collect without waiting for its next scheduled wake-up.
  virtual void Start(const HttpRequest& request, Deadline deadline) = 0;
  // The answer of the request last started, once it completed (at most once); else nullopt.
  virtual std::optional<HttpResponse> Collect() = 0;
};

// The real one: each request on a thread of its own. An abandoned request is never waited for
// (not by Start, not by the destructor): its thread owns everything it touches, finishes by the
// request's deadline, and is detached. REQUIRES: `clock` outlives this object.
class ThreadedBackgroundRequest final : public BackgroundRequest {
 public:
  ThreadedBackgroundRequest(std::shared_ptr<HttpClient> http, Clock& clock);
  ~ThreadedBackgroundRequest() override;
  ThreadedBackgroundRequest(const ThreadedBackgroundRequest&) = delete;
  ThreadedBackgroundRequest& operator=(const ThreadedBackgroundRequest&) = delete;

  void Start(const HttpRequest& request, Deadline deadline) override;
  std::optional<HttpResponse> Collect() override;

 private:
  struct Call;  // shared by this object and the request's thread
  void Abandon();

  std::shared_ptr<HttpClient> http_;
  Clock& clock_;
  std::shared_ptr<Call> call_;  // the request last started; only touched by the owner's thread
};

}  // namespace lastcall

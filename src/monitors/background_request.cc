#include "monitors/background_request.h"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "base/last_resort.h"

namespace lastcall {

struct ThreadedBackgroundRequest::Call {
  std::mutex mu;
  std::optional<HttpResponse> response;  // GUARDED_BY(mu)
  Clock* clock = nullptr;                // GUARDED_BY(mu); null once abandoned
};

ThreadedBackgroundRequest::ThreadedBackgroundRequest(std::shared_ptr<HttpClient> http, Clock& clock)
    : http_(std::move(http)), clock_(clock) {}

ThreadedBackgroundRequest::~ThreadedBackgroundRequest() { Abandon(); }

void ThreadedBackgroundRequest::Abandon() {
  if (!call_) return;
  std::lock_guard lock(call_->mu);
  call_->clock = nullptr;  // the thread must not touch the clock after we are gone
}

void ThreadedBackgroundRequest::Start(const HttpRequest& request, Deadline deadline) {
  Abandon();
  call_ = std::make_shared<Call>();
  call_->clock = &clock_;
  // Detached on purpose: an HttpClient call cannot be cancelled, and waiting for a hanging one
  // is exactly what this class exists to avoid. The thread holds the client and the call.
  try {
    std::thread([call = call_, http = http_, request, deadline] {
      HttpResponse response = http->Send(request, deadline);
      std::lock_guard lock(call->mu);
      if (call->clock == nullptr) return;
      call->response = std::move(response);
      call->clock->Wake();
    }).detach();
  } catch (const std::system_error& e) {  // out of threads: a failed attempt, retried later
    HttpResponse failed;
    failed.error = HttpError::kOther;
    failed.error_detail = std::string("cannot start a thread for the request: ") + e.what();
    std::lock_guard lock(call_->mu);
    call_->response = std::move(failed);
  }
}

std::optional<HttpResponse> ThreadedBackgroundRequest::Collect() {
  if (!call_) return std::nullopt;
  std::lock_guard lock(call_->mu);
  std::optional<HttpResponse> response = std::move(call_->response);
  call_->response.reset();
  return response;
}

struct ThreadedPoll::Shared {
  std::shared_ptr<DrainMonitor> monitor;  // only the worker polls it
  std::mutex mu;
  std::condition_variable asked;
  std::optional<Deadline> pending;   // GUARDED_BY(mu): a poll asked for, not yet begun
  uint64_t wanted = 0;               // GUARDED_BY(mu): the generation whose result is wanted
  std::optional<PollResult> result;  // GUARDED_BY(mu): that generation's, once done
  Clock* clock = nullptr;            // GUARDED_BY(mu): null once the owner is gone
  bool stop = false;                 // GUARDED_BY(mu)
  bool polling = false;              // GUARDED_BY(mu): the worker is inside Poll

  void Work() {
    std::unique_lock lock(mu);
    for (;;) {
      asked.wait(lock, [this] { return stop || pending.has_value(); });
      if (stop) return;
      const Deadline deadline = *std::exchange(pending, std::nullopt);
      const uint64_t generation = wanted;
      polling = true;
      lock.unlock();
      PollResult polled;
      try {
        polled = monitor->Poll(deadline);
      } catch (...) {
        // Out of memory, most likely: a failed poll (not drained), said so, and the next poll
        // tries again. Erring late: the app may be busy, and memory may come back.
        polled = PollResult{PollOutcome::kError, std::nullopt, {}};
        try {
          polled.detail =
              std::string("the poll failed: ") + DescribeException(std::current_exception());
        } catch (...) {  // not even that fits: the outcome alone says enough
        }
      }
      lock.lock();
      polling = false;
      if (generation != wanted || clock == nullptr) continue;  // abandoned meanwhile
      result = std::move(polled);
      clock->Wake();
    }
  }
};

ThreadedPoll::ThreadedPoll(std::shared_ptr<DrainMonitor> monitor, Clock& clock)
    : shared_(std::make_shared<Shared>()) {
  shared_->monitor = std::move(monitor);
  shared_->clock = &clock;
  worker_ = std::thread([shared = shared_] { shared->Work(); });
}

ThreadedPoll::~ThreadedPoll() {
  bool polling = false;
  {
    std::lock_guard lock(shared_->mu);
    shared_->clock = nullptr;  // the worker must not touch the clock after we are gone
    shared_->stop = true;
    polling = shared_->polling;
  }
  shared_->asked.notify_all();
  // Idle, it leaves at once: join, so no thread outlives the sidecar. Inside a poll (one the
  // drain's end abandoned), it leaves by that poll's deadline: not worth waiting for.
  if (polling) {
    worker_.detach();
  } else {
    worker_.join();
  }
}

void ThreadedPoll::Abandon() {
  std::lock_guard lock(shared_->mu);
  ++shared_->wanted;
  shared_->pending.reset();
  shared_->result.reset();
}

void ThreadedPoll::Start(Deadline deadline) {
  {
    std::lock_guard lock(shared_->mu);
    ++shared_->wanted;
    shared_->pending = deadline;
    shared_->result.reset();
  }
  shared_->asked.notify_all();
}

std::optional<PollResult> ThreadedPoll::Collect() {
  std::lock_guard lock(shared_->mu);
  return std::exchange(shared_->result, std::nullopt);
}

}  // namespace lastcall

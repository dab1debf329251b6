#include "background_request.h"

#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

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

struct ThreadedPoll::Monitor {
  std::mutex polling;  // held for the whole of each Poll: one at a time
  std::shared_ptr<DrainMonitor> monitor;
};

struct ThreadedPoll::Call {
  std::mutex mu;
  std::optional<PollResult> result;  // GUARDED_BY(mu)
  Clock* clock = nullptr;            // GUARDED_BY(mu); null once abandoned
};

ThreadedPoll::ThreadedPoll(std::shared_ptr<DrainMonitor> monitor, Clock& clock)
    : monitor_(std::make_shared<Monitor>()), clock_(clock) {
  monitor_->monitor = std::move(monitor);
}

ThreadedPoll::~ThreadedPoll() { Abandon(); }

void ThreadedPoll::Abandon() {
  if (!call_) return;
  std::lock_guard lock(call_->mu);
  call_->clock = nullptr;  // the thread must not touch the clock after we are gone
  call_->result.reset();
}

void ThreadedPoll::Start(Deadline deadline) {
  Abandon();
  call_ = std::make_shared<Call>();
  call_->clock = &clock_;
  // Detached on purpose: a poll cannot be cancelled, and waiting for a hanging one is what this
  // class exists to avoid. The thread holds the monitor and the call; Poll returns by `deadline`.
  try {
    std::thread([call = call_, monitor = monitor_, deadline] {
      PollResult result;
      {
        std::lock_guard polling(monitor->polling);
        try {
          result = monitor->monitor->Poll(deadline);
        } catch (const std::exception& e) {  // bad_alloc: not drained, and said so
          result = PollResult{PollOutcome::kError, std::nullopt, e.what()};
        }
      }
      std::lock_guard lock(call->mu);
      if (call->clock == nullptr) return;
      call->result = std::move(result);
      call->clock->Wake();
    }).detach();
  } catch (const std::system_error& e) {  // out of threads: a failed poll, tried again later
    std::lock_guard lock(call_->mu);
    call_->result = PollResult{PollOutcome::kError, std::nullopt,
                               std::string("cannot start a thread for the poll: ") + e.what()};
  }
}

std::optional<PollResult> ThreadedPoll::Collect() {
  if (!call_) return std::nullopt;
  std::lock_guard lock(call_->mu);
  return std::exchange(call_->result, std::nullopt);
}

}  // namespace lastcall

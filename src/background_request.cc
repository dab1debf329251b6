#include "background_request.h"

#include <mutex>
#include <string>
#include <system_error>
#include <thread>

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

}  // namespace lastcall

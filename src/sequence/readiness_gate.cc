#include "sequence/readiness_gate.h"

#include <fmt/format.h>

#include "base/logging.h"

namespace lastcall {

ReadinessGate::ReadinessGate(const ReadinessConfig& config, HttpClient& http)
    : config_(config), http_(http), url_text_(config.upstream->text) {
  request_.url = config.upstream->value;
}

ReadinessGate::~ReadinessGate() { Stop(); }

void ReadinessGate::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      CheckOnce();
      lock.lock();
      cv_.wait_for(lock, config_.interval, [this] { return stopping_; });
    }
  });
}

void ReadinessGate::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string ReadinessGate::reason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

void ReadinessGate::CheckOnce() {
  const HttpResponse response =
      http_.Send(request_, std::chrono::steady_clock::now() + config_.timeout);
  const bool healthy = response.ok() && response.status >= 200 && response.status < 300;
  std::string reason;
  if (!response.ok()) {
    reason = fmt::format("upstream {}: {}", url_text_, response.error_detail);
  } else if (!healthy) {
    reason = fmt::format("upstream {} answered {}", url_text_, response.status);
  }
  const bool was = healthy_.exchange(healthy, std::memory_order_acq_rel);
  {
    std::lock_guard lock(mu_);
    reason_ = reason;
  }
  if (was != healthy) {
    if (healthy) {
      LogInfo("app health upstream is healthy", {{"url", url_text_}});
    } else {
      LogWarn("app health upstream is not healthy", {{"reason", reason}});
    }
  }
}

}  // namespace lastcall

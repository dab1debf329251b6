#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.h"
#include "http/http_client.h"

// Gates /readyz on the app's own health URL (readiness.upstream). The upstream is checked on a
// thread of its own at most every readiness.interval, and /readyz reads the cached answer, so a
// probe storm on lastcall never becomes a storm on the app.
namespace lastcall {

class ReadinessGate {
 public:
  // `config` and `http` must outlive the gate. REQUIRES: config.upstream is set.
  ReadinessGate(const ReadinessConfig& config, HttpClient& http);
  ~ReadinessGate();  // Stop()s
  ReadinessGate(const ReadinessGate&) = delete;
  ReadinessGate& operator=(const ReadinessGate&) = delete;

  void Start();
  void Stop();

  // The cached verdict: true once the upstream last answered 2xx. Lock-free.
  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  // Why not healthy, for the /readyz body.
  std::string reason() const;

 private:
  void CheckOnce();

  const ReadinessConfig& config_;
  HttpClient& http_;
  std::string url_text_;  // as configured, for reasons and logs
  HttpRequest request_;
  std::atomic<bool> healthy_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string reason_ = "upstream not checked yet";  // GUARDED_BY(mu_)
  bool stopping_ = false;                            // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace lastcall

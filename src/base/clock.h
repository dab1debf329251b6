#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

// The clock the shutdown sequence runs on. Tests inject a fake that advances instantly, so every
// branch of the sequence is tested in milliseconds without real sleeps.
namespace lastcall {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  virtual time_point Now() = 0;
  // Sleeps until `when`, or until Wake() is called. Returns true when woken early.
  virtual bool SleepUntil(time_point when) = 0;
  // Interrupts a SleepUntil in progress (or the next one). Thread-safe.
  virtual void Wake() = 0;
};

// Wall-clock time (std::chrono::system_clock::now by default), for what is reported and
// persisted rather than waited on: /status timestamps, the state file. Tests inject one that
// follows their fake Clock, so those times are exact too.
using WallClock = std::function<std::chrono::system_clock::time_point()>;

class SteadyClock final : public Clock {
 public:
  time_point Now() override { return std::chrono::steady_clock::now(); }
  bool SleepUntil(time_point when) override {
    std::unique_lock lock(mu_);
    bool woken = cv_.wait_until(lock, when, [this] { return woken_; });
    woken_ = false;
    return woken;
  }
  void Wake() override {
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

}  // namespace lastcall

#pragma once

// The example app's push (`--push-drained`): tells the sidecar the app is drained (POST to
// lastcall's /drained) with as little delay as an HTTP request can have. The connection is opened
// when draining starts (Prepare), so the push itself is one non-blocking send() from whichever
// thread answered the last request: no thread to start, no connect, no wait for the answer.
// The pusher's own thread connects, reads the answer and reports it. A connection the sidecar
// closed meanwhile (its idle timeout) shows as no answer; the request is then sent again on a
// new one (POST /drained is idempotent), twice at most; so is a connect that failed. The report
// comes after the push, whatever happened.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

class DrainedPusher {
 public:
  // `sent`: when the request that got an answer was sent; `result`: "200", or what went wrong.
  using Report =
      std::function<void(std::chrono::steady_clock::time_point sent, const std::string& result)>;

  // REQUIRES: url is http://HOST:PORT/PATH. `report` runs once, on the pusher's thread.
  DrainedPusher(const std::string& url, Report report);

  // Opens the connection ahead of the push, on a thread of its own. Idempotent; thread-safe.
  void Prepare();
  // Sends the request now if the connection is open, else as soon as it is. Never blocks on the
  // network. Idempotent; thread-safe; calls Prepare() if nobody did.
  void Push();

 private:
  struct Shared;
  static void Run(std::shared_ptr<Shared> shared);

  std::shared_ptr<Shared> shared_;  // outlives this object: the thread is detached
};

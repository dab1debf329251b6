#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/phase.h"
#include "base/url.h"
#include "config/config.h"
#include "http/http_client.h"
#include "monitors/port_listeners.h"

// Start-up warnings about drain and monitor URLs on a loopback address that nobody listens on
// while the app listens elsewhere: the URL on 127.0.0.1 and an app on [::1] only (Node >= 17
// binds `localhost` there first), or the reverse. Such a URL would fail every trigger and poll,
// and the operator should hear of it at start, not during a shutdown.
namespace lastcall {

enum class ConnectResult { kAccepted, kRefused, kOther };

// One TCP connect to `ip`:`port`, closed at once without sending anything (what a kubelet
// tcpSocket probe does); kOther on a timeout at `deadline` or any other error. Never blocks past
// `deadline`.
ConnectResult ProbeConnect(const std::string& ip, uint16_t port, Deadline deadline);

// A URL worth checking and the config keys that name it ("shutdown.drain.trigger.url and
// shutdown.drain.monitor.url").
struct UrlToCheck {
  std::string keys;
  Url url;
};
// The trigger URL, and the monitor URL when the monitor kind polls one, when they are TCP on a
// loopback IP literal (localhost is left out: the client tries 127.0.0.1, then ::1), one entry
// per host and port. Pure.
std::vector<UrlToCheck> LoopbackUrlsToCheck(const Config& config);

// Checks LoopbackUrlsToCheck(config) off the caller's thread, so start-up never waits for it:
// once at start and, while nothing at all uses a URL's port (the app has not started yet), again
// every kRecheckEvery for kRecheckFor, and a last time once the sequence has started (`phase`
// left SERVING; from then on a refused poll says what listens where itself). A URL that accepts
// a connection, or that was warned about, is not checked again. The warning is logged (LogWarn)
// and counted in warnings().
class StartupUrlCheck {
 public:
  static constexpr std::chrono::milliseconds kRecheckEvery{500};
  static constexpr std::chrono::seconds kRecheckFor{60};
  static constexpr std::chrono::milliseconds kProbeTimeout{50};

  // `table` and `phase` must outlive this object.
  StartupUrlCheck(const Config& config, ListeningTable& table, const std::atomic<Phase>& phase);
  // Stops and joins: waits at most for one check in progress (a connect bounded by kProbeTimeout
  // and one read of the kernel's tables).
  ~StartupUrlCheck();
  StartupUrlCheck(const StartupUrlCheck&) = delete;
  StartupUrlCheck& operator=(const StartupUrlCheck&) = delete;

  void Start();
  int warnings() const { return warnings_.load(); }

 private:
  // Checks the URLs still pending; returns true when none is left.
  bool CheckPending();
  void Run();

  std::vector<UrlToCheck> pending_;  // only touched by the checking thread once started
  ListeningTable& table_;
  const std::atomic<Phase>& phase_;
  std::atomic<int> warnings_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace lastcall

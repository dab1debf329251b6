#pragma once

#include <signal.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// Signals are blocked in every thread and read at one place, a thread waiting on a signalfd:
// no logic ever runs in an async signal handler.
namespace lastcall {

// The signals `shutdown.signals` may name, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1 and SIGUSR2,
// in one table with their names. "SIGTERM", "TERM", "sigterm" and " TERM " -> SIGTERM. Returns
// nullopt and sets *error to a sentence otherwise (SIGKILL and SIGSTOP with the reason). Pure.
std::optional<int> ParseSignalName(std::string_view name, std::string* error);
// SIGTERM -> "SIGTERM"; a signal outside the table -> "signal N".
std::string SignalName(int signo);

// The signals whose default action ends the process and that another process may send
// (SIGKILL and SIGSTOP cannot be caught; SIGSEGV and its kind are the process's own faults; the
// real-time signals stay with glibc, which uses some of them internally). lastcall decides each:
// those configured in `shutdown.signals` start the sequence, the others are logged and ignored, so
// a stray `kill -HUP` never ends a sidecar mid-drain without a word.
const std::vector<int>& TerminatingSignals();

// Whether one of `signals` has been sent to this process and is still pending: blocked in every
// thread (SignalWatcher's mask), not yet read from the watcher's signalfd. The readiness probe
// asks this on each request while serving, so that /readyz answers 503 from the moment the
// signal arrives, not from when the watcher thread gets a CPU to read it: under a probe storm
// on a busy node that wake-up is the tail of SIGTERM -> 503 (BENCHMARKS.md). One sigpending(2)
// call, lock-free; safe from any thread.
class PendingSignals {
 public:
  explicit PendingSignals(const std::vector<int>& signals);
  bool AnyPending() const;

 private:
  sigset_t set_;
};

class SignalWatcher {
 public:
  // Blocks `signals` and every other TerminatingSignals() (and ignores SIGPIPE) in the calling
  // thread, so every thread started later inherits the mask; all of them reach Start()'s
  // callback. REQUIRES: called from main before any other thread starts.
  // Throws std::system_error when the signalfd cannot be created.
  explicit SignalWatcher(const std::vector<int>& signals);
  ~SignalWatcher();  // Stop()s
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Starts the reading thread; `on_signal` runs on it, once per signal delivered.
  void Start(std::function<void(int signo)> on_signal);
  void Stop();

 private:
  int signal_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that ends the reading thread
  std::thread thread_;
};

}  // namespace lastcall

#include "base/signals.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstring>
#include <system_error>
#include <utility>

#include "base/text.h"

namespace lastcall {
namespace {

struct NamedSignal {
  std::string_view name;
  int number;
};
// SIGKILL and SIGSTOP cannot be caught, so they are not here.
constexpr std::array<NamedSignal, 6> kSignals{{{"SIGTERM", SIGTERM},
                                               {"SIGINT", SIGINT},
                                               {"SIGQUIT", SIGQUIT},
                                               {"SIGHUP", SIGHUP},
                                               {"SIGUSR1", SIGUSR1},
                                               {"SIGUSR2", SIGUSR2}}};

}  // namespace

std::optional<int> ParseSignalName(std::string_view name, std::string* error) {
  std::string upper = ToUpperAscii(Trim(name));
  if (upper.compare(0, 3, "SIG") != 0) upper = "SIG" + upper;
  std::vector<std::string> valid;
  for (const auto& signal : kSignals) {
    if (signal.name == upper) return signal.number;
    valid.emplace_back(signal.name);
  }
  const std::string_view bare = std::string_view(upper).substr(3);
  if (bare == "KILL" || bare == "STOP") {
    *error = upper + " cannot be caught, so it cannot start a graceful shutdown";
  } else if (!bare.empty() &&
             std::all_of(bare.begin(), bare.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *error = "use a signal name, not a number (valid: " + Join(valid, ", ") + ")";
  } else {
    *error = "not a signal lastcall handles (valid: " + Join(valid, ", ") + ")";
  }
  return std::nullopt;
}

std::string SignalName(int signo) {
  for (const auto& signal : kSignals) {
    if (signal.number == signo) return std::string(signal.name);
  }
  return "signal " + std::to_string(signo);
}

const std::vector<int>& TerminatingSignals() {
  static const std::vector<int> signals = {SIGHUP,  SIGINT,    SIGQUIT,   SIGUSR1, SIGUSR2,
                                           SIGALRM, SIGTERM,   SIGVTALRM, SIGPROF, SIGIO,
                                           SIGPWR,  SIGSTKFLT, SIGXCPU,   SIGXFSZ};
  return signals;
}

SignalWatcher::SignalWatcher(const std::vector<int>& signals) {
  // A write to a peer that went away must be an error value, not a process kill.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  for (int signo : signals) sigaddset(&mask, signo);
  for (int signo : TerminatingSignals()) sigaddset(&mask, signo);
  if (int rc = pthread_sigmask(SIG_BLOCK, &mask, nullptr); rc != 0) {
    throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
  }
  signal_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    close(signal_fd_);
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
}

SignalWatcher::~SignalWatcher() {
  Stop();
  close(signal_fd_);
  close(stop_fd_);
}

void SignalWatcher::Start(std::function<void(int signo)> on_signal) {
  thread_ = std::thread([this, on_signal = std::move(on_signal)] {
    std::array<pollfd, 2> fds{{{signal_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
    while (true) {
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      signalfd_siginfo info;
      while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        on_signal(static_cast<int>(info.ssi_signo));
      }
    }
  });
}

void SignalWatcher::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof one);
  thread_.join();
}

PendingSignals::PendingSignals(const std::vector<int>& signals) {
  sigemptyset(&set_);
  for (int signo : signals) sigaddset(&set_, signo);
}

bool PendingSignals::AnyPending() const {
  sigset_t pending;
  if (sigpending(&pending) != 0) return false;
  for (int signo = 1; signo < NSIG; ++signo) {
    if (sigismember(&set_, signo) == 1 && sigismember(&pending, signo) == 1) return true;
  }
  return false;
}

}  // namespace lastcall

#include "base/signals.h"

#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace lastcall {
namespace {

TEST_CASE("PendingSignals sees a blocked signal until it is read, and only the ones it watches") {
  // Blocked in this thread and sent to this thread only: it stays pending here (a signal sent to
  // the process could go to another thread of the test runner, where it is not blocked).
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigset_t before;
  REQUIRE(pthread_sigmask(SIG_BLOCK, &usr2, &before) == 0);

  const PendingSignals watching_usr2({SIGTERM, SIGUSR2});
  const PendingSignals watching_others({SIGTERM, SIGUSR1});
  CHECK_FALSE(watching_usr2.AnyPending());
  REQUIRE(pthread_kill(pthread_self(), SIGUSR2) == 0);
  CHECK(watching_usr2.AnyPending());
  CHECK_FALSE(watching_others.AnyPending());

  // Read, as the watcher's signalfd does: no longer pending.
  const timespec now{0, 0};
  CHECK(sigtimedwait(&usr2, nullptr, &now) == SIGUSR2);
  CHECK_FALSE(watching_usr2.AnyPending());
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

TEST_CASE("ParseSignalName: one table, names with or without SIG, any case") {
  std::string error;
  CHECK(ParseSignalName("SIGTERM", &error) == SIGTERM);
  CHECK(ParseSignalName("term", &error) == SIGTERM);
  CHECK(ParseSignalName(" TERM ", &error) == SIGTERM);
  CHECK(ParseSignalName("SIGUSR2", &error) == SIGUSR2);
  CHECK_FALSE(ParseSignalName("SIGKILL", &error));
  CHECK_FALSE(error.empty());
  CHECK(SignalName(SIGTERM) == "SIGTERM");
}

}  // namespace
}  // namespace lastcall

#include "base/subprocess.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace lastcall {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

std::string ReadPipe(int fd) {
  std::string out;
  char buffer[512];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  return out;
}

struct TempFile {
  std::string path;
  TempFile() {
    char pattern[] = "/tmp/lastcall-subprocess-test.XXXXXX";
    const int fd = mkstemp(pattern);
    REQUIRE(fd >= 0);
    close(fd);
    path = pattern;
  }
  ~TempFile() { unlink(path.c_str()); }
};

TEST_CASE("Spawn runs a program from PATH, its output in a file, its exit code as a shell says") {
  TempFile log;
  SpawnRequest request;
  request.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"};
  request.output = ChildOutput::File(log.path, /*truncate=*/true);
  std::string error;
  const auto pid = Spawn(request, &error);
  REQUIRE_MESSAGE(pid, error);
  CHECK(WaitForChild(*pid) == 3);
  CHECK(ReadAll(log.path) == "out\nerr\n");

  // Appending keeps what was there.
  request.output = ChildOutput::File(log.path, /*truncate=*/false);
  request.argv = {"sh", "-c", "echo again"};
  const auto second = Spawn(request, &error);
  REQUIRE(second);
  CHECK(WaitForChild(*second) == 0);
  CHECK(ReadAll(log.path) == "out\nerr\nagain\n");
}

TEST_CASE("Spawn reports what could not start as an error, not as a child exiting 127") {
  std::string error;
  SpawnRequest missing;
  missing.argv = {"no-such-program-for-lastcall"};
  CHECK(!Spawn(missing, &error));
  CHECK(error == "no-such-program-for-lastcall: No such file or directory");

  SpawnRequest unwritable;
  unwritable.argv = {"true"};
  unwritable.output = ChildOutput::File("/nonexistent-dir/child.log", false);
  CHECK(!Spawn(unwritable, &error));
  CHECK(error == "true: opening /nonexistent-dir/child.log: No such file or directory");

  CHECK(!Spawn(SpawnRequest{}, &error));
  CHECK(error == "nothing to run (an empty command)");
}

TEST_CASE("a child starts with no blocked and no ignored signal, whatever its parent had") {
  // lastcall blocks its shutdown signals (signalfd) and may ignore SIGPIPE: a hook it starts
  // must still die of SIGTERM like any container process.
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGUSR2);
  sigset_t before;
  REQUIRE(pthread_sigmask(SIG_BLOCK, &blocked, &before) == 0);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_pipe {};
  struct sigaction old_usr1 {};
  sigaction(SIGPIPE, &ignore, &old_pipe);
  sigaction(SIGUSR1, &ignore, &old_usr1);

  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  SpawnRequest request;
  request.argv = {"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"};
  request.output = ChildOutput::Descriptor(fds[1]);
  std::string error;
  const auto pid = Spawn(request, &error);
  close(fds[1]);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  sigaction(SIGPIPE, &old_pipe, nullptr);
  sigaction(SIGUSR1, &old_usr1, nullptr);
  REQUIRE_MESSAGE(pid, error);
  const std::string status = ReadPipe(fds[0]);
  close(fds[0]);
  CHECK(WaitForChild(*pid) == 0);
  CHECK(status == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_CASE("Spawn gives the child exactly the environment asked for, or this process's") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  SpawnRequest request;
  request.argv = {"/usr/bin/env"};
  request.environment = std::vector<std::string>{"ONLY=this", "AND=that"};
  request.output = ChildOutput::Descriptor(fds[1]);
  std::string error;
  const auto pid = Spawn(request, &error);
  close(fds[1]);
  REQUIRE_MESSAGE(pid, error);
  CHECK(ReadPipe(fds[0]) == "ONLY=this\nAND=that\n");
  close(fds[0]);
  CHECK(WaitForChild(*pid) == 0);

  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  request.argv = {"sh", "-c", "echo \"$HOME\""};
  request.environment.reset();
  request.output = ChildOutput::Descriptor(fds[1]);
  const auto inherited = Spawn(request, &error);
  close(fds[1]);
  REQUIRE(inherited);
  const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe): read-only
  CHECK(ReadPipe(fds[0]) == std::string(home != nullptr ? home : "") + "\n");
  close(fds[0]);
  CHECK(WaitForChild(*inherited) == 0);
}

TEST_CASE("own_process_group makes the child a group leader; a signal death is 128 + signo") {
  SpawnRequest request;
  request.argv = {"sleep", "30"};
  request.output = ChildOutput::Null();
  request.own_process_group = true;
  std::string error;
  const auto pid = Spawn(request, &error);
  REQUIRE_MESSAGE(pid, error);
  CHECK(getpgid(*pid) == *pid);
  REQUIRE(kill(-*pid, SIGTERM) == 0);  // the whole group
  CHECK(WaitForChild(*pid) == 128 + SIGTERM);
  CHECK(!WaitForChild(*pid));  // already reaped
}

}  // namespace
}  // namespace lastcall

#pragma once

// Helpers for integration tests that spawn the real binaries on 127.0.0.1. Every wait is bounded;
// every spawned process is killed and reaped when its Process goes out of scope.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_client.h"

namespace lastcall::test {

using std::chrono::milliseconds;

class Process {
 public:
  // Starts argv[0] with argv; stdout and stderr go to a log file that Output() reads.
  // `env` entries ("NAME=value") are added to (or override) the test's own environment.
  static Process Spawn(const std::vector<std::string>& argv,
                       const std::vector<std::string>& env = {});
  Process() = default;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  ~Process();  // SIGKILL and reap when still running

  pid_t pid() const { return pid_; }
  // Hands the process over to a caller that reaps it itself (the kubelet emulator): from now on
  // Signal, WaitExit and the destructor leave it alone and pid() is -1; Output() still reads
  // its log.
  pid_t Release();
  void Signal(int signo) const;
  // The exit code, 128+signal for a signal death, or nullopt when still running after `timeout`.
  std::optional<int> WaitExit(milliseconds timeout);
  bool Running();
  std::string Output() const;
  // Waits until the output contains `needle`; false on timeout or early exit.
  bool WaitForOutput(std::string_view needle, milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// A port that was free a moment ago (bind to 0, read it, close).
uint16_t FreePort();
// A fresh private directory under /tmp, removed at process exit.
std::string TempDir();

HttpResponse Get(uint16_t port, const std::string& target,
                 milliseconds timeout = milliseconds(2000));
HttpResponse Send(const std::string& method, const std::string& url,
                  const std::vector<std::pair<std::string, std::string>>& headers = {},
                  milliseconds timeout = milliseconds(2000));
int Status(uint16_t port, const std::string& target);  // 0 when the request failed

// Polls `condition` every `step` until true or `timeout`; returns the last result.
bool WaitUntil(const std::function<bool()>& condition, milliseconds timeout,
               milliseconds step = milliseconds(2));

struct App {
  Process process;
  uint16_t port = 0;
  std::string url(const std::string& path) const;
};
// Starts the example drainable app on a free port and waits until it listens.
App StartExampleApp(const std::vector<std::string>& extra_args = {});

struct Sidecar {
  Process process;
  uint16_t probe_port = 0;
  std::string socket;  // the control socket path
  std::string control() const { return "unix://" + socket; }
};
// Starts `lastcall run` with a free probe port and a control socket in a temp dir, plus
// `extra_args`, and waits for /livez. REQUIRES: the flags are valid.
Sidecar StartLastcall(const std::vector<std::string>& extra_args,
                      const std::vector<std::string>& env = {});
// The same pod's lastcall again, after `old` died: its probe port and control socket (hence its
// state file), plus `extra_args`. Does not wait: what it answers first is often what a test checks.
Sidecar RestartLastcall(const Sidecar& old, const std::vector<std::string>& extra_args,
                        const std::vector<std::string>& env = {});

// Milliseconds since `start`.
long long ElapsedMs(std::chrono::steady_clock::time_point start);
// Now, in milliseconds since the Unix epoch: the state file's clock.
long long UnixMs();

// A shell command line's exit code and stdout (stderr too where the command says `2>&1`).
struct ShellRun {
  int exit_code = -1;  // -1: it did not exit normally, or could not start
  std::string out;
};
// Runs `command` with /bin/sh: a line of fixed, quoted arguments the test wrote.
ShellRun RunShell(const std::string& command);

// A "kB" field of /proc/PID/status ("VmRSS", "VmHWM"), in KiB; -1 when the process or the field
// is gone.
long ProcStatusKib(pid_t pid, std::string_view field);

}  // namespace lastcall::test

#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

// Starting a child process, the one way lastcall does it: `prestop --then`, the kubelet
// emulator's exec hooks, rehearse's app and sidecar, the tests' and benchmarks' binaries.
// Every child starts with an empty signal mask and default signal dispositions, as a container
// process does under the kubelet (lastcall blocks its shutdown signals for its signalfd; a child
// must not inherit that), and a failure to start it (no such program, a log file that cannot be
// opened) is reported to the caller as an error, not as a child that exits 127.
namespace lastcall {

// Where a child's stdout and stderr go (both to the same place, unless stderr_too is false).
struct ChildOutput {
  enum class Kind { kInherit, kFile, kFd, kNull };
  Kind kind = Kind::kInherit;
  bool stderr_too = true;  // false: stderr stays this process's
  std::string path;        // kFile: created 0600 when missing
  bool truncate = false;   // kFile: start the file empty (else append)
  int fd = -1;             // kFd: e.g. a pipe's write end; stays open in the caller

  static ChildOutput File(std::string path, bool truncate);
  static ChildOutput Descriptor(int fd);
  static ChildOutput Null();
};

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no slash
  // "NAME=value" entries, the child's whole environment; nullopt: this process's environment.
  std::optional<std::vector<std::string>> environment;
  ChildOutput output;
  bool stdin_from_null = true;     // else the child shares this process's stdin
  bool own_process_group = false;  // the child leads a new process group (signal it as one)
  // SIGKILL the child when the thread that spawned it ends, so nothing outlives a dead parent.
  // REQUIRES: that thread lives as long as the child should (the kernel ties it to the thread).
  bool die_with_parent = false;
};

// Starts the child. Returns its pid (the caller reaps it), or nullopt with *error naming the
// program and the reason ("no-such-app: No such file or directory"; "opening /x/log: ...").
std::optional<pid_t> Spawn(const SpawnRequest& request, std::string* error);

// The exit code waitpid's `status` means: the code, or 128 + the signal for a signal death, as a
// shell reports it; -1 for a status that is neither.
int ExitCodeOf(int status);

// Waits for the child `pid` to end, retrying on EINTR; returns ExitCodeOf its status, or nullopt
// when waitpid fails otherwise (not our child, already reaped).
std::optional<int> WaitForChild(pid_t pid);

}  // namespace lastcall

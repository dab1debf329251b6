#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/subprocess.h"  // ExitCodeOf, for the callers that reap what these start

// The processes and scratch files `lastcall rehearse` needs: the app and the sidecar it runs,
// each writing to its own log file, and a private temporary directory for their sockets and logs.
namespace lastcall {

// Starts argv[0] (looked up in PATH when it has no slash) with `argv`, stdin from /dev/null,
// stdout and stderr appended to `log_path`, the signal mask and dispositions reset, in a process
// group of its own (what it starts stays in it unless it leaves: the group stands for the
// container, signalled and killed as one), and PR_SET_PDEATHSIG set to SIGKILL. The group is
// guarded (GuardProcessGroup) until the caller has reaped the child and called
// UnguardProcessGroup. Returns the pid (= the group's id), or
// nullopt with *error naming the program and the reason ("no-such-app: No such file or
// directory") when it cannot be started: exec failures are reported here, not as an exit code.
// The caller reaps the child. REQUIRES: called from the thread that stays alive as long as the
// child should (the kernel ties PDEATHSIG to the forking thread), and argv is not empty.
std::optional<pid_t> SpawnProcess(const std::vector<std::string>& argv, const std::string& log_path,
                                  std::string* error);

// Starts a child that does nothing until a signal ends it (SIGTERM's default action), with the
// same PDEATHSIG and REQUIRES as SpawnProcess: the process the kubelet emulation signals in place
// of an app that rehearse did not start and must not stop.
std::optional<pid_t> SpawnIdleProcess(std::string* error);

// The processes of process group `pgid` still running (zombies left out), `except` left out too;
// read from /proc. Empty when there is none or /proc cannot be read.
std::vector<pid_t> ProcessGroupMembers(pid_t pgid, pid_t except);

// Until UnguardProcessGroup(pgid), a SIGINT, SIGTERM or SIGHUP that ends this process first
// SIGKILLs the whole group `pgid` (a terminal's Ctrl-C reaches only the foreground group, and
// PR_SET_PDEATHSIG only the direct child: without this, an app's workers would outlive an
// interrupted rehearse). Installs the handlers on first use. At most 8 groups at once; more are
// not guarded. Thread-safe.
void GuardProcessGroup(pid_t pgid);
void UnguardProcessGroup(pid_t pgid);

// A TCP port on 127.0.0.1 that was free a moment ago (another process may take it since).
// Returns 0 when no socket could be bound.
uint16_t PickFreePort();

// Creates a private (0700) directory "/tmp/lastcall-rehearse.XXXXXX" (TMPDIR when set and short
// enough for a Unix socket path inside). Returns "" and sets *error when it cannot.
std::string MakePrivateTempDir(std::string* error);

// Removes `dir` and everything in it; errors are ignored.
void RemoveTree(const std::string& dir);

// The last `max_bytes` bytes of a file, from a line start when possible; "" when unreadable.
std::string TailOfFile(const std::string& path, size_t max_bytes);

}  // namespace lastcall

#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

// What the kubelet does to one pod from the moment it is deleted (../shared/KUBERNETES.md),
// emulated for local processes: the end-to-end tests and `lastcall rehearse` both run it.
//
// T0: the endpoint removal starts propagating (the load balancer hears of it after
//     propagation_delay) and, at the same instant, each container's preStop hook runs.
// Regular shape: the sidecar gets SIGTERM at T0 too (it has no hook); the app gets SIGTERM when
//     its hook returns (or at once without a hook). Native shape: the sidecar's own preStop hook
//     runs at T0, and it gets SIGTERM only after the app exited.
// Anything still running at T0 + max(grace_period, hook time + 2s) gets SIGKILL. Precisely, as
//     the kubelet does, each container gets SIGKILL at max(T0 + grace_period, its SIGTERM + 2s);
//     for a native sidecar, whose SIGTERM waits for the app, that can be 2 s after the app's.
// SIGTERM goes to the container's pid only, as the runtime sends it to a container's PID 1 (an
// app whose launcher does not pass it on is killed at the grace end, as in a cluster). A container
// whose pid leads a process group (`process_group`) ends as a container does, all of it: at
// SIGKILL the whole group is killed, and when its pid exits, what is left of the group is killed
// (the kernel ends a PID namespace with its PID 1); the outcome counts those processes. Hooks run
// in their own process group, with an empty signal mask and default dispositions, and inherit the
// environment; what a hook leaves running is killed when it returns.
namespace lastcall {

enum class PodShape { kRegularSidecar, kNativeSidecar, kNoSidecar };

struct PreStopHook {
  enum class Kind { kNone, kExec, kHttpGet };
  Kind kind = Kind::kNone;
  std::vector<std::string> command;  // exec: argv, run as a child process
  std::string url;                   // httpGet: GET this URL (the kubelet sends GET only)
  std::vector<std::pair<std::string, std::string>> headers;  // httpGet: literal headers
};

struct EmulatedContainer {
  std::string name;
  pid_t pid = -1;  // the container's main process, already running; the emulator reaps it
  PreStopHook pre_stop;
  // `pid` leads a process group that holds the container's other processes (its workers).
  bool process_group = false;
};

struct TerminationOptions {
  PodShape shape = PodShape::kRegularSidecar;
  Millis grace_period{30000};       // terminationGracePeriodSeconds
  Millis propagation_delay{1000};   // T0 -> the load balancer stops routing to the pod
  Millis min_kill_extension{2000};  // the kubelet's 2 s for a hook that used up the grace
};

// One thing that happened, at a millisecond offset from T0.
struct KubeletEvent {
  Millis at{0};
  std::string container;  // "" for pod-level events (endpoint removal)
  std::string what;       // "prestop started", "prestop returned", "SIGTERM", "exited", ...
  std::string detail;     // exit code, hook result, ...
};

struct ContainerOutcome {
  std::string name;
  std::optional<int> exit_code;  // 128+signal for a signal death
  bool killed = false;           // SIGKILLed at the grace deadline
  Millis exited_at{0};
  std::optional<int> hook_result;  // exec hook exit code, or httpGet status (0: transport error)
  Millis hook_returned_at{0};
  // Added: what the hook said (exec: the last 4 KiB of its stdout and stderr; httpGet: of the
  // body). hook_result stays nullopt without a hook, and for one still running at the grace
  // period (an exec hook's process group is then SIGKILLed); 127 when the command cannot run.
  std::string hook_output;
  // process_group: how many other processes of its group were still running when it ended (its
  // pid exited, or the grace period did): all were killed then.
  int group_killed = 0;
};

struct TerminationReport {
  std::vector<KubeletEvent> timeline;  // in time order
  ContainerOutcome app;
  std::optional<ContainerOutcome> sidecar;
  Millis total{0};  // T0 -> the last container gone
  // True when every container exited by itself before SIGKILL.
  bool clean() const { return !app.killed && !(sidecar && sidecar->killed); }
};

// The seam to the outside world at T0 + propagation_delay: tell the load balancer (HAProxy's
// runtime API, or rehearse's built-in balancer) to stop routing to this pod. Called once, on a
// thread of the emulator's own; must not throw.
using EndpointRemoval = std::function<void()>;

// Runs the termination to the end (every container exited or killed) and returns what happened.
// `sidecar` is ignored for kNoSidecar. Blocks the calling thread; bounded by the grace period
// plus the kill extension plus a second (twice the extension for a native sidecar), and by the
// propagation delay (the removal always happens). Thread-compatible.
// REQUIRES: each pid > 0 is a child of this process that nothing else reaps meanwhile.
TerminationReport EmulatePodDeletion(const TerminationOptions& options, EmulatedContainer app,
                                     std::optional<EmulatedContainer> sidecar,
                                     const EndpointRemoval& remove_endpoint);

// The timeline as text, one event per line: "  1.234s  app  SIGTERM  ...".
std::string FormatTimeline(const TerminationReport& report);

}  // namespace lastcall

// The kubelet's side of a pod deletion for local processes. One loop on the calling thread owns
// the containers: it sends their signals, reaps them and keeps their deadlines. The preStop hooks
// and the endpoint removal block (an exec hook on its child, an httpGet hook on the network, the
// removal on its delay), so each runs on a thread of its own and reports back through an eventfd
// that wakes the loop.
#include "kubelet_emulator.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "base/subprocess.h"
#include "http/http_client.h"
#include "rehearse_process.h"

namespace lastcall {
namespace {

using Steady = std::chrono::steady_clock;

// The kubelet's httpGet hooks identify themselves so (KUBERNETES.md).
constexpr std::string_view kHookUserAgent = "kube-lifecycle/1.33";
// How long a SIGKILLed process may take to disappear before the emulator stops waiting for it
// (a process stuck in uninterruptible sleep cannot be helped).
constexpr Millis kReapAfterKill{1000};
constexpr size_t kMaxHookOutput = 4096;

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// A pidfd makes a child's exit pollable. Without one (kernels before 5.3, seccomp profiles that
// refuse it) the callers poll waitpid every millisecond instead.
Fd OpenPidFd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = syscall(SYS_pidfd_open, pid, 0);
  return Fd(fd < 0 ? -1 : static_cast<int>(fd));
#else
  (void)pid;
  return Fd();
#endif
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return fmt::format("exit {}", WEXITSTATUS(status));
  return fmt::format("signal {} ({}), exit {}", WTERMSIG(status), strsignal(WTERMSIG(status)),
                     ExitCodeOf(status));
}

Millis MillisBetween(Steady::time_point from, Steady::time_point to) {
  return std::chrono::duration_cast<Millis>(to - from);
}

int PollTimeoutMs(Steady::time_point now, Steady::time_point until) {
  const auto left = std::chrono::ceil<Millis>(until - now).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1000));
}

// Events from every thread, stamped on arrival.
class Timeline {
 public:
  explicit Timeline(Steady::time_point t0) : t0_(t0) {}
  void Add(std::string container, std::string what, std::string detail = "",
           Steady::time_point when = Steady::now()) {
    std::lock_guard lock(mu_);
    events_.push_back(
        {MillisBetween(t0_, when), std::move(container), std::move(what), std::move(detail)});
  }
  std::vector<KubeletEvent> Take() {
    std::lock_guard lock(mu_);
    std::stable_sort(events_.begin(), events_.end(),
                     [](const KubeletEvent& a, const KubeletEvent& b) { return a.at < b.at; });
    return std::move(events_);
  }

 private:
  const Steady::time_point t0_;
  std::mutex mu_;
  std::vector<KubeletEvent> events_;
};

struct HookResult {
  std::optional<int> result;  // see ContainerOutcome::hook_result; nullopt: no result in time
  std::string detail;
  std::string output;
  Steady::time_point returned;
};

void KeepTail(std::string* text, size_t limit) {
  if (text->size() > limit) text->erase(0, text->size() - limit);
}

// True when child `pid` has exited; leaves it unreaped (a zombie keeps its pid and group id).
bool Exited(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

// Runs `argv` as a child in its own process group with the signal state a container process
// starts with, output captured; kills the whole group at `deadline`.
HookResult RunExecHook(const std::vector<std::string>& argv, Steady::time_point deadline) {
  HookResult hook;
  if (argv.empty()) {
    hook.detail = "exec hook without a command";
    hook.returned = Steady::now();
    return hook;
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    hook.detail = fmt::format("cannot create a pipe: {}", std::strerror(errno));
    hook.returned = Steady::now();
    return hook;
  }
  Fd read_end(pipe_fds[0]);
  Fd write_end(pipe_fds[1]);

  SpawnRequest request;
  request.argv = argv;
  request.output = ChildOutput::Descriptor(write_end.get());
  request.own_process_group = true;
  std::string error;
  const std::optional<pid_t> spawned = Spawn(request, &error);
  write_end.Reset();
  if (!spawned) {
    hook.result = 127;  // what a shell answers for a command it cannot run
    hook.detail = fmt::format("cannot run {}", error);
    hook.returned = Steady::now();
    return hook;
  }
  const pid_t pid = *spawned;
  GuardProcessGroup(pid);  // its own group: a Ctrl-C at the terminal would not reach it
  fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  const Fd pidfd = OpenPidFd(pid);

  auto drain_pipe = [&] {
    char buffer[4096];
    while (read_end.get() >= 0) {
      const ssize_t n = read(read_end.get(), buffer, sizeof buffer);
      if (n > 0) {
        hook.output.append(buffer, static_cast<size_t>(n));
        KeepTail(&hook.output, kMaxHookOutput);
      } else if (n == 0) {
        read_end.Reset();  // every writer is gone
      } else if (errno != EINTR) {
        return;  // EAGAIN: nothing more for now
      }
    }
  };

  while (true) {
    int status = 0;
    if (Exited(pid)) {
      kill(-pid, SIGKILL);  // what it started and left running, while the group's id is its own
      UnguardProcessGroup(pid);
      waitpid(pid, &status, 0);
      drain_pipe();  // what it wrote before exiting; a grandchild holding the pipe is not awaited
      hook.result = ExitCodeOf(status);
      hook.detail = DescribeWaitStatus(status);
      break;
    }
    const auto now = Steady::now();
    if (now >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      UnguardProcessGroup(pid);
      waitpid(pid, &status, 0);
      drain_pipe();
      hook.detail = "did not return within the grace period; killed";
      break;
    }
    pollfd fds[2] = {{read_end.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
    const int timeout = pidfd.get() >= 0 ? PollTimeoutMs(now, deadline) : 1;
    if (poll(fds, 2, timeout) > 0 && fds[0].revents != 0) drain_pipe();
  }
  hook.returned = Steady::now();
  return hook;
}

// GET with the hook's literal headers and no timeout but the grace period. The status is
// reported, never judged: the kubelet does not check it.
HookResult RunHttpGetHook(const PreStopHook& spec, Steady::time_point deadline) {
  HookResult hook;
  std::string error;
  const auto url = ParseUrl(spec.url, &error);
  if (!url) {
    hook.result = 0;
    hook.detail = fmt::format("bad hook URL {}: {}", spec.url, error);
    hook.returned = Steady::now();
    return hook;
  }
  HttpRequest request;
  request.method = "GET";
  request.url = *url;
  request.headers = spec.headers;
  const bool has_agent = std::any_of(spec.headers.begin(), spec.headers.end(), [](const auto& h) {
    return strcasecmp(h.first.c_str(), "User-Agent") == 0;
  });
  if (!has_agent) request.headers.emplace_back("User-Agent", kHookUserAgent);
  const HttpResponse response = PosixHttpClient{}.Send(request, deadline);
  hook.returned = Steady::now();
  if (response.ok()) {
    hook.result = response.status;
    hook.detail = fmt::format("status {}", response.status);
    hook.output = response.body;
    KeepTail(&hook.output, kMaxHookOutput);
  } else if (response.error == HttpError::kTimeout) {
    hook.detail = "did not return within the grace period";
  } else {
    hook.result = 0;
    hook.detail = fmt::format("{}: {}", ToString(response.error), response.error_detail);
  }
  return hook;
}

std::string DescribeHook(const PreStopHook& hook) {
  if (hook.kind == PreStopHook::Kind::kHttpGet) return "httpGet " + hook.url;
  std::string text = "exec";
  for (const auto& arg : hook.command) text += " " + arg;
  return text;
}

// One container as the loop sees it. The hook thread writes `hook` under `mu`; everything else
// belongs to the loop.
struct Box {
  EmulatedContainer spec;
  bool is_sidecar = false;
  Fd pidfd;
  std::mutex mu;
  std::optional<HookResult> hook;  // GUARDED_BY(mu)
  bool hook_finished = false;      // the loop has seen the hook's result
  std::optional<Steady::time_point> sigterm_at;
  Steady::time_point kill_at{};
  std::optional<Steady::time_point> sigkill_at;
  bool gone = false;
  bool group_done = false;  // the rest of its process group was killed
  ContainerOutcome outcome;
};

// Kills the other processes of the container's group, once: what a container's end takes with
// it. `ending` says how its pid ends ("exited", "killed").
void KillRestOfGroup(Box& box, const char* ending, Timeline& timeline) {
  if (box.group_done) return;
  box.group_done = true;
  const std::vector<pid_t> rest = ProcessGroupMembers(box.spec.pid, box.spec.pid);
  kill(-box.spec.pid, SIGKILL);
  if (rest.empty()) return;
  box.outcome.group_killed = static_cast<int>(rest.size());
  timeline.Add(
      box.spec.name, "group killed",
      fmt::format("{} more {} of its group still running as its main process {}", rest.size(),
                  rest.size() == 1 ? "process was" : "processes were", ending));
}

class EventFd {
 public:
  EventFd() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  int get() const { return fd_.get(); }
  void Signal() const {
    const uint64_t one = 1;
    if (write(fd_.get(), &one, sizeof one) < 0) return;  // full: already signalled
  }
  void Clear() const {
    uint64_t value = 0;
    if (read(fd_.get(), &value, sizeof value) < 0) return;  // nothing pending
  }

 private:
  Fd fd_;
};

}  // namespace

TerminationReport EmulatePodDeletion(const TerminationOptions& options, EmulatedContainer app,
                                     std::optional<EmulatedContainer> sidecar,
                                     const EndpointRemoval& remove_endpoint) {
  const auto t0 = Steady::now();
  const auto grace_end = t0 + options.grace_period;
  Timeline timeline(t0);
  const EventFd wake;
  timeline.Add("", "pod deleted",
               fmt::format("grace period {}ms, endpoint removal after {}ms",
                           options.grace_period.count(), options.propagation_delay.count()),
               t0);

  // Track 1: the endpoint removal reaches the load balancer after the propagation delay.
  std::thread removal([&] {
    std::this_thread::sleep_until(t0 + options.propagation_delay);
    timeline.Add("", "endpoint removed");
    if (remove_endpoint) remove_endpoint();
  });

  // Track 2: the containers. Boxes never move once hook threads hold pointers to them.
  std::vector<std::unique_ptr<Box>> boxes;
  boxes.push_back(std::make_unique<Box>());
  boxes.back()->spec = std::move(app);
  if (options.shape != PodShape::kNoSidecar && sidecar) {
    boxes.push_back(std::make_unique<Box>());
    boxes.back()->spec = std::move(*sidecar);
    boxes.back()->is_sidecar = true;
  }
  std::vector<std::thread> hooks;
  for (auto& owned : boxes) {
    Box* box = owned.get();
    box->outcome.name = box->spec.name;
    if (box->spec.pid <= 0) {  // never started: waitpid(-1) would reap someone else's child
      box->gone = true;
      timeline.Add(box->spec.name, "exited", "no process", t0);
    } else {
      box->pidfd = OpenPidFd(box->spec.pid);
    }
    if (box->spec.pre_stop.kind == PreStopHook::Kind::kNone) {
      box->hook_finished = true;
      continue;
    }
    timeline.Add(box->spec.name, "prestop started", DescribeHook(box->spec.pre_stop), t0);
    hooks.emplace_back([box, grace_end, &timeline, &wake] {
      HookResult result = box->spec.pre_stop.kind == PreStopHook::Kind::kExec
                              ? RunExecHook(box->spec.pre_stop.command, grace_end)
                              : RunHttpGetHook(box->spec.pre_stop, grace_end);
      timeline.Add(box->spec.name, "prestop returned", result.detail, result.returned);
      {
        std::lock_guard lock(box->mu);
        box->hook = std::move(result);
      }
      wake.Signal();
    });
  }
  Box& app_box = *boxes.front();

  // Takes the hook's result once it is there. REQUIRES: the hook thread set it or still runs.
  auto collect_hook = [t0](Box& box) {
    if (box.hook_finished) return;
    std::lock_guard lock(box.mu);
    if (!box.hook) return;
    box.hook_finished = true;
    box.outcome.hook_result = box.hook->result;
    box.outcome.hook_returned_at = MillisBetween(t0, box.hook->returned);
    box.outcome.hook_output = box.hook->output;
  };
  auto all_gone = [&] {
    return std::all_of(boxes.begin(), boxes.end(), [](const auto& b) { return b->gone; });
  };
  while (!all_gone()) {
    wake.Clear();
    auto now = Steady::now();
    for (auto& owned : boxes) {
      Box& box = *owned;
      collect_hook(box);
      if (box.gone) continue;
      int status = 0;
      if (box.spec.process_group && Exited(box.spec.pid)) {
        // The pid is a zombie until reaped below, so its group's id still names its group.
        KillRestOfGroup(box, "exited", timeline);
      }
      const pid_t done = waitpid(box.spec.pid, &status, WNOHANG);
      if (done == box.spec.pid || (done < 0 && errno == ECHILD)) {
        now = Steady::now();
        box.gone = true;
        box.outcome.exited_at = MillisBetween(t0, now);
        if (done == box.spec.pid) box.outcome.exit_code = ExitCodeOf(status);
        timeline.Add(box.spec.name, "exited",
                     done == box.spec.pid ? DescribeWaitStatus(status)
                                          : "not a child of this process; cannot tell",
                     now);
        continue;
      }
      // SIGTERM once the hook returned; a native sidecar also waits for the app to be gone.
      const bool turn =
          !box.is_sidecar || options.shape != PodShape::kNativeSidecar || app_box.gone;
      if (!box.sigterm_at && box.hook_finished && turn) {
        now = Steady::now();
        kill(box.spec.pid, SIGTERM);
        box.sigterm_at = now;
        box.kill_at = std::max(grace_end, now + options.min_kill_extension);
        timeline.Add(box.spec.name, "SIGTERM", "", now);
      }
      if (box.sigterm_at && !box.sigkill_at && now >= box.kill_at) {
        if (box.spec.process_group) KillRestOfGroup(box, "killed", timeline);
        kill(box.spec.pid, SIGKILL);
        box.sigkill_at = now;
        box.outcome.killed = true;
        timeline.Add(box.spec.name, "SIGKILL", "grace period over", now);
      }
      if (box.sigkill_at && now >= *box.sigkill_at + kReapAfterKill) {
        box.gone = true;
        box.outcome.exited_at = MillisBetween(t0, now);
        timeline.Add(box.spec.name, "abandoned", "still there 1s after SIGKILL", now);
      }
    }
    if (all_gone()) break;

    // Sleep until a child exits, a hook returns, or the next deadline.
    std::vector<pollfd> fds{{wake.get(), POLLIN, 0}};
    Steady::time_point until = now + Millis{1000};
    bool blind = false;  // a live child without a pidfd: poll waitpid every millisecond
    for (const auto& owned : boxes) {
      const Box& box = *owned;
      if (box.gone) continue;
      if (box.pidfd.get() >= 0) {
        fds.push_back({box.pidfd.get(), POLLIN, 0});
      } else {
        blind = true;
      }
      if (box.sigterm_at && !box.sigkill_at) until = std::min(until, box.kill_at);
      if (box.sigkill_at) until = std::min(until, *box.sigkill_at + kReapAfterKill);
    }
    const int timeout = blind ? std::min(1, PollTimeoutMs(now, until)) : PollTimeoutMs(now, until);
    poll(fds.data(), fds.size(), timeout);
  }

  for (auto& thread : hooks) thread.join();
  removal.join();

  TerminationReport report;
  for (auto& owned : boxes) {
    Box& box = *owned;
    collect_hook(box);  // a hook that returned after its container was gone
    report.total = std::max(report.total, box.outcome.exited_at);
  }
  report.app = app_box.outcome;
  if (boxes.size() > 1) report.sidecar = boxes.back()->outcome;
  report.timeline = timeline.Take();
  return report;
}

std::string FormatTimeline(const TerminationReport& report) {
  size_t width = 3;  // "pod"
  for (const auto& event : report.timeline) width = std::max(width, event.container.size());
  std::string text;
  for (const auto& event : report.timeline) {
    std::string line = fmt::format(
        "{:>8.3f}s  {:<{}}  {:<16}  {}", static_cast<double>(event.at.count()) / 1000.0,
        event.container.empty() ? "pod" : event.container, width, event.what, event.detail);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + "\n";
  }
  return text;
}

}  // namespace lastcall

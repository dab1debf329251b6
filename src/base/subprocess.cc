#include "base/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "base/net_util.h"

extern char** environ;

namespace lastcall {
namespace {

// argv[0] as execve needs it: itself when it has a slash, else the first executable in PATH.
std::string ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe): nobody sets env
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = dirs.find(':');
    std::string candidate(dirs.substr(0, colon));
    if (candidate.empty()) candidate = ".";
    candidate += '/';
    candidate += name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) return name;  // execve fails with ENOENT
    dirs.remove_prefix(colon + 1);
  }
}

std::vector<char*> NullTerminated(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// Writes all of `data` to `fd`, retrying on EINTR; async-signal-safe.
void WriteAll(int fd, const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes += n;
    size -= static_cast<size_t>(n);
  }
}

// What the child reports on its close-on-exec pipe when a step fails.
enum Step : int {
  kStepDeathSignal,
  kStepSignals,
  kStepProcessGroup,
  kStepStdin,
  kStepOutput,
  kStepExec
};

struct ChildPlan {
  const char* program;
  char* const* args;
  char* const* envp;
  const ChildOutput* output;
  bool stdin_from_null;
  bool own_process_group;
  bool die_with_parent;
  pid_t parent;
  int report_fd;
};

// The child between fork and exec: only async-signal-safe calls (the parent may have threads
// holding locks), nothing that allocates. A failure is reported as (step, errno), then _exit.
[[noreturn]] void RunChild(const ChildPlan& plan) {
  auto fail = [&](Step step) {
    const int codes[2] = {step, errno};
    WriteAll(plan.report_fd, codes, sizeof codes);
    _exit(127);
  };
  if (plan.die_with_parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(kStepDeathSignal);
    if (getppid() != plan.parent) _exit(127);  // the parent died before prctl took effect
  }
  // Default dispositions first, then the empty mask: a signal that was pending while blocked
  // must not reach a handler the parent installed.
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo != SIGKILL && signo != SIGSTOP) sigaction(signo, &action, nullptr);
  }
  sigset_t empty;
  sigemptyset(&empty);
  // The child has one thread; sigprocmask is async-signal-safe, pthread_sigmask is not.
  if (sigprocmask(SIG_SETMASK, &empty, nullptr) != 0) fail(kStepSignals);  // NOLINT
  if (plan.own_process_group && setpgid(0, 0) != 0) fail(kStepProcessGroup);
  if (plan.stdin_from_null) {
    const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, 0) < 0) fail(kStepStdin);
  }
  const ChildOutput& output = *plan.output;
  int out_fd = -1;
  switch (output.kind) {
    case ChildOutput::Kind::kInherit:
      break;
    case ChildOutput::Kind::kFile:
      out_fd = open(output.path.c_str(),
                    O_WRONLY | O_CREAT | O_CLOEXEC | (output.truncate ? O_TRUNC : O_APPEND), 0600);
      if (out_fd < 0) fail(kStepOutput);
      break;
    case ChildOutput::Kind::kFd:
      out_fd = output.fd;
      break;
    case ChildOutput::Kind::kNull:
      out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (out_fd < 0) fail(kStepOutput);
      break;
  }
  // dup2 clears close-on-exec on the copies; the originals close at exec.
  if (out_fd >= 0 && (dup2(out_fd, 1) < 0 || (output.stderr_too && dup2(out_fd, 2) < 0))) {
    fail(kStepOutput);
  }
  execve(plan.program, plan.args, plan.envp);
  fail(kStepExec);
  _exit(127);
}

}  // namespace

ChildOutput ChildOutput::File(std::string path, bool truncate) {
  ChildOutput output;
  output.kind = Kind::kFile;
  output.path = std::move(path);
  output.truncate = truncate;
  return output;
}

ChildOutput ChildOutput::Descriptor(int fd) {
  ChildOutput output;
  output.kind = Kind::kFd;
  output.fd = fd;
  return output;
}

ChildOutput ChildOutput::Null() {
  ChildOutput output;
  output.kind = Kind::kNull;
  return output;
}

std::optional<pid_t> Spawn(const SpawnRequest& request, std::string* error) {
  if (request.argv.empty()) {
    *error = "nothing to run (an empty command)";
    return std::nullopt;
  }
  const std::string& name = request.argv.front();
  // Everything the child needs is prepared before fork: it may not allocate afterwards.
  const std::string program = ResolveProgram(name);
  const std::vector<char*> args = NullTerminated(request.argv);
  std::vector<char*> env_pointers;
  if (request.environment) env_pointers = NullTerminated(*request.environment);
  char* const* envp = request.environment ? env_pointers.data() : environ;

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    *error = name + ": pipe: " + ErrnoText(errno);
    return std::nullopt;
  }
  const ChildPlan plan{program.c_str(),
                       args.data(),
                       envp,
                       &request.output,
                       request.stdin_from_null,
                       request.own_process_group,
                       request.die_with_parent,
                       getpid(),
                       report[1]};
  const pid_t pid = fork();
  if (pid < 0) {
    *error = name + ": fork: " + ErrnoText(errno);
    close(report[0]);
    close(report[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    close(report[0]);
    RunChild(plan);
  }
  close(report[1]);
  int codes[2] = {0, 0};
  ssize_t got = 0;
  do {
    got = read(report[0], codes, sizeof codes);
  } while (got < 0 && errno == EINTR);
  close(report[0]);
  if (got <= 0) return pid;  // the pipe closed at exec: the program runs
  WaitForChild(pid);
  const std::string reason = ErrnoText(codes[1]);
  switch (codes[0]) {
    case kStepExec:
      *error = name + ": " + reason;
      break;
    case kStepOutput:
      *error = name + ": opening " +
               (request.output.kind == ChildOutput::Kind::kFile ? request.output.path
                                                                : std::string("its output")) +
               ": " + reason;
      break;
    default:
      *error = name + ": setting up the child: " + reason;
      break;
  }
  return std::nullopt;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::optional<int> WaitForChild(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return std::nullopt;
  }
  return ExitCodeOf(status);
}

}  // namespace lastcall

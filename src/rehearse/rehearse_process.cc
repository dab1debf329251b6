#include "rehearse_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "net_util.h"

namespace lastcall {
namespace {

// argv[0] as execv needs it: itself when it has a slash, else the first executable in PATH.
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
    if (colon == std::string_view::npos) return name;  // execv fails with ENOENT
    dirs.remove_prefix(colon + 1);
  }
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

// SIG_DFL for `signo`; async-signal-safe (sigaction, unlike signal(), is also thread-safe).
void ResetDisposition(int signo) {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signo, &action, nullptr);
}

// The child between fork and exec: only async-signal-safe calls. Reports a failure as an int
// (which step) and an errno on `report_fd`, a close-on-exec pipe, then exits 127.
[[noreturn]] void ExecChild(const char* program, char* const* args, const char* log_path,
                            pid_t parent, int report_fd) {
  int step = 0;
  auto fail = [&](int which) {
    const int codes[2] = {which, errno};
    WriteAll(report_fd, codes, sizeof codes);
    _exit(127);
  };
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(step);
  if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
  step = 1;
  sigset_t empty;
  sigemptyset(&empty);
  // The child has one thread; sigprocmask is async-signal-safe, pthread_sigmask is not.
  if (sigprocmask(SIG_SETMASK, &empty, nullptr) != 0) fail(step);  // NOLINT(concurrency-mt-unsafe)
  for (int signo : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) {
    ResetDisposition(signo);
  }
  step = 2;
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || dup2(null_fd, 0) < 0) fail(step);
  step = 3;
  const int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) fail(step);
  step = 4;
  execv(program, args);
  fail(step);
  _exit(127);
}

}  // namespace

std::optional<pid_t> SpawnProcess(const std::vector<std::string>& argv, const std::string& log_path,
                                  std::string* error) {
  // Everything the child needs is prepared before fork: it may not allocate afterwards.
  const std::string program = ResolveProgram(argv.at(0));
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    *error = argv[0] + ": pipe: " + ErrnoText(errno);
    return std::nullopt;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    *error = argv[0] + ": fork: " + ErrnoText(errno);
    close(report[0]);
    close(report[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    close(report[0]);
    ExecChild(program.c_str(), args.data(), log_path.c_str(), parent, report[1]);
  }
  close(report[1]);
  int codes[2] = {0, 0};
  ssize_t got = 0;
  do {
    got = read(report[0], codes, sizeof codes);
  } while (got < 0 && errno == EINTR);
  close(report[0]);
  if (got <= 0) return pid;  // the pipe closed on exec: the program runs
  int status = 0;
  waitpid(pid, &status, 0);
  const int step = codes[0];
  // Steps: 0 prctl, 1 signal mask, 2 /dev/null, 3 the log file, 4 exec.
  const std::string where = step == 3 ? "opening " + log_path : step == 4 ? "" : "setting up";
  *error = argv[0] + ": " + (where.empty() ? "" : where + ": ") + ErrnoText(codes[1]);
  return std::nullopt;
}

std::optional<pid_t> SpawnIdleProcess(std::string* error) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    *error = "fork: " + ErrnoText(errno);
    return std::nullopt;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);  // NOLINT(concurrency-mt-unsafe): one thread
    for (int signo : {SIGTERM, SIGINT, SIGHUP}) ResetDisposition(signo);
    while (true) pause();
  }
  return pid;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

uint16_t PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  uint16_t port = 0;
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

std::string MakePrivateTempDir(std::string* error) {
  // A Unix socket path must fit 107 bytes: "<dir>/control.sock" with room to spare.
  constexpr size_t kMaxBaseLength = 60;
  const char* tmpdir = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe): read-only env
  std::string base = tmpdir != nullptr && *tmpdir == '/' && std::strlen(tmpdir) <= kMaxBaseLength
                         ? tmpdir
                         : "/tmp";
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::string pattern = base + "/lastcall-rehearse.XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    *error = "creating a directory in " + base + ": " + ErrnoText(errno);
    return "";
  }
  return pattern;
}

void RemoveTree(const std::string& dir) {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

std::string TailOfFile(const std::string& path, size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat info {};
  std::string text;
  if (fstat(fd, &info) == 0) {
    const auto size = static_cast<size_t>(std::max<off_t>(info.st_size, 0));
    const size_t from = size > max_bytes ? size - max_bytes : 0;
    text.resize(size - from);
    const ssize_t got = pread(fd, text.data(), text.size(), static_cast<off_t>(from));
    text.resize(got > 0 ? static_cast<size_t>(got) : 0);
    if (from > 0) {
      const size_t newline = text.find('\n');
      if (newline != std::string::npos && newline + 1 < text.size()) text.erase(0, newline + 1);
    }
  }
  close(fd);
  return text;
}

}  // namespace lastcall

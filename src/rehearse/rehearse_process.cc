#include "rehearse_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string_view>
#include <system_error>

#include "base/net_util.h"

namespace lastcall {
namespace {

// SIG_DFL for `signo`; async-signal-safe (sigaction, unlike signal(), is also thread-safe).
void ResetDisposition(int signo) {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signo, &action, nullptr);
}

}  // namespace

std::optional<pid_t> SpawnProcess(const std::vector<std::string>& argv, const std::string& log_path,
                                  std::string* error) {
  SpawnRequest request;
  request.argv = argv;
  request.output = ChildOutput::File(log_path, /*truncate=*/false);
  request.die_with_parent = true;
  request.own_process_group = true;
  std::optional<pid_t> pid = Spawn(request, error);
  if (pid) GuardProcessGroup(*pid);
  return pid;
}

std::vector<pid_t> ProcessGroupMembers(pid_t pgid, pid_t except) {
  std::vector<pid_t> members;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return members;
  while (const dirent* entry = readdir(proc)) {  // NOLINT(concurrency-mt-unsafe): own DIR
    pid_t pid = 0;
    const std::string_view name = entry->d_name;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc() || end != name.data() + name.size() || pid == except) continue;
    std::ifstream file("/proc/" + std::string(name) + "/stat");
    std::string stat;
    if (!std::getline(file, stat)) continue;  // gone meanwhile
    // "pid (comm) state ppid pgrp ...": comm may hold anything, so read after its last ')'.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    char state = 0;
    long long ppid = 0, group = 0;
    if (!(fields >> state >> ppid >> group)) continue;
    if (group == pgid && state != 'Z' && state != 'X') members.push_back(pid);
  }
  closedir(proc);
  return members;
}

namespace {

constexpr size_t kGuardedGroups = 8;
std::array<std::atomic<pid_t>, kGuardedGroups> guarded_groups{};
static_assert(std::atomic<pid_t>::is_always_lock_free, "read from a signal handler");

// Async-signal-safe: kill, sigaction and raise only.
extern "C" void KillGuardedGroupsAndDie(int signo) {
  for (auto& group : guarded_groups) {
    const pid_t pgid = group.load();
    if (pgid > 0) kill(-pgid, SIGKILL);
  }
  ResetDisposition(signo);
  raise(signo);
}

void InstallGuardHandlers() {
  for (int signo : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction action {};
    action.sa_handler = KillGuardedGroupsAndDie;
    sigemptyset(&action.sa_mask);
    sigaction(signo, &action, nullptr);
  }
}

}  // namespace

void GuardProcessGroup(pid_t pgid) {
  static std::once_flag installed;
  std::call_once(installed, InstallGuardHandlers);
  for (auto& group : guarded_groups) {
    pid_t empty = 0;
    if (group.compare_exchange_strong(empty, pgid)) return;
  }
}

void UnguardProcessGroup(pid_t pgid) {
  for (auto& group : guarded_groups) {
    pid_t expected = pgid;
    group.compare_exchange_strong(expected, 0);
  }
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

#include "harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "base/subprocess.h"

extern char** environ;

namespace lastcall::test {
namespace {

std::vector<std::string> MergedEnvironment(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> merged;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string::npos) continue;
    // The test's own LASTCALL_* variables must not leak into the binaries under test.
    if (text.rfind("LASTCALL_", 0) == 0) continue;
    merged[text.substr(0, eq)] = text;
  }
  for (const auto& text : extra) {
    merged[text.substr(0, text.find('='))] = text;
  }
  std::vector<std::string> out;
  for (auto& [name, text] : merged) out.push_back(std::move(text));
  return out;
}

}  // namespace

Process Process::Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  Process process;
  process.log_path_ = TempDir() + "/output.log";
  // Children start with an empty signal mask and default dispositions, as under the kubelet.
  SpawnRequest request;
  request.argv = argv;
  request.environment = MergedEnvironment(env);
  request.output = ChildOutput::File(process.log_path_, /*truncate=*/true);
  std::string error;
  const std::optional<pid_t> pid = lastcall::Spawn(request, &error);
  if (!pid) throw std::runtime_error("cannot start " + error);
  process.pid_ = *pid;
  return process;
}

Process::Process(Process&& other) noexcept
    : pid_(other.pid_), exit_code_(other.exit_code_), log_path_(std::move(other.log_path_)) {
  other.pid_ = -1;
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    this->~Process();
    pid_ = other.pid_;
    exit_code_ = other.exit_code_;
    log_path_ = std::move(other.log_path_);
    other.pid_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

pid_t Process::Release() { return std::exchange(pid_, -1); }

void Process::Signal(int signo) const {
  if (pid_ > 0 && !exit_code_) kill(pid_, signo);
}

std::optional<int> Process::WaitExit(milliseconds timeout) {
  if (exit_code_ || pid_ <= 0) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_code_ = ExitCodeOf(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(1));
  }
}

bool Process::Running() { return !WaitExit(milliseconds(0)).has_value(); }

std::string Process::Output() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Process::WaitForOutput(std::string_view needle, milliseconds timeout) {
  return WaitUntil([&] { return Output().find(needle) != std::string::npos; }, timeout,
                   milliseconds(5));
}

uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string g_temp_root;  // NOLINT: removed at exit

std::string TempDir() {
  static const std::string& root = []() -> const std::string& {
    char pattern[] = "/tmp/lastcall-test-XXXXXX";
    g_temp_root = mkdtemp(pattern);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(g_temp_root, ignored);
    });
    return g_temp_root;
  }();
  static int counter = 0;
  std::string dir = root + "/" + std::to_string(++counter);
  std::filesystem::create_directories(dir);
  return dir;
}

HttpResponse Send(const std::string& method, const std::string& url,
                  const std::vector<std::pair<std::string, std::string>>& headers,
                  milliseconds timeout) {
  std::string error;
  auto parsed = ParseUrl(url, &error);
  if (!parsed) throw std::runtime_error("bad test URL " + url + ": " + error);
  HttpRequest request;
  request.method = method;
  request.url = *parsed;
  request.headers = headers;
  return PosixHttpClient{}.Send(request, std::chrono::steady_clock::now() + timeout);
}

HttpResponse Get(uint16_t port, const std::string& target, milliseconds timeout) {
  return Send("GET", "http://127.0.0.1:" + std::to_string(port) + target, {}, timeout);
}

int Status(uint16_t port, const std::string& target) {
  const HttpResponse response = Get(port, target);
  return response.ok() ? response.status : 0;
}

bool WaitUntil(const std::function<bool()>& condition, milliseconds timeout, milliseconds step) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

std::string App::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

App StartExampleApp(const std::vector<std::string>& extra_args) {
  App app;
  app.port = FreePort();
  std::vector<std::string> argv{EXAMPLE_APP_BINARY, "--listen",
                                "127.0.0.1:" + std::to_string(app.port)};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  app.process = Process::Spawn(argv);
  if (!WaitUntil([&] { return Status(app.port, "/healthz") == 200; }, milliseconds(5000))) {
    throw std::runtime_error("example app did not start: " + app.process.Output());
  }
  return app;
}

Sidecar StartLastcall(const std::vector<std::string>& extra_args,
                      const std::vector<std::string>& env) {
  Sidecar sidecar;
  sidecar.probe_port = FreePort();
  sidecar.socket = TempDir() + "/control.sock";
  std::vector<std::string> argv{LASTCALL_BINARY, "run",
                                "--listen",      "127.0.0.1:" + std::to_string(sidecar.probe_port),
                                "--control",     "unix://" + sidecar.socket};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  sidecar.process = Process::Spawn(argv, env);
  if (!WaitUntil([&] { return Status(sidecar.probe_port, "/livez") == 200; }, milliseconds(5000))) {
    throw std::runtime_error("lastcall did not start: " + sidecar.process.Output());
  }
  return sidecar;
}

Sidecar RestartLastcall(const Sidecar& old, const std::vector<std::string>& extra_args,
                        const std::vector<std::string>& env) {
  Sidecar sidecar;
  sidecar.probe_port = old.probe_port;
  sidecar.socket = old.socket;
  std::vector<std::string> argv{LASTCALL_BINARY, "run",
                                "--listen",      "127.0.0.1:" + std::to_string(old.probe_port),
                                "--control",     "unix://" + old.socket};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  sidecar.process = Process::Spawn(argv, env);
  return sidecar;
}

long long ElapsedMs(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
}

long long UnixMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ShellRun RunShell(const std::string& command) {
  ShellRun run;
  FILE* pipe = popen(command.c_str(), "r");  // NOLINT(cert-env33-c): a test, fixed arguments
  if (pipe == nullptr) return run;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

long ProcStatusKib(pid_t pid, std::string_view field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(prefix, 0) == 0) return std::atol(line.c_str() + prefix.size());
  }
  return -1;
}

}  // namespace lastcall::test

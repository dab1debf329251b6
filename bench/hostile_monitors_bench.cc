// Hostile monitor answers (issue 11): the real binary polls an app that answers what an attacker
// or a broken proxy would, with a short drain timeout, and this prints for each case lastcall's
// peak resident memory (VmHWM, read until it exits) and how far past the drain deadline it
// exited. Targets (PRODUCT.md §5): peak RSS <= 16 MiB, overshoot <= 50 ms.
// Figures are printed, never asserted. bench/run.sh runs it; results in BENCHMARKS.md.
//
// Usage: hostile_monitors_bench [--short] [--lastcall PATH] [--only CASE]...
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/subprocess.h"
#include "harness.h"

namespace lastcall::bench {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;
using test::Process;

constexpr milliseconds kDrainTimeout{500};

// What the hostile app does with each connection once it has read the request head. `alive`
// turns false when the benchmark is over; behaviours that never end must check it.
using Behaviour = std::function<void(int fd, const std::atomic<bool>& alive)>;

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A raw TCP server on 127.0.0.1, one thread per connection: it must be able to misbehave in
// ways a real HTTP server would not (never answer, trickle, send forever).
class HostileApp {
 public:
  explicit HostileApp(Behaviour behaviour) : behaviour_(std::move(behaviour)) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(listener_, 64) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("hostile app: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~HostileApp() {
    alive_ = false;
    acceptor_.join();
    std::lock_guard lock(mu_);
    for (std::thread& t : connections_) t.join();
    close(listener_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/x"; }

 private:
  void AcceptLoop() {
    while (alive_) {
      pollfd entry{listener_, POLLIN, 0};
      if (poll(&entry, 1, 20) <= 0) continue;
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      connections_.emplace_back([this, fd] {
        ReadRequestHead(fd);
        behaviour_(fd, alive_);
        close(fd);
      });
    }
  }
  void ReadRequestHead(int fd) {
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos && alive_) {
      pollfd entry{fd, POLLIN, 0};
      if (poll(&entry, 1, 20) <= 0) continue;
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      head.append(buffer, static_cast<size_t>(n));
    }
  }

  Behaviour behaviour_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> alive_{true};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;
};

Behaviour Answer(std::string head, std::string body) {
  auto wire = std::make_shared<const std::string>(std::move(head) + body);
  return [wire](int fd, const std::atomic<bool>&) { SendAll(fd, *wire); };
}

Behaviour AnswerLength(std::string body, const std::string& type) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: " + type +
                           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  return Answer(head, std::move(body));
}

struct Case {
  std::string name;
  std::vector<std::string> monitor_flags;  // --monitor KIND and what it needs
  Behaviour behaviour;
};

std::vector<Case> HostileCases() {
  std::vector<Case> cases;
  // A control: an honest app that stays busy. What the others are compared with.
  cases.push_back({"benign json {\"inflight\": 1}",
                   {"--monitor", "json"},
                   AnswerLength(R"({"inflight": 1})", "application/json")});
  // 64 MiB announced and sent, close to what the default max_body (4 MiB) refuses.
  cases.push_back({"huge flat body (64 MiB, Content-Length)",
                   {"--monitor", "json"},
                   [](int fd, const std::atomic<bool>& alive) {
                     const std::string chunk(64 * 1024, ' ');
                     std::string head =
                         "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(64 << 20) +
                         "\r\n\r\n{\"inflight\": 0, \"pad\": \"";
                     if (!SendAll(fd, head)) return;
                     for (int i = 0; i < 1024 && alive; ++i) {
                       if (!SendAll(fd, chunk)) return;
                     }
                   }});
  // Just under max_body: the parser sees all of it. Nesting is what blew up memory before.
  {
    std::string nested = "{\"inflight\": 0, \"x\": " + std::string((4 << 20) - 64, '[');
    cases.push_back({"deeply nested JSON (4 MiB of '[')",
                     {"--monitor", "json"},
                     AnswerLength(std::move(nested), "application/json")});
  }
  {
    // Many small values: the shape that costs a DOM the most per byte.
    std::string flat = "{\"inflight\": 1, \"x\": [";
    while (flat.size() < (4 << 20) - 64) flat += "0,";
    flat += "0]}";
    cases.push_back({"wide JSON (2M numbers, 4 MiB)",
                     {"--monitor", "json"},
                     AnswerLength(std::move(flat), "application/json")});
  }
  cases.push_back(
      {"endless chunked body", {"--monitor", "json"}, [](int fd, const std::atomic<bool>& alive) {
         if (!SendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) {
           return;
         }
         const std::string chunk = "10000\r\n" + std::string(0x10000, '[') + "\r\n";
         while (alive && SendAll(fd, chunk)) {
         }
       }});
  cases.push_back({"slow trickle (1 byte / 10 ms)",
                   {"--monitor", "json"},
                   [](int fd, const std::atomic<bool>& alive) {
                     const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
                     if (!SendAll(fd, head)) return;
                     while (alive && SendAll(fd, " ")) {
                       std::this_thread::sleep_for(milliseconds(10));
                     }
                   }});
  {
    // A page near max_body whose label values are long runs that a backtracking matcher
    // explores at length for this selector; RE2 runs in time linear in each value.
    std::string page = "# TYPE rq gauge\n";
    const std::string value(4000, 'a');
    for (int i = 0; page.size() < (4 << 20) - 8192; ++i) {
      page += "rq{path=\"" + value + std::to_string(i) + "\"} 1\n";
    }
    page += "rq{path=\"busy\"} 1\n";  // the one series that matches: never drained
    cases.push_back({"huge Prometheus page (4 MiB) + crafted selector",
                     {"--monitor", "prometheus", "--monitor-metric", "rq{path=~\"(a|aa)*c|busy\"}"},
                     AnswerLength(std::move(page), "text/plain")});
  }
  cases.push_back({"status that never answers",
                   {"--monitor", "status"},
                   [](int, const std::atomic<bool>& alive) {
                     while (alive) std::this_thread::sleep_for(milliseconds(5));
                   }});
  return cases;
}

long ReadVmHwmKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

struct Measure {
  double overshoot_ms = 0;  // exit - (SIGTERM + drain timeout); lb_delay is 0
  double peak_rss_mib = 0;
  int exit_code = -1;
};

Measure RunCase(const std::string& lastcall, const Case& c) {
  HostileApp app(c.behaviour);
  const uint16_t port = test::FreePort();
  std::vector<std::string> argv = {lastcall,          "run",
                                   "--listen",        "127.0.0.1:" + std::to_string(port),
                                   "--control",       "unix://" + test::TempDir() + "/control.sock",
                                   "--lb-delay",      "0s",
                                   "--drain-timeout", std::to_string(kDrainTimeout.count()) + "ms",
                                   "--poll-interval", "100ms",
                                   "--drain-url=",    "--monitor-url",
                                   app.url()};
  argv.insert(argv.end(), c.monitor_flags.begin(), c.monitor_flags.end());
  Process process = Process::Spawn(argv);
  if (!test::WaitUntil([&] { return test::Status(port, "/livez") == 200; }, milliseconds(5000))) {
    throw std::runtime_error("lastcall did not start: " + process.Output());
  }
  const pid_t pid = process.Release();
  const auto signalled = Steady::now();
  kill(pid, SIGTERM);
  Measure measure;
  int status = 0;
  // VmHWM is the process's own high-water mark; read until it exits (its last reading before
  // exit is the peak, as the drain ends with the deadline, not with a poll). wait4's ru_maxrss
  // would include this process's memory, inherited by the child before exec.
  long peak_kib = 0;
  while (Steady::now() - signalled < milliseconds(30000)) {
    peak_kib = std::max(peak_kib, ReadVmHwmKiB(pid));
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      const auto exited = Steady::now();
      measure.overshoot_ms =
          std::chrono::duration<double, std::milli>(exited - signalled - kDrainTimeout).count();
      measure.peak_rss_mib = static_cast<double>(peak_kib) / 1024.0;
      measure.exit_code = ExitCodeOf(status);
      return measure;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  throw std::runtime_error(c.name + ": lastcall still running 30 s after SIGTERM");
}

int Main(int argc, char** argv) {
  bool short_mode = false;
  std::string lastcall = LASTCALL_BINARY;
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--short") {
      short_mode = true;
    } else if (arg == "--lastcall" && i + 1 < argc) {
      lastcall = argv[++i];
    } else if (arg == "--only" && i + 1 < argc) {
      only.emplace_back(argv[++i]);
    } else {
      std::cerr << "usage: hostile_monitors_bench [--short] [--lastcall PATH] [--only CASE]...\n";
      return 2;
    }
  }
  const int runs = short_mode ? 1 : 3;
  std::printf(
      "hostile monitors: %s, binary %s, drain timeout %lld ms, lb_delay 0, %d run(s) each\n",
      short_mode ? "short" : "full", lastcall.c_str(),
      static_cast<long long>(kDrainTimeout.count()), runs);
  std::printf("\n%-50s %6s %18s %18s  %s\n", "case", "exit", "peak RSS (max)", "overshoot (max)",
              "verdict (<= 16 MiB, <= 50 ms)");
  bool all_met = true;
  try {
    for (const Case& c : HostileCases()) {
      if (!only.empty() && std::none_of(only.begin(), only.end(), [&](const std::string& o) {
            return c.name.find(o) != std::string::npos;
          })) {
        continue;
      }
      double worst_rss = 0;
      double worst_overshoot = -1e9;
      int code = -1;
      for (int i = 0; i < runs; ++i) {
        const Measure m = RunCase(lastcall, c);
        worst_rss = std::max(worst_rss, m.peak_rss_mib);
        worst_overshoot = std::max(worst_overshoot, m.overshoot_ms);
        code = m.exit_code;
      }
      const bool met = worst_rss <= 16.0 && worst_overshoot <= 50.0;
      all_met = all_met && met;
      std::printf("%-50s %6d %14.1f MiB %15.1f ms  %s\n", c.name.c_str(), code, worst_rss,
                  worst_overshoot, met ? "met" : "NOT met");
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hostile_monitors_bench: %s\n", e.what());
    return 1;
  }
  std::printf("\nhostile monitors: %s\n",
              all_met ? "every case met both targets" : "some case missed a target");
  return 0;
}

}  // namespace
}  // namespace lastcall::bench

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  return lastcall::bench::Main(argc, argv);
}

#include "rehearse_command.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "base/duration.h"
#include "base/exit_status.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "kubelet_emulator.h"
#include "rehearse_advice.h"
#include "rehearse_balancer.h"
#include "rehearse_html.h"
#include "rehearse_load.h"
#include "rehearse_process.h"
#include "rehearse_progress.h"
#include "rehearse_report.h"
#include "version.h"

namespace lastcall {
namespace {

using Steady = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;

constexpr Millis kAppStartTimeout{10000};
constexpr Millis kSidecarStartTimeout{5000};
constexpr Millis kTick{200};  // progress and status polling
constexpr size_t kLogTailBytes = 2000;
constexpr size_t kMaxSidecarLogBytes = size_t{8} * 1024 * 1024;

bool AtDefault(const LoadedConfig& loaded, const std::string& key) {
  auto it = loaded.sources.find(key);
  return it == loaded.sources.end() || it->second == ValueSource::kDefault;
}

// The command as a shell would take it back: words with special characters single-quoted.
std::string JoinCommand(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : argv) {
    if (!out.empty()) out += ' ';
    if (!arg.empty() && arg.find_first_of(" \t\n'\"\\$`|;&<>()*?#~") == std::string::npos) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

// Kills and reaps a child, with the process group it leads (SpawnProcess), on every early return;
// Release() hands it over (to the emulator).
class ChildGuard {
 public:
  ChildGuard() = default;
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ <= 0) return;
    kill(-pid_, SIGKILL);  // before the reap, while the group's id is still its own
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    UnguardProcessGroup(pid_);
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  ChildGuard& operator=(ChildGuard&& other) noexcept {
    std::swap(pid_, other.pid_);
    return *this;
  }
  pid_t pid() const { return pid_; }
  void Release() { pid_ = -1; }
  // The exit code when the child has already exited (and reaps it), else nullopt.
  std::optional<int> Exited() {
    siginfo_t info{};
    if (pid_ <= 0 ||
        waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != pid_) {
      return std::nullopt;
    }
    kill(-pid_, SIGKILL);  // an app that died at start may have started workers
    int status = 0;
    waitpid(pid_, &status, 0);
    UnguardProcessGroup(pid_);
    pid_ = -1;
    return ExitCodeOf(status);
  }

 private:
  pid_t pid_ = -1;
};

HttpResponse Get(const std::string& url, Millis timeout) {
  std::string error;
  std::optional<Url> parsed = ParseUrl(url, &error);
  HttpResponse failed;
  if (!parsed) {
    failed.error = HttpError::kOther;
    failed.error_detail = error;
    return failed;
  }
  PosixHttpClient client;
  HttpRequest request;
  request.url = *parsed;
  return client.Send(request, Steady::now() + timeout);
}

std::string Indent(const std::string& text) {
  std::string out = "    ";
  for (char c : text) {
    out += c;
    if (c == '\n') out += "    ";
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n')) out.pop_back();
  return out + "\n";
}

// Waits until `url` answers anything over HTTP; "" when it does, else why not.
std::string WaitForApp(const std::string& url, ChildGuard* app, const std::string& log_path) {
  const auto deadline = Steady::now() + kAppStartTimeout;
  HttpResponse last;
  while (Steady::now() < deadline) {
    if (app != nullptr) {
      if (std::optional<int> code = app->Exited()) {
        return "the app exited with code " + std::to_string(*code) + " before it answered on " +
               url + "; its output:\n" + Indent(TailOfFile(log_path, kLogTailBytes));
      }
    }
    last = Get(url + "/", Millis(500));
    if (last.ok()) return "";
    std::this_thread::sleep_for(Millis(50));
  }
  std::string why = "nothing answered on " + url + " within " + FormatDuration(kAppStartTimeout) +
                    " (" + last.error_detail + ")";
  if (app != nullptr) {
    why += "; the app's output:\n" + Indent(TailOfFile(log_path, kLogTailBytes));
  }
  return why;
}

std::string WaitForSidecar(uint16_t probe_port, ChildGuard* sidecar, const std::string& log_path,
                           std::ostream& err) {
  const std::string base = "http://127.0.0.1:" + std::to_string(probe_port);
  const auto deadline = Steady::now() + kSidecarStartTimeout;
  while (Steady::now() < deadline) {
    if (std::optional<int> code = sidecar->Exited()) {
      return "lastcall run exited with code " + std::to_string(*code) + " at start; its log:\n" +
             Indent(TailOfFile(log_path, kLogTailBytes));
    }
    if (Get(base + "/livez", Millis(300)).status == 200) {
      // Readiness may be gated on the app's health (readiness.upstream); give it a moment.
      for (int i = 0; i < 20; ++i) {
        if (Get(base + "/readyz", Millis(300)).status == 200) return "";
        std::this_thread::sleep_for(Millis(100));
      }
      err << "lastcall rehearse: warning: lastcall's /readyz is not 200 before the deletion "
             "(readiness.upstream?)\n";
      return "";
    }
    std::this_thread::sleep_for(Millis(30));
  }
  return "lastcall run did not answer /livez within " + FormatDuration(kSidecarStartTimeout) +
         "; its log:\n" + Indent(TailOfFile(log_path, kLogTailBytes));
}

// lastcall's current phase from /status, or "" when it does not answer.
std::string SidecarPhaseNow(uint16_t probe_port) {
  const HttpResponse response =
      Get("http://127.0.0.1:" + std::to_string(probe_port) + "/status", Millis(150));
  if (!response.ok() || response.status != 200) return "";
  const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("phase") || !parsed["phase"].is_string()) return "";
  return parsed["phase"].get<std::string>();
}

std::string SelfPath() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "lastcall";
}

bool WriteFile(const std::string& path, const std::string& text, std::string* error) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.flush();
  if (!file) {
    *error = "cannot write " + path;
    return false;
  }
  return true;
}

// Writes the report to each path (FILE.json: JSON, else HTML), or to kDefaultReportPath when
// none was asked for. Returns false when a file that was asked for could not be written.
bool WriteReports(const RehearsalReport& report, const std::vector<std::string>& asked,
                  std::ostream& out, std::ostream& err) {
  const std::vector<std::string> paths =
      asked.empty() ? std::vector<std::string>{kDefaultReportPath} : asked;
  bool written = true;
  for (const std::string& path : paths) {
    const std::string text =
        std::string_view(path).ends_with(".json") ? ReportToJson(report) : RenderHtmlReport(report);
    std::string error;
    if (WriteFile(path, text, &error)) {
      out << "\nreport: " << path << "\n";
    } else {
      err << "lastcall rehearse: " << error << "\n";
      written = written && asked.empty();  // the default report is a courtesy
    }
  }
  return written;
}

// Everything the running rehearsal shares between its threads.
struct Shared {
  std::mutex mu;
  std::optional<Millis> endpoint_removed_at;  // GUARDED_BY(mu)
  std::atomic<bool> termination_done{false};
};

}  // namespace

std::string ExampleAppPath(const std::string& self) {
  const char* env =
      std::getenv(std::string(kExampleAppEnv).c_str());  // NOLINT(concurrency-mt-unsafe)
  if (env != nullptr && *env != '\0') return env;
  const size_t slash = self.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
  return dir + "/examples/drainable_app";
}

std::optional<RehearsalPlan> PlanRehearsal(const RehearseOptions& options,
                                           const LoadedConfig& loaded,
                                           const std::string& example_app, uint16_t free_port,
                                           std::string* error) {
  RehearsalPlan plan;
  bool port_is_ours = false;
  if (options.app_command.empty() && options.app_url.empty()) {
    plan.bundled_app = true;
    port_is_ours = true;
    plan.app_port = free_port;
    plan.app_argv = {example_app, "--listen", "127.0.0.1:" + std::to_string(free_port), "--name",
                     "rehearsal"};
  } else if (!options.app_command.empty()) {
    plan.app_argv = options.app_command;
    for (std::string& arg : plan.app_argv) {
      for (size_t at = arg.find(kPortPlaceholder); at != std::string::npos;
           at = arg.find(kPortPlaceholder, at)) {
        arg.replace(at, kPortPlaceholder.size(), std::to_string(free_port));
        port_is_ours = true;
      }
    }
    if (port_is_ours && !options.app_url.empty()) {
      *error = "--app-url and {port} in --app-cmd both say where the app listens: give one";
      return std::nullopt;
    }
    if (port_is_ours) plan.app_port = free_port;
  }
  if (options.push) {
    plan.push = true;
    if (plan.bundled_app) {
      plan.app_argv.insert(plan.app_argv.end(),
                           {"--push-drained", std::string(kDrainedUrlPlaceholder)});
    } else if (std::none_of(plan.app_argv.begin(), plan.app_argv.end(), [](const std::string& a) {
                 return a.find(kDrainedUrlPlaceholder) != std::string::npos;
               })) {
      *error = "--push: put " + std::string(kDrainedUrlPlaceholder) +
               " in --app-cmd where your app takes the URL to POST to once drained (the bundled "
               "example app needs nothing)";
      return std::nullopt;
    }
  }
  if (!options.app_url.empty()) {
    std::string problem;
    std::optional<Url> url = ParseUrl(options.app_url, &problem);
    if (!url || url->scheme != Url::Scheme::kHttp) {
      *error = "--app-url: " + (url ? std::string("expected an http:// URL") : problem) +
               " (got \"" + options.app_url + "\")";
      return std::nullopt;
    }
    std::string host = url->host == "localhost" ? "127.0.0.1" : url->host;
    ListenAddress as_address;
    as_address.host = host;
    if (!as_address.IsLoopback()) {
      *error = "--app-url: rehearse runs on this machine only: use 127.0.0.1 or [::1] (got \"" +
               options.app_url + "\")";
      return std::nullopt;
    }
    if (url->target != "/") {
      *error = "--app-url: give only http://HOST:PORT; request paths go in --paths (got \"" +
               options.app_url + "\")";
      return std::nullopt;
    }
    plan.app_host = host;
    plan.app_port = url->port;
  }
  const bool v6 = plan.app_host.find(':') != std::string::npos;
  plan.app_url = "http://" + (v6 ? "[" + plan.app_host + "]" : plan.app_host) + ":" +
                 std::to_string(plan.app_port);
  plan.app_display =
      plan.app_argv.empty() ? "already running at " + plan.app_url : JoinCommand(plan.app_argv);

  auto set_default = [&](const std::string& key, const std::string& flag, std::string value) {
    if (AtDefault(loaded, key)) plan.sidecar_flags.push_back({flag, std::move(value)});
  };
  if (plan.bundled_app) {
    set_default("shutdown.lb_delay", "lb-delay", FormatDuration(kDemoLbDelay));
    set_default("shutdown.drain.timeout", "drain-timeout", FormatDuration(kDemoDrainTimeout));
    set_default("shutdown.grace_period", "grace-period", FormatDuration(kDemoGracePeriod));
    if (loaded.config.shutdown.lb_delay.is_auto()) {
      set_default("shutdown.lb_auto.max", "lb-auto-max", FormatDuration(kDemoLbAutoMax));
    }
  }
  if (port_is_ours) {
    set_default("shutdown.drain.trigger.url", "drain-url", plan.app_url + "/drain");
    set_default("shutdown.drain.monitor.ports", "monitor-port", std::to_string(plan.app_port));
  }

  plan.rps = options.rps.value_or(kDefaultRehearseRps);
  plan.duration = options.duration;
  if (plan.bundled_app && !plan.duration) plan.duration = kDemoDuration;
  if (plan.duration && *plan.duration < kRehearseWarmup * 2) {
    *error = "--duration: at least " + FormatDuration(kRehearseWarmup * 2) + " (a " +
             FormatDuration(kRehearseWarmup) + " warm-up, then the termination) (got \"" +
             FormatDuration(*plan.duration) + "\")";
    return std::nullopt;
  }
  plan.paths = options.paths;
  if (plan.paths.empty()) {
    plan.paths =
        plan.bundled_app ? *ParsePathList(kDemoPaths, nullptr) : std::vector<std::string>{"/"};
  }
  plan.propagation_delay = options.propagation_delay.value_or(
      plan.bundled_app ? kDemoPropagationDelay : kDefaultPropagationDelay);
  return plan;
}

int RunRehearse(const RehearseOptions& options, std::ostream& out, std::ostream& err,
                bool terminal) {
  // ---- configuration and plan
  ConfigSources sources = options.config;
  std::optional<LoadedConfig> loaded = LoadConfigOrExplain(&sources, "lastcall rehearse", err);
  if (!loaded) return kExitUsage;
  const std::string self = SelfPath();
  std::string error;
  const uint16_t free_port = PickFreePort();
  std::optional<RehearsalPlan> plan =
      PlanRehearsal(options, *loaded, ExampleAppPath(self), free_port, &error);
  if (!plan) {
    err << "lastcall rehearse: " << error << "\nRun 'lastcall rehearse --help' for usage.\n";
    return kExitUsage;
  }
  for (const FlagValue& flag : plan->sidecar_flags) sources.flags.push_back(flag);
  loaded = LoadConfigOrExplain(&sources, "lastcall rehearse", err);
  if (!loaded) return kExitUsage;
  const Config& config = loaded->config;
  if (plan->bundled_app && access(plan->app_argv[0].c_str(), X_OK) != 0) {
    err << "lastcall rehearse: cannot find the example app at " << plan->app_argv[0]
        << ": set LASTCALL_EXAMPLE_APP, or rehearse your own app with --app-cmd\n";
    return kExitRuntimeError;
  }
  for (const std::string& path : options.reports) {
    if (std::string problem = ValidateReportPath(path); !problem.empty()) {
      err << "lastcall rehearse: --report: " << problem << "\n";
      return kExitUsage;
    }
  }

  // Each request in flight holds up to three descriptors here (the client's socket and the
  // balancer's two): lift the soft limit of 1024 that would cap a rehearsal at ~300 in flight.
  RaiseFileLimit();
  const std::string dir = MakePrivateTempDir(&error);
  if (dir.empty()) {
    err << "lastcall rehearse: " << error << "\n";
    return kExitRuntimeError;
  }
  bool keep_dir = false;
  struct DirRemover {
    const std::string& dir;
    const bool& keep;
    ~DirRemover() {
      if (!keep) RemoveTree(dir);
    }
  } remover{dir, keep_dir};
  const std::string app_log = dir + "/app.log";
  const std::string sidecar_log = dir + "/lastcall.log";
  auto fail = [&](const std::string& why) {
    err << "lastcall rehearse: " << why << "\n";
    keep_dir = true;
    err << "logs kept in " << dir << "\n";
    return static_cast<int>(kExitRuntimeError);
  };

  // ---- the app; with --push it learns lastcall's /drained URL, so the control port comes first
  const uint16_t control_port = plan->push ? PickFreePort() : 0;
  const std::string control =
      plan->push ? "127.0.0.1:" + std::to_string(control_port) : "unix://" + dir + "/control.sock";
  if (plan->push) {
    const std::string drained_url = "http://" + control + "/drained";
    for (std::string& arg : plan->app_argv) {
      for (size_t at = arg.find(kDrainedUrlPlaceholder); at != std::string::npos;
           at = arg.find(kDrainedUrlPlaceholder, at)) {
        arg.replace(at, kDrainedUrlPlaceholder.size(), drained_url);
      }
    }
    plan->app_display = JoinCommand(plan->app_argv);
  }
  ChildGuard app;
  if (!plan->app_argv.empty()) {
    std::optional<pid_t> pid = SpawnProcess(plan->app_argv, app_log, &error);
    if (!pid) return fail("cannot start the app: " + error);
    app = ChildGuard(*pid);
  }
  if (std::string why = WaitForApp(plan->app_url, plan->app_argv.empty() ? nullptr : &app, app_log);
      !why.empty()) {
    return fail(why);
  }
  if (plan->app_argv.empty()) {
    // The kubelet emulation needs a process to signal; the app itself is not ours to stop.
    std::optional<pid_t> pid = SpawnIdleProcess(&error);
    if (!pid) return fail(error);
    app = ChildGuard(*pid);
  }

  // ---- lastcall
  const uint16_t probe_port = PickFreePort();
  std::vector<std::string> sidecar_argv = {self, "run"};
  if (!sources.yaml_path.empty())
    sidecar_argv.insert(sidecar_argv.end(), {"-c", sources.yaml_path});
  for (const FlagValue& flag : sources.flags) {
    sidecar_argv.push_back("--" + flag.name + "=" + flag.value);
  }
  sidecar_argv.insert(sidecar_argv.end(),
                      {"--listen=127.0.0.1:" + std::to_string(probe_port), "--control=" + control,
                       "--state-file=" + dir + "/state.json", "--log-format=json"});
  std::optional<pid_t> sidecar_pid = SpawnProcess(sidecar_argv, sidecar_log, &error);
  if (!sidecar_pid) return fail("cannot start lastcall: " + error);
  ChildGuard sidecar(*sidecar_pid);
  if (std::string why = WaitForSidecar(probe_port, &sidecar, sidecar_log, err); !why.empty()) {
    return fail(why);
  }

  // ---- the load balancer and the load
  std::unique_ptr<LoadBalancer> balancer;
  if (!options.direct) {
    balancer = std::make_unique<LoadBalancer>(plan->app_host, plan->app_port);
    if (std::string why = balancer->Start(); !why.empty()) return fail(why);
  }
  const Millis grace = config.shutdown.grace_period;
  const TerminationOptions termination_options{
      options.native ? PodShape::kNativeSidecar : PodShape::kRegularSidecar, grace,
      plan->propagation_delay, TerminationOptions{}.min_kill_extension};
  // Unbounded load runs until the termination ends (plus a tail); this caps it regardless.
  const Millis termination_cap =
      grace + termination_options.min_kill_extension + Millis(1000) + kRehearseLoadTail;
  LoadOptions load_options;
  load_options.host = balancer ? "127.0.0.1" : plan->app_host;
  load_options.port = balancer ? balancer->port() : plan->app_port;
  load_options.paths = plan->paths;
  load_options.rps = plan->rps;
  load_options.duration = plan->duration.value_or(plan->warmup + termination_cap);
  load_options.request_timeout = kRehearseRequestTimeout;
  err << "lastcall rehearse: " << plan->app_display << "\n"
      << "  " << plan->rps << " requests/s "
      << (balancer ? "through a load balancer" : "straight to the app (--direct)")
      << "; the pod is deleted at T0 = " << FormatOffset(plan->warmup) << " after the load starts"
      << "\n  propagation delay " << FormatDuration(plan->propagation_delay) << ", lb_delay "
      << FormatConfigValue(config, "shutdown.lb_delay") << ", drain.timeout "
      << FormatDuration(config.shutdown.drain.timeout) << ", grace period " << FormatDuration(grace)
      << (options.native ? ", native sidecar" : "") << (plan->push ? ", the app pushes" : "")
      << "\n";
  LoadGenerator load(load_options);
  if (std::string why = load.Start(); !why.empty()) return fail(why);
  const Steady::time_point load_start = load.started_at();

  ProgressDisplay progress(err, terminal);
  LoadSnapshot previous;
  Steady::time_point previous_at = load_start;
  auto show = [&](Millis since_t0, std::string phase) {
    const LoadSnapshot now = load.Snapshot();
    const Steady::time_point at = Steady::now();
    const double seconds = std::chrono::duration<double>(at - previous_at).count();
    const double answered =
        static_cast<double>((now.ok + now.other_replica) - (previous.ok + previous.other_replica));
    progress.Update(ProgressSample{since_t0, std::move(phase), seconds > 0 ? answered / seconds : 0,
                                   now.sent, now.failed, now.in_flight});
    previous = now;
    previous_at = at;
  };
  const Steady::time_point t0 = load_start + plan->warmup;
  while (Steady::now() < t0) {
    show(std::chrono::duration_cast<Millis>(Steady::now() - t0), "warm-up");
    std::this_thread::sleep_until(std::min(t0, Steady::now() + kTick));
  }

  // ---- T0: the kubelet deletes the pod
  const Steady::time_point t0_actual = Steady::now();
  const SysClock::time_point t0_wall = SysClock::now();
  std::vector<std::string> prestop = {self, "prestop", "--control", control, "--quiet"};
  if (!config.token_file.empty())
    prestop.insert(prestop.end(), {"--token-file", config.token_file});
  // The idle process that stands for an app rehearse did not start leads no group.
  EmulatedContainer app_container{"app", app.pid(),
                                  PreStopHook{PreStopHook::Kind::kExec, prestop, "", {}},
                                  !plan->app_argv.empty()};
  std::optional<EmulatedContainer> sidecar_container = EmulatedContainer{
      "lastcall", sidecar.pid(),
      options.native ? PreStopHook{PreStopHook::Kind::kExec, prestop, "", {}} : PreStopHook{},
      true};
  const pid_t app_group = app.pid();
  const pid_t sidecar_group = sidecar.pid();
  app.Release();  // the emulator reaps them from now on
  sidecar.Release();
  Shared shared;
  TerminationReport termination;
  std::thread kubelet([&] {
    termination = EmulatePodDeletion(termination_options, app_container, sidecar_container, [&] {
      {
        std::lock_guard lock(shared.mu);
        shared.endpoint_removed_at = std::chrono::duration_cast<Millis>(Steady::now() - t0_actual);
      }
      if (balancer) balancer->RemoveEndpoint();
    });
    shared.termination_done.store(true, std::memory_order_release);
  });

  std::string phase = "unready";
  std::optional<Steady::time_point> done_at;
  while (true) {
    const Steady::time_point now = Steady::now();
    const bool done = shared.termination_done.load(std::memory_order_acquire);
    if (done && !done_at) done_at = now;
    if (done_at && !plan->duration && now >= *done_at + kRehearseLoadTail) load.StopSending();
    if (done && load.sending_done()) break;
    if (!done) {
      // lastcall's own phase while it answers; after it exited, the last one it reported.
      if (std::string now_phase = SidecarPhaseNow(probe_port); !now_phase.empty()) {
        phase = now_phase;
      }
    } else {
      phase = "pod gone";
    }
    show(std::chrono::duration_cast<Millis>(Steady::now() - t0_actual), phase);
    std::this_thread::sleep_for(kTick);
  }
  std::vector<RequestRecord> records = load.Finish(Steady::now() + kRehearseRequestTimeout);
  kubelet.join();
  // The emulator killed what was left of each group and reaped its leader.
  UnguardProcessGroup(app_group);
  UnguardProcessGroup(sidecar_group);
  show(std::chrono::duration_cast<Millis>(Steady::now() - t0_actual), "done");
  progress.Finish();
  if (balancer) balancer->Stop();

  // ---- the report
  RehearsalInputs inputs;
  inputs.version = kVersion;
  inputs.started_at = FormatUtcTimestamp(t0_wall);
  inputs.settings.app = plan->app_display;
  inputs.settings.app_url = plan->app_url;
  inputs.settings.through_balancer = balancer != nullptr;
  inputs.settings.native_sidecar = options.native;
  inputs.settings.app_pushes = plan->push;
  inputs.settings.app_started = !plan->app_argv.empty();
  inputs.settings.rps = plan->rps;
  inputs.settings.paths = plan->paths;
  inputs.settings.warmup = std::chrono::duration_cast<Millis>(t0_actual - load_start);
  inputs.settings.propagation_delay = plan->propagation_delay;
  inputs.settings.request_timeout = kRehearseRequestTimeout;
  inputs.settings.config_file = sources.yaml_path;
  inputs.settings.config = config;
  inputs.t0_since_load_start = inputs.settings.warmup;
  inputs.requests = std::move(records);
  {
    std::lock_guard lock(shared.mu);
    inputs.endpoint_removed_at = shared.endpoint_removed_at;
  }
  const std::string sidecar_log_text = TailOfFile(sidecar_log, kMaxSidecarLogBytes);
  inputs.lastcall = ParseSidecarPhases(sidecar_log_text, t0_wall);
  inputs.lb_wait = ParseLbWaitRecord(sidecar_log_text, t0_wall);
  inputs.termination = std::move(termination);
  RehearsalReport report = AssembleReport(inputs);
  report.advice = Advise(report);

  out << "\n" << FormatSummary(report);
  int status = report.passed() ? kExitDrained : kExitTimedOut;
  if (!WriteReports(report, options.reports, out, err)) status = kExitRuntimeError;
  if (!report.passed()) {
    keep_dir = true;
    out << "logs: " << (plan->app_argv.empty() ? "" : app_log + " (the app), ") << sidecar_log
        << " (lastcall)\n";
  }
  return status;
}

namespace {

Finish DefineRehearse(CLI::App* app, const Env& env, RehearseOptions* target) {
  // rehearse gives the lastcall it runs a probe port, a control socket and a log format of its own.
  ConfigFlags flags = AddConfigFlags(app, {"listen", "control", "state-file", "log-format"});
  const std::string group = "Rehearsal";
  auto option = [&](const std::string& name, const std::string& value_name,
                    const std::string& help) {
    return app->add_option(name)
        ->description(Wrap(help, kHelpTextWidth))
        ->type_name(value_name)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
        ->group(group);
  };
  CLI::Option* app_cmd = option(
      "--app-cmd", "\"CMD ARGS\"",
      "start the app with this command (split into words like a shell, but not run by one); "
      "{port} in it is replaced by a free port that rehearse then targets\n(default: the bundled "
      "example app, with lastcall's defaults scaled down to seconds)");
  CLI::Option* app_url = option("--app-url", "URL",
                                "where the app listens, http://127.0.0.1:PORT; without --app-cmd, "
                                "an app already running there\n(default http://127.0.0.1:8080)");
  CLI::Option* rps = option("--rps", "N",
                            "requests per second, open loop: sent on schedule whatever the "
                            "answers (1 to " +
                                std::to_string(kMaxRehearseRps) + "; default " +
                                std::to_string(kDefaultRehearseRps) + ")");
  CLI::Option* duration = option(
      "--duration", "DURATION",
      "how long to send load, warm-up included (default: until the termination ended; 6s for the "
      "example app; at most " +
          FormatDuration(kMaxRehearseDuration) + ")");
  CLI::Option* paths = option("--paths", "/A,/B",
                              "request targets, used in turn (default / ; for the example app "
                              "/work?ms=5,/work?ms=800)");
  CLI::Option* propagation = option(
      "--propagation-delay", "DURATION",
      "how long after the deletion the load balancer stops routing new connections to the pod, "
      "the delay lastcall must survive (default 1s; 500ms for the example app)");
  CLI::Option* native = app->add_flag("--native")
                            ->description(Wrap("run lastcall as a native sidecar (an init "
                                               "container with restartPolicy: Always)",
                                               kHelpTextWidth))
                            ->group(group);
  CLI::Option* direct = app->add_flag("--direct")
                            ->description(Wrap("send the load straight to the app, with no load "
                                               "balancer in front (nothing stops the traffic)",
                                               kHelpTextWidth))
                            ->group(group);
  CLI::Option* push = app->add_flag("--push")
                          ->description(Wrap("the app says when it is drained: POST /drained on "
                                             "lastcall's control endpoint (then on loopback TCP); "
                                             "the bundled app does it, your own takes the URL "
                                             "where --app-cmd says " +
                                                 std::string(kDrainedUrlPlaceholder),
                                             kHelpTextWidth))
                          ->group(group);
  CLI::Option* report = app->add_option("--report")
                            ->description(Wrap("write the report to FILE.html (a page with a "
                                               "timeline picture) or FILE.json; repeatable "
                                               "(default " +
                                                   std::string(kDefaultReportPath) + ")",
                                               kHelpTextWidth))
                            ->type_name("FILE")
                            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                            ->group(group);
  app->footer(
      "Starts the app and lastcall, sends load, plays the kubelet deleting the pod (preStop "
      "hooks,\nendpoint removal after the propagation delay, SIGTERM, SIGKILL at the end of the "
      "grace\nperiod) and reports what was lost, the phases, and what to change.\n" +
      std::string(kConfigFooter) +
      "Exit codes: 0 nothing lost and the app exited inside the grace period, 1 otherwise,\n"
      "2 usage or configuration error, 3 the rehearsal could not run.");
  return [=, &env](ParsedCommand* out) {
    RehearseOptions& options = *target;
    CollectConfigSources(flags, env, &options.config);
    auto bad = [&](const CLI::Option* which, const std::string& problem) {
      SetUsageError(out, "rehearse",
                    "flag " + which->get_name() + ": " + problem + " (got " +
                        Quote(which->results().back()) + ")");
    };
    std::string error;
    if (app_cmd->count() > 0) {
      std::optional<std::vector<std::string>> words =
          SplitCommandLine(app_cmd->results().back(), &error);
      if (!words) return bad(app_cmd, error);
      options.app_command = std::move(*words);
    }
    if (app_url->count() > 0) options.app_url = app_url->results().back();
    if (rps->count() > 0) {
      const std::string& text = rps->results().back();
      int value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size() || value < 1 ||
          value > kMaxRehearseRps) {
        return bad(rps, "expected a whole number from 1 to " + std::to_string(kMaxRehearseRps));
      }
      options.rps = value;
    }
    auto parse_duration = [&](const CLI::Option* which, Millis max) -> std::optional<Millis> {
      std::optional<Millis> value = ParseDuration(which->results().back(), &error);
      if (value && *value > max) {
        error = "at most " + FormatDuration(max);
        value.reset();
      }
      if (!value) bad(which, error);
      return value;
    };
    if (duration->count() > 0) {
      options.duration = parse_duration(duration, kMaxRehearseDuration);
      if (!options.duration) return;
    }
    if (propagation->count() > 0) {
      options.propagation_delay = parse_duration(propagation, kMaxPropagationDelay);
      if (!options.propagation_delay) return;
    }
    if (paths->count() > 0) {
      std::optional<std::vector<std::string>> list = ParsePathList(paths->results().back(), &error);
      if (!list) return bad(paths, error);
      options.paths = std::move(*list);
    }
    options.native = native->count() > 0;
    options.direct = direct->count() > 0;
    options.push = push->count() > 0;
    for (const std::string& path : report->results()) {
      if (std::string problem = ValidateReportPath(path); !problem.empty()) {
        return SetUsageError(out, "rehearse", "flag --report: " + problem);
      }
      options.reports.push_back(path);
    }
  };
}

}  // namespace

Subcommand RehearseSubcommand(RehearseOptions* options) {
  return {"rehearse", "Rehearse a pod's termination here, under load, with a report",
          [options](CLI::App* app, const Env& env) {
            return ThenRun(DefineRehearse(app, env, options), [options](const CommandIo& io) {
              return RunRehearse(*options, io.out, io.err, io.err_is_terminal);
            });
          }};
}

}  // namespace lastcall

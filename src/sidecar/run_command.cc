#include "sidecar/run_command.h"

#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "base/exit_status.h"
#include "base/last_resort.h"
#include "base/logging.h"
#include "base/signals.h"
#include "base/token_file.h"
#include "config/budget.h"
#include "config/config_keys.h"
#include "http/http_server.h"
#include "kubeapi/api_watch_source.h"
#include "monitors/background_request.h"
#include "monitors/monitor.h"
#include "monitors/port_listeners.h"
#include "monitors/traffic_observer.h"
#include "sequence/readiness_gate.h"
#include "sidecar/cluster_client.h"
#include "sidecar/cluster_endpoint_view.h"
#include "sidecar/control_service.h"
#include "sidecar/coordinator.h"
#include "sidecar/kube_events.h"
#include "sidecar/metrics.h"
#include "sidecar/probe_service.h"
#include "sidecar/proxy_quit.h"
#include "sidecar/sequence_listeners.h"
#include "sidecar/state_file.h"
#include "sidecar/state_resume.h"
#include "sidecar/url_check.h"
#include "version.h"

namespace lastcall {
namespace {

// The drain monitor with its own HTTP client and file reader, shared by every poll's thread.
struct MonitorParts {
  explicit MonitorParts(const Config& config)
      : http(config.max_body_bytes), monitor(MakeMonitor(config, http, files)) {}
  PosixHttpClient http;
  PosixFileReader files;
  std::unique_ptr<DrainMonitor> monitor;
};

HttpServerOptions ProbeServerOptions() {
  HttpServerOptions options;
  options.name = "probe";
  options.max_connections = 2048;  // slow clients are evicted first; see http_server.h
  // Left for the control listener, outbound trigger/monitor connections and the state file.
  options.reserved_descriptors = 64;
  options.request_timeout = std::chrono::seconds(5);
  options.idle_timeout = std::chrono::seconds(30);
  return options;
}

HttpServerOptions ControlServerOptions() {
  HttpServerOptions options;
  options.name = "control";
  options.max_connections = 256;
  options.reserved_descriptors = 16;  // outbound trigger/monitor connections, the state file
  options.request_timeout = std::chrono::seconds(5);
  options.idle_timeout = std::chrono::seconds(30);
  options.unix_socket_mode = 0660;
  return options;
}

}  // namespace

int RunSidecar(const Config& config, const std::optional<std::string>& token) {
  const std::vector<int>& signals = config.shutdown.signals;
  SignalWatcher watcher(signals);  // first: every thread below inherits the blocked mask
  RaiseFileLimit();
  // An app's large answer (up to max_body) is read into one buffer and freed after the poll.
  // glibc raises its mmap threshold after such a free, and later large buffers then come from
  // the heap, which keeps them resident: a fixed threshold returns every large buffer to the
  // kernel, so memory stays at its bound poll after poll.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  // One heap for every thread: the in_flight sampler and the sequence thread take turns at the
  // same large snapshots, and per-thread arenas would each keep their own freed copy resident
  // (a socket flood measured 17.5 MiB with them, under the 16 MiB target without). lastcall's
  // few threads never contend for it.
  mallopt(M_ARENA_MAX, 1);
  // Under a memory limit: no SIGABRT from an exception nobody caught, and room for the lines and
  // the answers that report running out (last_resort.h).
  InstallTerminateHandler();
  ReserveEmergencyMemory();

  PosixHttpClient http(config.max_body_bytes);  // the readiness upstream
  PosixFileReader files;
  // The monitor, and what it polls through, live as long as the last poll: a poll abandoned when
  // the drain ended (the app pushed) runs on until its deadline, perhaps past our return.
  const auto parts = std::make_shared<MonitorParts>(config);
  const std::shared_ptr<DrainMonitor> monitor(parts, parts->monitor.get());
  Metrics metrics;
  metrics.SetDrainTimeout(std::chrono::duration<double>(config.shutdown.drain.timeout).count());
  SteadyClock clock;
  ThreadedPoll polls(monitor, clock);
  // A state location lastcall cannot trust is a configuration problem: refusing to start says so
  // where running without state would let a restart mid-termination report ready.
  const std::string state_path = config.EffectiveStateFile();
  std::unique_ptr<FileSequenceStore> store;
  if (!state_path.empty()) {
    const bool own = config.state_file.empty();
    Expected<std::unique_ptr<FileSequenceStore>> opened =
        FileSequenceStore::Open(state_path, own ? StateDirectory::kOwn : StateDirectory::kGiven);
    if (!opened.ok()) {
      LogError(
          fmt::format(
              "refusing to start: the state file's directory {}. {}", opened.status().message(),
              own ? "lastcall keeps its state in a directory beside the control socket that "
                    "it creates mode 0700 and that must be its alone: remove the one in the "
                    "way, or set state_file"
                  : "Choose a directory only lastcall's user can write (or a sticky one)"),
          {{"path", state_path}});
      return kExitUsage;
    }
    store = std::move(opened).value();
  }
  ThreadedBackgroundRequest trigger_calls(std::make_shared<PosixHttpClient>(config.max_body_bytes),
                                          clock);

  // lb_delay auto watches the app's ports through the kernel; the observer lives on the sequence
  // thread only.
  std::unique_ptr<TrafficObserver> traffic;
  if (config.shutdown.lb_delay.is_auto()) {
    traffic = MakeKernelTrafficObserver(
        config.shutdown.drain.monitor.ports, files, [](const std::string& why) {
          LogWarn(
              "lb_delay auto: sock_diag refused, so keep-alive traffic is invisible: any "
              "open connection counts as traffic",
              {{"detail", why}});
        });
  }
  // The coordinator runs the sequence; the state file, the metrics, the log and the report
  // (/status, the preStop answer) listen to it, in that order: what a restart needs is on disk
  // before anyone reads of it.
  EventLog event_log(config.log.format);
  SequenceReporter reporter(config.shutdown.Budget());
  SequenceMetrics sequence_metrics(metrics);
  std::optional<StatePersister> persister;
  if (store) persister.emplace(*store);
  // The Kubernetes Event of each outcome: sent on its own thread, so it starts before the report
  // answers a waiting preStop hook and the exit waits for it at most kEventBudget.
  const std::unique_ptr<kubeapi::KubeClient> kube_client = MakeKubeClient(config.kube_api);
  std::optional<kubeapi::EventSender> event_sender;
  std::optional<KubeEventReporter> kube_events;
  if (kube_client) {
    event_sender.emplace(*kube_client);
    kube_events.emplace([&event_sender](const kubeapi::EventSpec& spec, kubeapi::Deadline by) {
      return event_sender->Send(spec, by);
    });
  }
  // The cluster's view of the pod's endpoint, with the same client: the EndpointSlice watch runs
  // from each trigger to its exit, lb_delay auto waits for it, and every sequence records when
  // the slices dropped the pod (the client exists only with the pod's namespace and UID).
  ShutdownCoordinator* removal_sink = nullptr;  // the coordinator, once built: before any trigger
  std::optional<kubeapi::ApiWatchSource> slice_source;
  std::optional<ClusterEndpointView> endpoint_view;
  if (kube_client) {
    slice_source.emplace(*kube_client);
    kubeapi::EndpointWatchSettings watch_settings;
    watch_settings.namespace_name = kube_client->settings().pod_namespace;
    watch_settings.pod_uid = kube_client->settings().pod_uid;
    // The LB wait gives the first list endpoint_wait: one raised past the default list timeout
    // (a slow API server) gets that long for each page too.
    if (const LbDelay::Auto* lb_auto = config.shutdown.lb_delay.auto_settings()) {
      watch_settings.list_timeout = std::max(watch_settings.list_timeout, lb_auto->endpoint_wait);
    }
    endpoint_view.emplace(
        *slice_source, std::move(watch_settings),
        [&removal_sink](Clock::time_point at, int slices, const std::string& detail) {
          if (removal_sink) removal_sink->OnEndpointRemoved(at, slices, detail);
        });
  }
  std::vector<SequenceListener*> listeners;
  if (persister) listeners.push_back(&*persister);
  listeners.push_back(&sequence_metrics);
  listeners.push_back(&event_log);
  if (kube_events) listeners.push_back(&*kube_events);
  listeners.push_back(&reporter);
  // Last: at the exit it waits for the watch's thread (a stop ends its request at once).
  if (endpoint_view) listeners.push_back(&*endpoint_view);
  ShutdownCoordinator coordinator(config, clock, trigger_calls, *monitor, std::move(listeners),
                                  traffic.get(), {}, &polls);
  // on_removed calls the coordinator: on every way out, the watch ends before the coordinator.
  struct StopViewFirst {
    std::optional<ClusterEndpointView>& view;
    ~StopViewFirst() {
      if (view) view->Stop();
    }
  } stop_view_first{endpoint_view};
  if (endpoint_view) {
    coordinator.SetEndpointView(&*endpoint_view);
    removal_sink = &coordinator;
  }
  SetLogPhaseSource(&coordinator.phase_source());

  // A sequence in progress when we last died goes on: a pod that is going away must not see us
  // come back ready.
  if (store) {
    if (const Expected<Resumed> resumed = ResumeFromStateFile(*store, config, coordinator);
        !resumed.ok()) {
      LogError("refusing to start: " + resumed.status().message(), {{"path", state_path}});
      SetLogPhaseSource(nullptr);
      return kExitUsage;
    }
  }

  // The gate's thread, too, has nobody to throw to (a non-owning pointer: `http` outlives it).
  NoThrowHttpClient gate_http(std::shared_ptr<HttpClient>(std::shared_ptr<HttpClient>(), &http));
  std::unique_ptr<ReadinessGate> gate;
  if (config.readiness.upstream) {
    gate = std::make_unique<ReadinessGate>(config.readiness, gate_http);
  }
  std::unique_ptr<TokenFile> token_file;
  if (token) token_file = std::make_unique<TokenFile>(config.token_file);
  ControlService control_service(coordinator, reporter, token_file.get());
  const PendingSignals pending(signals);
  ProbeService probe_service(coordinator, reporter, metrics, gate.get(),
                             token ? &control_service : nullptr,
                             [&pending] { return pending.AnyPending(); });

  HttpServer probe_server(ProbeServerOptions(),
                          [&probe_service](const ServerRequest& request, Responder respond) {
                            probe_service.Handle(request, respond);
                          });
  HttpServer control_server(ControlServerOptions(),
                            [&control_service](const ServerRequest& request, Responder respond) {
                              control_service.Handle(request, respond);
                            });
  if (std::string error = probe_server.Listen(config.listen.value); !error.empty()) {
    LogError("cannot open the probe listener", {{"error", error}});
    SetLogPhaseSource(nullptr);
    return kExitRuntimeError;
  }
  if (std::string error = control_server.Listen(config.control.value); !error.empty()) {
    LogError("cannot open the control listener", {{"error", error}});
    SetLogPhaseSource(nullptr);
    return kExitRuntimeError;
  }
  probe_server.Start();
  control_server.Start();
  if (gate) gate->Start();
  watcher.Start([&coordinator, &signals](int signo) {
    const bool terminates = std::find(signals.begin(), signals.end(), signo) != signals.end();
    try {
      if (terminates) {
        coordinator.OnTerminationSignal(SignalName(signo));
      } else {
        LogWarn("ignoring a signal that is not in shutdown.signals",
                {{"signal", SignalName(signo)}});
      }
    } catch (...) {
      // Out of memory on the signal thread: the signal must still count, or lastcall would
      // wait for one that already came until the kubelet kills it.
      if (terminates) coordinator.OnTerminationSignalFailed();
      WriteFatalLine("lastcall: error: out of memory while handling a signal; it still counts");
    }
  });

  // After the listeners, off this thread: warns about a URL nobody listens on while the app
  // listens on the other loopback family, now or once the app starts.
  const std::unique_ptr<ListeningTable> url_table = MakeKernelListeningTable(files);
  StartupUrlCheck url_check(config, *url_table, coordinator.phase_source());
  url_check.Start();

  LogInfo("lastcall started",
          {{"version", kVersion},
           {"listen", config.listen.value.ToString()},
           {"probe_port", static_cast<int>(config.listen.value.is_unix ? 0 : probe_server.port())},
           {"control", config.control.value.ToString()},
           {"monitor", monitor->kind()},
           {"lb_delay_ms", static_cast<long long>(config.shutdown.lb_delay.bound().count())},
           {"drain_timeout_ms", static_cast<long long>(config.shutdown.drain.timeout.count())},
           {"token", token.has_value()}});

  const int status = coordinator.WaitForExit();
  // Before the mesh proxy quits: the Event's request may go through it.
  if (kube_events) kube_events->AwaitSent(std::chrono::steady_clock::now() + kEventBudget);
  // A sequence ended: the mesh proxy need not outlive us (bounded, best effort; proxy_quit.h).
  if (status != kExitRuntimeError) AskProxyToQuit(config.shutdown.proxy_quit, http);
  watcher.Stop();
  if (gate) gate->Stop();
  control_server.Stop();
  probe_server.Stop();
  SetLogPhaseSource(nullptr);
  return status;
}

// ---- `lastcall run`: the command line and start-up, before RunSidecar --------------------------

namespace {

Finish DefineRun(CLI::App* app, const Env& env, ConfigSources* sources) {
  ConfigFlags flags = AddConfigFlags(app);
  app->footer(std::string(kConfigFooter) +
              "Exit codes: 0 drained, 1 drain timed out or failed, 2 configuration error,\n"
              "3 runtime error (port in use, ...).");
  return
      [flags, &env, sources](ParsedCommand* /*out*/) { CollectConfigSources(flags, env, sources); };
}

// The Kubernetes API settings when the configuration itself was refused: the flags and the
// environment as given (a config file that did not load cannot say; the service account's
// mounted files are the default). Best effort, for the ConfigRefused Event only.
Config::KubeApi KubeApiOf(const ConfigSources& sources) {
  // The key table's own names and setters, environment first and flags over it, as the loader
  // orders them; a value the setter refuses leaves the default.
  Config config;
  for (const KeySpec& spec : KeySpecs()) {
    if (!spec.info.key.starts_with("kube_api.") || spec.set_scalar == nullptr) continue;
    if (const auto env = sources.env.find(spec.info.env); env != sources.env.end()) {
      spec.set_scalar(config, env->second);
    }
    for (const FlagValue& flag : sources.flags) {
      if (flag.name == spec.info.flag || flag.name == spec.info.key) {
        spec.set_scalar(config, flag.value);
      }
    }
  }
  return config.kube_api;
}

// Start-up, where configuration errors are exceptions caught once (exit 2); then RunSidecar.
int StartSidecar(ConfigSources sources, const CommandIo& io) {
  std::ostringstream explained;
  const std::optional<LoadedConfig> loaded = LoadConfigOrExplain(&sources, "lastcall", explained);
  io.err << explained.str();
  if (!loaded) {
    ReportConfigRefused(KubeApiOf(sources), explained.str());
    return kExitUsage;
  }
  const Config& config = loaded->config;
  const Budget budget = ComputeBudget(config);
  if (budget.drain_room() <= Millis{0}) {
    // The sequence would spend the whole grace period waiting and never call or poll the app:
    // refuse, as `check` does, with the numbers.
    const std::string error =
        "lastcall: configuration error:\n  the timing budget leaves the draining phase no time: " +
        FormatBudget(budget) + "\n";
    io.err << error;
    ReportConfigRefused(config.kube_api, error);
    return kExitUsage;
  }
  std::optional<std::string> token;
  std::vector<std::string> warnings = loaded->warnings;
  InitLogging(config.log.format, config.log.level);
  try {
    if (!config.token_file.empty()) token = ReadTokenFile(config.token_file, &warnings);
  } catch (const std::exception& e) {
    io.err << "lastcall: configuration error:\n  " << e.what() << "\n";
    ReportConfigRefused(config.kube_api, e.what());
    return kExitUsage;
  }
  for (const auto& warning : warnings) LogWarn(warning);
  if (!budget.fits()) {
    // `check` refuses this; `run` goes on, because the sequence cuts itself short before the
    // grace period ends anyway, but says so loudly.
    LogWarn("the timing budget does not fit the grace period", {{"budget", FormatBudget(budget)}});
  }
  return RunSidecar(config, token);
}

}  // namespace

Subcommand RunSubcommand(ConfigSources* sources) {
  return {"run", "The sidecar: on a signal or preStop, go unready, wait, drain, exit",
          [sources](CLI::App* app, const Env& env) {
            return ThenRun(DefineRun(app, env, sources),
                           [sources](const CommandIo& io) { return StartSidecar(*sources, io); });
          }};
}

}  // namespace lastcall

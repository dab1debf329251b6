#include "run_command.h"

#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "background_request.h"
#include "control_service.h"
#include "coordinator.h"
#include "exit_status.h"
#include "http_server.h"
#include "last_resort.h"
#include "logging.h"
#include "metrics.h"
#include "monitor.h"
#include "probe_service.h"
#include "readiness_gate.h"
#include "signals.h"
#include "state_file.h"
#include "token_file.h"
#include "traffic_observer.h"
#include "version.h"

namespace lastcall {
namespace {

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
  // Under a memory limit: no SIGABRT from an exception nobody caught, and room for the lines and
  // the answers that report running out (last_resort.h).
  InstallTerminateHandler();
  ReserveEmergencyMemory();

  PosixHttpClient http(config.max_body_bytes);  // monitors, trigger and readiness upstream
  PosixFileReader files;
  const std::unique_ptr<DrainMonitor> monitor = MakeMonitor(config, http, files);
  Metrics metrics;
  SteadyClock clock;
  const std::string state_path = StateFilePath(config);
  std::unique_ptr<FileSequenceStore> store;
  if (!state_path.empty()) {
    store = std::make_unique<FileSequenceStore>(state_path);
    store->WarnIfDirectoryShared();
  }
  ThreadedBackgroundRequest trigger_calls(std::make_shared<PosixHttpClient>(config.max_body_bytes),
                                          clock);

  // lb_delay auto watches the app's ports through the kernel; the observer lives on the sequence
  // thread only.
  std::unique_ptr<TrafficObserver> traffic;
  if (config.shutdown.lb_auto.enabled) {
    traffic = MakeKernelTrafficObserver(
        config.shutdown.drain.monitor.ports, files, [](const std::string& why) {
          LogWarn(
              "lb_delay auto: sock_diag refused, so keep-alive traffic is invisible: any "
              "open connection counts as traffic",
              {{"detail", why}});
        });
  }
  ShutdownCoordinator coordinator(config, clock, trigger_calls, *monitor, metrics, store.get(),
                                  traffic.get());
  SetLogPhaseSource(&coordinator.phase_source());

  // A sequence in progress when we last died goes on: a pod that is going away must not see us
  // come back ready.
  if (store) ResumeFromStateFile(*store, config, coordinator);

  // The gate's thread, too, has nobody to throw to (a non-owning pointer: `http` outlives it).
  NoThrowHttpClient gate_http(std::shared_ptr<HttpClient>(std::shared_ptr<HttpClient>(), &http));
  std::unique_ptr<ReadinessGate> gate;
  if (config.readiness.upstream) {
    gate = std::make_unique<ReadinessGate>(config.readiness, gate_http);
  }
  std::unique_ptr<TokenFile> token_file;
  if (token) token_file = std::make_unique<TokenFile>(config.token_file);
  ControlService control_service(coordinator, token_file.get());
  const PendingSignals pending(signals);
  ProbeService probe_service(coordinator, metrics, gate.get(), token ? &control_service : nullptr,
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

  LogInfo("lastcall started",
          {{"version", kVersion},
           {"listen", config.listen.value.ToString()},
           {"probe_port", static_cast<int>(config.listen.value.is_unix ? 0 : probe_server.port())},
           {"control", config.control.value.ToString()},
           {"monitor", monitor->kind()},
           {"lb_delay_ms", static_cast<long long>(config.shutdown.lb_delay.count())},
           {"drain_timeout_ms", static_cast<long long>(config.shutdown.drain.timeout.count())},
           {"token", token.has_value()}});

  const int status = coordinator.WaitForExit();
  watcher.Stop();
  if (gate) gate->Stop();
  control_server.Stop();
  probe_server.Stop();
  SetLogPhaseSource(nullptr);
  return status;
}

}  // namespace lastcall

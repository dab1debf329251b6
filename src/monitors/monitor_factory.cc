#include "monitors/monitor.h"
#include "monitors/port_listeners.h"

namespace lastcall {

std::unique_ptr<DrainMonitor> MakeMonitor(const Config& config, HttpClient& http,
                                          FileReader& files) {
  // A refused poll of a URL proves nothing alone: the kernel's listening table decides whether
  // the app is gone (port_listeners.h).
  auto checked = [&](std::unique_ptr<DrainMonitor> monitor) {
    return WithGoneCheck(std::move(monitor), config.EffectiveMonitorUrl(),
                         MakeKernelListeningTable(files));
  };
  switch (config.shutdown.drain.monitor.kind) {
    case MonitorKind::kStatus:
      return checked(MakeStatusMonitor(config, http));
    case MonitorKind::kJson:
      return checked(MakeJsonMonitor(config, http));
    case MonitorKind::kPrometheus:
      return checked(MakePrometheusMonitor(config, http));
    case MonitorKind::kConnections:
      return MakeConnectionsMonitor(config, files);
    case MonitorKind::kNone:
      return MakeNoneMonitor();
  }
  return MakeNoneMonitor();
}

}  // namespace lastcall

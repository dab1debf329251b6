#include "monitor.h"

namespace lastcall {

std::unique_ptr<DrainMonitor> MakeMonitor(const Config& config, HttpClient& http,
                                          FileReader& files) {
  switch (config.shutdown.drain.monitor.kind) {
    case MonitorKind::kStatus:
      return MakeStatusMonitor(config, http);
    case MonitorKind::kJson:
      return MakeJsonMonitor(config, http);
    case MonitorKind::kPrometheus:
      return MakePrometheusMonitor(config, http);
    case MonitorKind::kConnections:
      return MakeConnectionsMonitor(config, files);
    case MonitorKind::kNone:
      return MakeNoneMonitor();
  }
  return MakeNoneMonitor();
}

}  // namespace lastcall

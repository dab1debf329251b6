#pragma once

#include <functional>

#include "http/http_server.h"
#include "sequence/readiness_gate.h"
#include "sidecar/control_service.h"
#include "sidecar/coordinator.h"
#include "sidecar/metrics.h"

// The probe listener's routes: /readyz, /livez, /status, /metrics, and /prestop when a token
// is configured (for the kubelet's httpGet hooks, which reach the pod IP, not a Unix socket).
namespace lastcall {

class ProbeService {
 public:
  // `gate` and `control` may be null (no upstream gating; /prestop not served here).
  // `shutdown_pending`, when given, says a shutdown signal arrived that the coordinator has not
  // taken yet (PendingSignals): /readyz is 503 from then on.
  ProbeService(ShutdownCoordinator& coordinator, const SequenceReporter& reporter, Metrics& metrics,
               const ReadinessGate* gate, ControlService* control,
               std::function<bool()> shutdown_pending = {});

  void Handle(const ServerRequest& request, const Responder& respond);

 private:
  ServerResponse Readyz() const;

  ShutdownCoordinator& coordinator_;
  const SequenceReporter& reporter_;
  Metrics& metrics_;
  const ReadinessGate* gate_;
  ControlService* control_;
  std::function<bool()> shutdown_pending_;
};

}  // namespace lastcall

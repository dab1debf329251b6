#include "sidecar/probe_service.h"

namespace lastcall {
ProbeService::ProbeService(ShutdownCoordinator& coordinator, const SequenceReporter& reporter,
                           Metrics& metrics, const ReadinessGate* gate, ControlService* control,
                           std::function<bool()> shutdown_pending)
    : coordinator_(coordinator),
      reporter_(reporter),
      metrics_(metrics),
      gate_(gate),
      control_(control),
      shutdown_pending_(std::move(shutdown_pending)) {}

ServerResponse ProbeService::Readyz() const {
  const Phase phase = coordinator_.phase();
  if (phase != Phase::kServing) return TextResponse(503, std::string(ToString(phase)));
  // The signal is here, the watcher thread has not read it yet: it will start the sequence.
  if (shutdown_pending_ && shutdown_pending_()) {
    return TextResponse(503, std::string(ToString(Phase::kUnready)));
  }
  if (gate_ != nullptr && !gate_->healthy()) return TextResponse(503, gate_->reason());
  return TextResponse(200, "ok");
}

void ProbeService::Handle(const ServerRequest& request, const Responder& respond) {
  const std::string& path = request.path;
  if ((path == "/prestop" || path == "/drained") && control_ != nullptr) {
    control_->Handle(request, respond);
    return;
  }
  // Only known paths become label values: a scanner must not grow the metrics without bound.
  const bool known =
      path == "/readyz" || path == "/livez" || path == "/status" || path == "/metrics";
  const std::string_view label = known ? std::string_view(path) : "other";
  ServerResponse response;
  if (request.method != "GET" && request.method != "HEAD") {
    response = TextResponse(405, "use GET");
    response.headers.emplace_back("Allow", "GET, HEAD");
  } else if (path == "/readyz") {
    response = Readyz();
  } else if (path == "/livez") {
    // Live until exit, draining included: the kubelet must not restart us mid-drain.
    response = TextResponse(200, "ok");
  } else if (path == "/status") {
    response = ReportResponse(200, LiveReport(coordinator_, reporter_));
  } else if (path == "/metrics") {
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    metrics_.CountProbe(path, 200);
    response.body = metrics_.Render();
    respond(std::move(response));
    return;
  } else {
    response = TextResponse(404, "not found");
  }
  metrics_.CountProbe(label, response.status);
  respond(std::move(response));
}

}  // namespace lastcall

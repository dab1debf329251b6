#pragma once

// Hand-made rehearsal inputs for the report, advice and HTML tests: a regular-sidecar rehearsal
// of the example app in which lastcall drained in 0.9 s and the app exited at +2.1 s. Test-only.
#include <string>

#include "rehearse_report.h"

namespace lastcall::testing {

// A request sent and finished at these milliseconds since the load started (T0 is at 1000).
inline RequestRecord Record(long long sent, long long finished, RequestOutcome outcome,
                            int status = 200, uint16_t path_index = 0) {
  RequestRecord record;
  record.sent_at = Millis(sent);
  record.finished_at = Millis(finished);
  record.outcome = outcome;
  record.status = IsFailure(outcome) && outcome != RequestOutcome::kNon2xx ? 0 : status;
  record.path_index = path_index;
  return record;
}

inline RehearsalInputs MakeInputs() {
  RehearsalInputs inputs;
  inputs.version = "0.1.0";
  inputs.started_at = "2026-11-24T10:00:00.000Z";
  RehearsalSettings& settings = inputs.settings;
  settings.app = "drainable_app --listen 127.0.0.1:40000";
  settings.app_url = "http://127.0.0.1:40000";
  settings.rps = 100;
  settings.paths = {"/work?ms=800", "/work?ms=5"};
  settings.warmup = Millis(1000);
  settings.propagation_delay = Millis(500);
  settings.config.shutdown.lb_delay = LbDelay::Fixed{Millis(1000)};
  settings.config.shutdown.drain.timeout = Millis(5000);
  settings.config.shutdown.grace_period = Millis(10000);
  inputs.t0_since_load_start = Millis(1000);
  inputs.endpoint_removed_at = Millis(500);
  inputs.lastcall = {{"unready", Millis(0), "triggered by signal", "", ""},
                     {"draining", Millis(1000), "timeout 5s", "", ""},
                     {"drained", Millis(1900), "drained: 200", "monitor", "200"}};
  TerminationReport& termination = inputs.termination;
  termination.timeline = {{Millis(0), "", "pod deleted", ""},
                          {Millis(0), "app", "prestop started", ""},
                          {Millis(0), "lastcall", "SIGTERM", ""},
                          {Millis(500), "", "endpoint removed", ""},
                          {Millis(1900), "app", "prestop returned", "exit 0"},
                          {Millis(2000), "app", "SIGTERM", ""},
                          {Millis(2050), "lastcall", "exited", "code 0"},
                          {Millis(2100), "app", "exited", "code 0"}};
  termination.app.name = "app";
  termination.app.exit_code = 0;
  termination.app.exited_at = Millis(2100);
  termination.app.hook_result = 0;
  termination.app.hook_returned_at = Millis(1900);
  ContainerOutcome sidecar;
  sidecar.name = "lastcall";
  sidecar.exit_code = 0;
  sidecar.exited_at = Millis(2050);
  termination.sidecar = sidecar;
  termination.total = Millis(2100);
  return inputs;
}

}  // namespace lastcall::testing

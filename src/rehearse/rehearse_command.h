#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/subcommand.h"
#include "config/config_loader.h"
#include "rehearse_options.h"

// `lastcall rehearse`: rehearses a pod's termination on this machine, against any app, under load.
//
// It starts the app (or uses one already running), starts `lastcall run` beside it (this same
// binary, on a free probe port and a private control socket), sends an open-loop load through a
// built-in load balancer that behaves like kube-proxy (rehearse_balancer.h), and after a warm-up
// plays the kubelet deleting the pod (kubelet_emulator.h): the app's preStop hook runs
// `lastcall prestop`, the endpoint removal reaches the balancer after the propagation delay, then
// SIGTERM, and SIGKILL at the end of the grace period. It shows progress while it runs, then
// prints a summary with advice and writes the report (HTML with a timeline picture, or JSON).
//
// With no arguments it rehearses the bundled example app (examples/drainable_app beside the
// binary, or LASTCALL_EXAMPLE_APP) with lastcall's defaults scaled down to seconds.
namespace lastcall {

// The scaled-down defaults of a rehearsal of the bundled example app (each applies only where
// the configuration leaves the value at lastcall's default).
inline constexpr Millis kDemoLbDelay{1000};
inline constexpr Millis kDemoLbAutoMax{3000};  // lb_delay auto's bound, inside the demo's grace
inline constexpr Millis kDemoDrainTimeout{5000};
inline constexpr Millis kDemoGracePeriod{10000};
inline constexpr Millis kDemoPropagationDelay{500};
inline constexpr Millis kDemoDuration{6000};
inline constexpr const char* kDemoPaths = "/work?ms=5,/work?ms=800";

inline constexpr Millis kDefaultPropagationDelay{1000};
inline constexpr Millis kRehearseWarmup{1000};  // load start -> T0
inline constexpr Millis kRehearseRequestTimeout{10000};
inline constexpr Millis kRehearseLoadTail{500};  // load after the termination, when unbounded

// What a rehearsal will do, decided from the options and the loaded configuration before
// anything starts.
struct RehearsalPlan {
  std::vector<std::string> app_argv;  // empty: the app already runs at app_url
  std::string app_display;            // the command line (or "already running") for the report
  bool bundled_app = false;
  std::string app_host = "127.0.0.1";  // an IP literal
  uint16_t app_port = 8080;
  std::string app_url;  // http://HOST:PORT
  // Flags added to the user's for `lastcall run` (and for the effective configuration): the
  // scaled-down defaults of the bundled app, and the drain URL and monitor port when rehearse
  // picked the app's port. Each sets only a key still at its default.
  std::vector<FlagValue> sidecar_flags;
  // --push: lastcall's control endpoint listens on loopback TCP, and kDrainedUrlPlaceholder in
  // app_argv is to be replaced by its /drained URL once the port is known.
  bool push = false;
  int rps = kDefaultRehearseRps;
  std::optional<Millis> duration;  // unset: until the termination ended, plus a short tail
  std::vector<std::string> paths;
  Millis propagation_delay = kDefaultPropagationDelay;
  Millis warmup = kRehearseWarmup;
};

// Decides the plan. `example_app` is the bundled app's path; `free_port` a port rehearse may
// give the app (bundled app, or {port} in --app-cmd). Returns nullopt and sets *error (a
// sentence naming the flag) on contradictions: --app-url together with {port}, an --app-url that
// is not http on a loopback address, a duration shorter than twice the warm-up, --push for an
// app that cannot be told where to push (neither the bundled app nor {drained_url}). Pure.
std::optional<RehearsalPlan> PlanRehearsal(const RehearseOptions& options,
                                           const LoadedConfig& loaded,
                                           const std::string& example_app, uint16_t free_port,
                                           std::string* error);

// The bundled example app: $LASTCALL_EXAMPLE_APP, else examples/drainable_app beside `self`.
std::string ExampleAppPath(const std::string& self);

// Runs the rehearsal. Progress goes to `err` (a live line when `terminal`), the summary to `out`.
// Returns 0 when nothing was lost and the app exited inside the grace period, 1 otherwise, 2 for a
// usage or configuration error, 3 when the rehearsal itself could not run (the app or lastcall did
// not start, a report could not be written). REQUIRES: called on the main thread (children are
// tied to it).
int RunRehearse(const RehearseOptions& options, std::ostream& out, std::ostream& err,
                bool terminal);

// The `rehearse` subcommand: its flags (every `run` flag but the ones rehearse sets itself) fill
// *options, its action runs RunRehearse. REQUIRES: *options outlives the parse and the action.
Subcommand RehearseSubcommand(RehearseOptions* options);

}  // namespace lastcall

// The zero-drop end-to-end test (issue 5, PRODUCT.md §5): a real HAProxy on 127.0.0.1 in front of
// two replicas of the example app, load through it, and replica 1 terminated the way the kubelet
// does it (kubelet_emulator.h). Each scenario runs the same load against a different setup; the
// table at the end puts the naive setups beside lastcall's.
//
// Asserted: every lastcall scenario loses nothing (no failed request, no non-2xx answer) and ends
// clean (no SIGKILL, exit codes 0, the app drained before its SIGTERM); the naive app loses
// requests in the same run, or the test proves nothing. Timings are printed, not asserted,
// except in the scenarios of issue 15 (what the kernel sees), which run behind HAProxy with
// server-side keep-alive (idle pooled connections to the app stay open) and with the endpoint
// removal, 1 s after the deletion, as the only thing that stops HAProxy routing to replica 1
// (its health check asks lastcall's /livez, which stays 200). Their bounds are taken against
// the app's own stamps (drainable_app's "stamps:" line, on the monotonic clock all processes
// share):
//   lb-auto    `lb_delay: auto`: the lb wait ends (the app's POST /drain) at most quiet + 100 ms
//              after the last /work request reached the app, and not before it; lb-fixed, the
//              same setup with a fixed 5 s, is printed beside it.
//   in-flight  the connections monitor with `count: in_flight`: the drain ends (the preStop hook
//              returns) at most settle + the ACK bound (kAckBound: a connection whose last request
//              and answer share a kernel tick is proven idle only once no delayed ACK followed)
//              + 2 poll intervals + 100 ms after the app answered its last request, although
//              HAProxy's idle pooled connections stay open. connections-ka,
//              the same with `count: connections`, runs only when named (it waits for the pool).
//   push       the app pushes POST /drained, polls are 2 s apart: the drain ends at most 100 ms
//              after the app drained. (The push overhead's p95 is a benchmark: lastcall_bench
//              --only push.)
// And issue 19's, HAProxy with `http-reuse always` (an upstream keep-alive pool, as
// ingress-nginx keeps one), the app with no drain endpoint:
//   inject-default  what `lastcall inject` now writes for such an app: the connections monitor,
//              `count: in_flight`, `settle: 1s`, lastcall's default poll interval (100 ms): the
//              drain ends at most settle + 2 poll intervals (+ kInjectSlack for the processes'
//              wake-ups) after the app's last answer, far from the drain timeout.
//   old-default  what inject wrote before: `count: connections`, `settle: 0s`: the pool's idle
//              connections hold the drain until the timeout (asserted: exit 1, the hook returned
//              at lb_delay + drain timeout), the contrast that shows the pool is really kept.
//
// Usage: zero_drop_e2e [--load-ms N] [--scenario NAME]... [--verbose]    exit 0 pass, 1 fail
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "haproxy.h"
#include "harness.h"
#include "kubelet_emulator.h"
#include "load_generator.h"
#include "monitors/traffic_observer.h"

namespace lastcall::e2e {
namespace {

using test::App;
using test::Sidecar;

struct Settings {
  Millis load{7000};      // load per scenario
  Millis t0_after{2000};  // load start -> pod deletion
  // Each connection sends its path back to back. The long ones are staggered so that some are
  // always in flight, and some are still running when lastcall's drain starts.
  std::vector<PathLoad> mix{{"/work?ms=5", 24, Millis(0)},
                            {"/work?ms=1200", 8, Millis(1200)},
                            {"/work?ms=3000", 4, Millis(3000)}};
  // T0 -> HAProxy hears of the endpoint removal (runtime API). Its health check on /readyz
  // (every 200 ms, fall 1) usually takes the server out sooner.
  Millis propagation{500};
  // lastcall's lb_delay: covers the propagation and a health check, and is shorter than the long
  // requests, so that long requests are still in flight when the drain starts.
  Millis lb_delay{800};
  Millis grace{15000};
  bool verbose = false;
  std::vector<std::string> only;
};

enum class Setup {
  kNaive,
  kGoShutdown,
  kExecHook,
  kHttpGetHook,
  kConnections,
  kNative,
  kLbFixed,
  kLbAuto,
  kInFlight,
  kConnectionsKeepAlive,
  kPush,
  kInjectDefault,
  kOldDefault
};

struct Scenario {
  std::string name;
  std::string description;
  Setup setup;
  bool opt_in = false;  // runs only when named with --scenario (kept out of CI's run)
};

const std::vector<Scenario> kScenarios = {
    {"naive", "app exits at SIGTERM, no lastcall, no preStop", Setup::kNaive},
    {"go-shutdown", "app shuts down like Go's Shutdown, no lastcall", Setup::kGoShutdown},
    {"lastcall", "regular sidecar, exec preStop `lastcall prestop`", Setup::kExecHook},
    {"lastcall-httpget", "regular sidecar, httpGet preStop with token", Setup::kHttpGetHook},
    {"connections", "monitor connections, app has no drain endpoint", Setup::kConnections},
    {"native", "native sidecar order, exec preStop on both", Setup::kNative},
    {"lb-fixed", "fixed lb_delay 5s, server keep-alive, endpoint removed at +1s", Setup::kLbFixed},
    {"lb-auto", "lb_delay auto, server keep-alive, endpoint removed at +1s", Setup::kLbAuto},
    {"in-flight",
     "connections monitor, count: in_flight, server keep-alive, app has no drain "
     "endpoint",
     Setup::kInFlight},
    {"push", "the app pushes POST /drained, polls 2 s apart, server keep-alive", Setup::kPush},
    {"connections-ka",
     "in-flight's setup with count: connections (opt-in: idle pooled connections hold the drain)",
     Setup::kConnectionsKeepAlive, true},
    {"inject-default",
     "http-reuse always, no drain endpoint; inject's default: connections, in_flight, settle 1s",
     Setup::kInjectDefault},
    {"old-default",
     "http-reuse always, no drain endpoint; inject's old default: connections, settle 0s",
     Setup::kOldDefault},
};

// Issue 19's setups: the app without a drain endpoint behind an upstream keep-alive pool.
bool KeepAlivePool(Setup setup) {
  return setup == Setup::kInjectDefault || setup == Setup::kOldDefault;
}

// Issue 15's setups: server keep-alive, and only the endpoint removal at +1 s stops routing.
bool KernelSees(Setup setup) {
  return setup == Setup::kLbFixed || setup == Setup::kLbAuto || setup == Setup::kInFlight ||
         setup == Setup::kConnectionsKeepAlive || setup == Setup::kPush || KeepAlivePool(setup);
}

// The sidecar's drain through the connections monitor, with no drain endpoint on the app.
bool WatchesConnections(Setup setup) {
  return setup == Setup::kConnections || setup == Setup::kInFlight ||
         setup == Setup::kConnectionsKeepAlive || KeepAlivePool(setup);
}

// What the issue-15 scenarios configure beyond the common sidecar flags.
constexpr Millis kKernelPropagation{1000};
constexpr Millis kFixedLbDelay{5000};        // lb-fixed: the "fixed 5 s"
constexpr Millis kKernelLbDelay{1500};       // in-flight, push: covers the +1 s removal
constexpr Millis kAutoMin{1000};             // lb-auto
constexpr Millis kAutoQuiet{1000};           // lb-auto
constexpr Millis kAutoMax{5000};             // lb-auto
constexpr Millis kInFlightSettle{200};       // in-flight
constexpr Millis kPollInterval{50};          // every lastcall scenario but push
constexpr Millis kPushPollInterval{2000};    // push: polls alone would end the drain late
constexpr Millis kLbAutoSlack{100};          // lb-auto: quiet + this
constexpr Millis kInFlightSlack{100};        // in-flight: settle + ACK bound + 2 intervals + this
constexpr Millis kPushBound{100};            // push: app drained -> preStop returned
constexpr Millis kInjectSettle{1000};        // inject-default: inject's settle
constexpr Millis kDefaultPollInterval{100};  // inject-default, old-default: lastcall's default
constexpr Millis kInjectSlack{100};          // inject-default: the processes' wake-ups
constexpr Millis kDrainTimeout{8000};        // every lastcall scenario

// The lb wait lastcall was configured with; for auto, its floor (min).
Millis ConfiguredLbDelay(Setup setup, const Settings& settings) {
  switch (setup) {
    case Setup::kLbFixed:
      return kFixedLbDelay;
    case Setup::kLbAuto:
      return kAutoMin;
    case Setup::kInFlight:
    case Setup::kConnectionsKeepAlive:
    case Setup::kPush:
    case Setup::kInjectDefault:
    case Setup::kOldDefault:
      return kKernelLbDelay;
    default:
      return settings.lb_delay;
  }
}

// Answers to requests of over a second.
long long LongOk(const LoadReport& load) {
  long long ok = 0;
  for (const auto& [target, count] : load.ok_by_target) {
    const auto ms = target.find("ms=");
    if (ms != std::string::npos && std::atoll(target.c_str() + ms + 3) > 1000) ok += count;
  }
  return ok;
}

bool UsesLastcall(Setup setup) { return setup != Setup::kNaive && setup != Setup::kGoShutdown; }

struct Outcome {
  const Scenario* scenario = nullptr;
  LoadReport load;
  TerminationReport termination;
  std::string inflight_at_t0;         // replica 1's /work requests in flight at T0
  std::string inflight_at_drain;      // ... at T0 + lb_delay, when lastcall's drain starts
  std::vector<std::string> problems;  // failed expectations
  std::string note;                   // the verdict column
  std::vector<std::string> figures;   // issue 15's measured figures, printed after the table
};

std::string InflightOf(uint16_t port) {
  const std::string body = test::Get(port, "/drain/status").body;
  const auto at = body.find("\"inflight\":");
  if (at == std::string::npos) return "gone";
  const auto end = body.find_first_of(",}", at);
  return body.substr(at + 11, end - at - 11);
}

std::string Seconds(Millis ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3fs", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

std::string Ms(Steady::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", std::chrono::duration<double, std::milli>(d).count());
  return text;
}

// A moment from the app's "stamps:" line ("key=12345.678901", seconds on CLOCK_MONOTONIC, which
// is steady_clock here), or nothing when absent or "-".
std::optional<Steady::time_point> AppStamp(const std::string& log, const std::string& key) {
  const auto line = log.rfind("stamps:");
  if (line == std::string::npos) return std::nullopt;
  const auto at = log.find(" " + key + "=", line);
  if (at == std::string::npos || at > log.find('\n', line)) return std::nullopt;
  const char* value = log.c_str() + at + key.size() + 2;
  if (*value == '-') return std::nullopt;
  char* end = nullptr;
  const long long seconds = std::strtoll(value, &end, 10);
  if (end == value || *end != '.') return std::nullopt;
  const long long micros = std::strtoll(end + 1, nullptr, 10);
  return Steady::time_point(std::chrono::seconds(seconds) + std::chrono::microseconds(micros));
}

// The line of `log` that contains `needle`, trimmed; "" when none does.
std::string LineWith(const std::string& log, const std::string& needle) {
  const auto at = log.find(needle);
  if (at == std::string::npos) return "";
  const auto begin = log.rfind('\n', at);
  const auto end = log.find('\n', at);
  return log.substr(begin == std::string::npos ? 0 : begin + 1,
                    end == std::string::npos ? std::string::npos : end - begin - 1);
}

// Issue 15's figures, from the app's stamps (the same clock as `deleted`), and their bounds.
void MeasureKernelScenario(Setup setup, Steady::time_point deleted, const App& app,
                           const Sidecar& sidecar, Outcome& outcome) {
  const std::string log = app.process.Output();
  const auto stamp = [&](const std::string& key) {
    const auto at = AppStamp(log, key);
    if (!at) outcome.problems.push_back("the app's log has no stamp " + key);
    return at;
  };
  const auto since_deletion = [&](Steady::time_point at) { return "+" + Ms(at - deleted); };
  const Steady::time_point hook_returned = deleted + outcome.termination.app.hook_returned_at;
  auto bound = [&](const std::string& what, Steady::duration measured, Steady::duration low,
                   Steady::duration high) {
    const bool ok = measured >= low && measured <= high;
    outcome.figures.push_back(what + ": " + Ms(measured) + " (bound " + Ms(low) + " .. " +
                              Ms(high) + ", " + (ok ? "met" : "NOT met") + ")");
    if (!ok) outcome.problems.push_back(what + " " + Ms(measured) + " out of its bound");
  };
  switch (setup) {
    case Setup::kLbFixed:
    case Setup::kLbAuto: {
      const auto last = stamp("last_work_arrived");
      const auto drain = stamp("drain_requested");
      if (!last || !drain) return;
      outcome.figures.push_back(
          "lb wait (deletion -> the app's POST /drain): " + Ms(*drain - deleted) +
          "; the last /work request reached the app at " + since_deletion(*last));
      if (setup == Setup::kLbAuto) {
        bound("lb wait end after the last request", *drain - *last, Steady::duration::zero(),
              kAutoQuiet + kLbAutoSlack);
        const std::string reason = LineWith(sidecar.process.Output(), "lb_delay auto:");
        if (!reason.empty()) outcome.figures.push_back("lastcall: " + reason);
      } else {
        outcome.figures.push_back("idle after the last request: " + Ms(*drain - *last));
      }
      return;
    }
    case Setup::kInFlight:
    case Setup::kConnectionsKeepAlive: {
      const auto last = stamp("last_work_ended");
      if (!last) return;
      outcome.figures.push_back("the app answered its last request at " + since_deletion(*last) +
                                "; preStop returned at " + since_deletion(hook_returned));
      if (setup == Setup::kConnectionsKeepAlive) {
        outcome.figures.push_back("drain end after the app's last answer (not asserted): " +
                                  Ms(hook_returned - *last));
        return;
      }
      bound("drain end after the app's last answer (settle " + Ms(kInFlightSettle) + ")",
            hook_returned - *last, Steady::duration::zero(),
            kInFlightSettle + kAckBound + 2 * kPollInterval + kInFlightSlack);
      return;
    }
    case Setup::kInjectDefault: {
      const auto last = stamp("last_work_ended");
      if (!last) return;
      outcome.figures.push_back("the app answered its last request at " + since_deletion(*last) +
                                "; preStop returned at " + since_deletion(hook_returned));
      bound("drain end after the app's last answer (settle " + Ms(kInjectSettle) + " + 2 x " +
                Ms(kDefaultPollInterval) + " + " + Ms(kInjectSlack) + ")",
            hook_returned - *last, Steady::duration::zero(),
            kInjectSettle + 2 * kDefaultPollInterval + kInjectSlack);
      return;
    }
    case Setup::kOldDefault: {
      const auto last = stamp("last_work_ended");
      if (!last) return;
      const Steady::duration at_timeout = kKernelLbDelay + kDrainTimeout;
      outcome.figures.push_back("the app answered its last request at " + since_deletion(*last) +
                                "; preStop returned at " + since_deletion(hook_returned) +
                                " (lb_delay + drain timeout: " + Ms(at_timeout) + ")");
      bound("preStop returned after the deletion (at the drain timeout)", hook_returned - deleted,
            at_timeout, at_timeout + std::chrono::milliseconds(500));
      return;
    }
    case Setup::kPush: {
      const auto drained = stamp("drained");
      if (!drained) return;
      outcome.figures.push_back("the app drained at " + since_deletion(*drained) +
                                "; preStop returned at " + since_deletion(hook_returned) +
                                " (ms resolution)");
      bound("app drained -> preStop returned", hook_returned - *drained,
            -std::chrono::milliseconds(1), kPushBound);
      return;
    }
    default:
      return;
  }
}

Outcome RunScenario(const Scenario& scenario, const Settings& settings) {
  Outcome outcome;
  outcome.scenario = &scenario;
  const Setup setup = scenario.setup;
  const bool kernel = KernelSees(setup);
  const Millis lb_delay = ConfiguredLbDelay(setup, settings);
  // push: the app calls lastcall's control endpoint over TCP, and so does its preStop hook.
  const uint16_t control_port = setup == Setup::kPush ? test::FreePort() : 0;
  const std::string control_address = "127.0.0.1:" + std::to_string(control_port);
  std::vector<std::string> app_flags;
  if (setup == Setup::kNaive) app_flags.push_back("--naive");
  if (WatchesConnections(setup)) app_flags.push_back("--no-drain-endpoint");
  // The pool's idle connections outlive the drain timeout on the app's side too (httplib closes
  // them after 5 s by default, which would end old-default's drain before its timeout).
  if (KeepAlivePool(setup)) app_flags.insert(app_flags.end(), {"--keep-alive-timeout", "60"});
  if (setup == Setup::kPush) {
    app_flags.insert(app_flags.end(), {"--push-drained", "http://" + control_address + "/drained"});
  }
  auto flags_for = [&](const std::string& name) {
    std::vector<std::string> flags = app_flags;
    flags.insert(flags.end(), {"--name", name});
    return flags;
  };
  App app1 = test::StartExampleApp(flags_for("replica-1"));
  App app2 = test::StartExampleApp(flags_for("replica-2"));

  const std::string token = "e2e-token-5f2c";
  const std::string token_file = test::TempDir() + "/token";
  std::ofstream(token_file) << token << "\n";
  auto sidecar_flags = [&](const App& app) {
    const Millis interval = setup == Setup::kPush  ? kPushPollInterval
                            : KeepAlivePool(setup) ? kDefaultPollInterval
                                                   : kPollInterval;
    std::vector<std::string> flags{
        "--lb-delay",
        setup == Setup::kLbAuto ? "auto" : std::to_string(lb_delay.count()) + "ms",
        "--poll-interval",
        std::to_string(interval.count()) + "ms",
        "--drain-timeout",
        std::to_string(kDrainTimeout.count()) + "ms",
        "--grace-period",
        std::to_string(settings.grace.count()) + "ms",
        "--monitor-port",
        std::to_string(app.port)};
    if (WatchesConnections(setup)) {
      flags.insert(flags.end(), {"--drain-url=", "--monitor", "connections"});
    } else {
      flags.insert(flags.end(), {"--drain-url", app.url("/drain")});
    }
    if (setup == Setup::kLbAuto) {
      flags.insert(flags.end(), {"--lb-auto-min", std::to_string(kAutoMin.count()) + "ms",
                                 "--lb-auto-quiet", std::to_string(kAutoQuiet.count()) + "ms",
                                 "--lb-auto-max", std::to_string(kAutoMax.count()) + "ms"});
    }
    if (setup == Setup::kInFlight || setup == Setup::kConnectionsKeepAlive) {
      flags.insert(flags.end(),
                   {"--monitor-count", setup == Setup::kInFlight ? "in_flight" : "connections",
                    "--settle", std::to_string(kInFlightSettle.count()) + "ms"});
    }
    if (setup == Setup::kInjectDefault) {
      flags.insert(flags.end(), {"--monitor-count", "in_flight", "--settle",
                                 std::to_string(kInjectSettle.count()) + "ms"});
    }
    if (setup == Setup::kOldDefault) {
      flags.insert(flags.end(), {"--monitor-count", "connections", "--settle", "0s"});
    }
    if (setup == Setup::kHttpGetHook) flags.insert(flags.end(), {"--token-file", token_file});
    return flags;
  };
  std::optional<Sidecar> sidecar1;
  std::optional<Sidecar> sidecar2;
  if (UsesLastcall(setup)) {
    std::vector<std::string> flags1 = sidecar_flags(app1);
    if (setup == Setup::kPush) flags1.insert(flags1.end(), {"--control", control_address});
    sidecar1 = test::StartLastcall(flags1);
    sidecar2 = test::StartLastcall(sidecar_flags(app2));
  }

  HaproxyOptions haproxy_options;
  // Issue 15's scenarios: /livez stays 200, so routing stops only at the endpoint removal.
  haproxy_options.check_path = kernel ? "/livez" : UsesLastcall(setup) ? "/readyz" : "/healthz";
  haproxy_options.server_close = setup == Setup::kConnections;
  haproxy_options.reuse_always = KeepAlivePool(setup);
  Haproxy haproxy({{"app1", app1.port, sidecar1 ? sidecar1->probe_port : app1.port},
                   {"app2", app2.port, sidecar2 ? sidecar2->probe_port : app2.port}},
                  haproxy_options);

  LoadGenerator load(haproxy.port(), settings.mix, Millis(5000));
  load.Start();
  const auto t0 = load.started() + settings.t0_after;
  std::this_thread::sleep_until(t0);
  outcome.inflight_at_t0 = InflightOf(app1.port);
  std::jthread sampler([&] {  // replica 1's view of the drain, for the table
    std::this_thread::sleep_until(t0 + settings.lb_delay);
    outcome.inflight_at_drain = InflightOf(app1.port);
  });

  // The pod deletion, as the kubelet runs it.
  TerminationOptions options;
  options.grace_period = settings.grace;
  options.propagation_delay = kernel ? kKernelPropagation : settings.propagation;
  options.shape = setup == Setup::kNative ? PodShape::kNativeSidecar
                  : UsesLastcall(setup)   ? PodShape::kRegularSidecar
                                          : PodShape::kNoSidecar;
  PreStopHook prestop;
  if (setup == Setup::kHttpGetHook) {
    prestop.kind = PreStopHook::Kind::kHttpGet;
    prestop.url = "http://127.0.0.1:" + std::to_string(sidecar1->probe_port) + "/prestop";
    prestop.headers = {{"Authorization", "Bearer " + token}};
  } else if (UsesLastcall(setup)) {
    prestop.kind = PreStopHook::Kind::kExec;
    prestop.command = {LASTCALL_BINARY, "prestop", "--control",
                       setup == Setup::kPush ? control_address : sidecar1->control()};
  }
  EmulatedContainer app_container{"app", app1.process.Release(), prestop};
  std::optional<EmulatedContainer> sidecar_container;
  if (sidecar1) {
    sidecar_container = EmulatedContainer{"lastcall", sidecar1->process.Release(), {}};
    if (setup == Setup::kNative) sidecar_container->pre_stop = prestop;  // its own preStop
  }
  const Steady::time_point deleted = Steady::now();  // T0, within the emulator's first µs
  outcome.termination = EmulatePodDeletion(options, app_container, sidecar_container, [&] {
    haproxy.Command("set server be/app1 state maint");
  });
  sampler.join();

  std::this_thread::sleep_until(load.started() + settings.load);
  outcome.load = load.Stop();
  if (kernel) MeasureKernelScenario(setup, deleted, app1, *sidecar1, outcome);

  // Expectations.
  const LoadReport& l = outcome.load;
  const TerminationReport& t = outcome.termination;
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) outcome.problems.push_back(what);
  };
  const long long lost = l.failed + l.non_2xx;
  expect(LongOk(l) > 0, "no long request completed");
  if (UsesLastcall(setup)) {
    expect(l.failed == 0, std::to_string(l.failed) + " failed request(s)");
    expect(l.non_2xx == 0, std::to_string(l.non_2xx) + " non-2xx answer(s)");
    expect(t.clean(), "a container was SIGKILLed");
    expect(t.app.exit_code == 0, "app exit code " + std::to_string(t.app.exit_code.value_or(-1)));
    // old-default is the contrast: the idle pooled connections hold its drain to the timeout.
    const int want_exit = setup == Setup::kOldDefault ? 1 : 0;
    expect(
        t.sidecar && t.sidecar->exit_code == want_exit,
        "lastcall exit code " + std::to_string(t.sidecar ? t.sidecar->exit_code.value_or(-1) : -1));
    const int want_hook = setup == Setup::kHttpGetHook ? 200 : setup == Setup::kOldDefault ? 1 : 0;
    expect(t.app.hook_result == want_hook,
           "app preStop result " + std::to_string(t.app.hook_result.value_or(-1)));
    // The hook held the app's SIGTERM back until lb_delay passed and the drain was done.
    expect(t.app.hook_returned_at >= lb_delay, "preStop returned before lb_delay");
    outcome.note = lost == 0 && outcome.problems.empty() ? "zero lost (asserted)" : "FAILED";
  } else if (setup == Setup::kNaive) {
    expect(lost > 0, "the naive app lost nothing: this run cannot show a difference");
    outcome.note = outcome.problems.empty() ? "loses requests (asserted)" : "FAILED";
  } else {
    outcome.note = lost > 0 ? "loses requests (shown)" : "lost none this time (not asserted)";
  }

  std::cout << "--- " << scenario.name << ": " << scenario.description << "\n" << FormatTimeline(t);
  if (!l.failures.empty()) {
    std::cout << "  lost: " << lost << "; first at "
              << Seconds(l.failures.front().at - settings.t0_after) << " after T0, last at "
              << Seconds(l.failures.back().at - settings.t0_after) << "; kinds:";
    std::map<std::string, int> kinds;
    for (const auto& failure : l.failures) ++kinds[failure.what + " " + failure.target];
    for (const auto& [kind, count] : kinds) std::cout << " [" << count << "x " << kind << "]";
    std::cout << "\n";
  }
  for (const auto& problem : outcome.problems) std::cout << "  FAILED: " << problem << "\n";
  if (settings.verbose || (!outcome.problems.empty() && UsesLastcall(setup))) {
    std::cout << "  haproxy log (abnormal requests only):\n" << haproxy.Log();
    std::cout << "  replica-1 log:\n" << app1.process.Output();
    if (sidecar1) std::cout << "  lastcall-1 log:\n" << sidecar1->process.Output();
  }
  std::cout << std::flush;
  return outcome;
}

void PrintRow(const std::vector<std::string>& cells) {
  static constexpr int kWidths[] = {-17, 9, 9, 8, 7, 9, 10, 10, 10, 11, 0};
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    const int width = kWidths[std::min(i, std::size(kWidths) - 1)];
    const size_t pad = static_cast<size_t>(std::abs(width)) > cells[i].size()
                           ? static_cast<size_t>(std::abs(width)) - cells[i].size()
                           : 0;
    if (i > 0) line += i + 1 == cells.size() ? "  " : " ";
    line += width < 0 ? cells[i] + std::string(pad, ' ') : std::string(pad, ' ') + cells[i];
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  std::printf("%s\n", line.c_str());
}

void PrintTable(const std::vector<Outcome>& outcomes, Millis lb_delay) {
  std::printf("\n");
  PrintRow({"scenario", "requests", "2xx", "non-2xx", "failed", "long 2xx", "in flight",
            "in flight", "preStop", "replica-1", "verdict"});
  PrintRow({"", "", "", "", "", "(>1 s)", "at T0", "T0+" + Seconds(lb_delay), "returned",
            "gone after", ""});
  for (const auto& o : outcomes) {
    const TerminationReport& t = o.termination;
    const bool hooked = t.app.hook_returned_at.count() > 0 || t.app.hook_result.has_value();
    PrintRow({o.scenario->name, std::to_string(o.load.sent), std::to_string(o.load.ok),
              std::to_string(o.load.non_2xx), std::to_string(o.load.failed),
              std::to_string(LongOk(o.load)), o.inflight_at_t0, o.inflight_at_drain,
              hooked ? Seconds(t.app.hook_returned_at) : "-", Seconds(t.total), o.note});
  }
}

int Main(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--verbose") {
      settings.verbose = true;
    } else if (arg == "--load-ms" && i + 1 < argc) {
      settings.load = Millis(std::atoll(argv[++i]));
    } else if (arg == "--scenario" && i + 1 < argc) {
      settings.only.emplace_back(argv[++i]);
    } else {
      std::cerr << "usage: zero_drop_e2e [--load-ms N] [--scenario NAME]... [--verbose]\n"
                << "scenarios:";
      for (const auto& s : kScenarios) std::cerr << " " << s.name << (s.opt_in ? "*" : "");
      std::cerr << "\n(* only when named)\n";
      return 2;
    }
  }
  if (settings.load < settings.t0_after + Millis(4000)) {
    std::cerr << "--load-ms must leave 4 s after T0 (" << settings.t0_after.count() << " ms)\n";
    return 2;
  }
  std::cout << "load: keep-alive connections through HAProxy (retries 0, health check every "
            << "200 ms, fall 1):";
  for (const auto& path : settings.mix) {
    std::cout << " " << path.connections << " x GET " << path.target;
  }
  std::cout << "; " << settings.load.count() << " ms per scenario; replica 1 deleted at "
            << settings.t0_after.count() << " ms; endpoint removal reaches HAProxy after "
            << settings.propagation.count() << " ms; lastcall lb_delay "
            << settings.lb_delay.count() << " ms\n";
  std::vector<Outcome> outcomes;
  for (const auto& scenario : kScenarios) {
    const bool named =
        std::find(settings.only.begin(), settings.only.end(), scenario.name) != settings.only.end();
    if (settings.only.empty() ? scenario.opt_in : !named) continue;
    try {
      outcomes.push_back(RunScenario(scenario, settings));
    } catch (const std::exception& e) {
      Outcome failed;
      failed.scenario = &scenario;
      failed.problems.push_back(std::string("setup failed: ") + e.what());
      failed.note = "FAILED (setup)";
      std::cout << "--- " << scenario.name << ": setup failed: " << e.what() << "\n";
      outcomes.push_back(failed);
    }
  }
  PrintTable(outcomes, settings.lb_delay);
  bool any_figures = false;
  for (const auto& o : outcomes) {
    if (o.figures.empty()) continue;
    if (!any_figures) {
      std::printf("\nwhat the kernel sees (issue 15; times from the app's own stamps):\n");
      any_figures = true;
    }
    std::printf("  %s:\n", o.scenario->name.c_str());
    for (const auto& figure : o.figures) std::printf("    %s\n", figure.c_str());
  }
  int failed = 0;
  for (const auto& o : outcomes) failed += o.problems.empty() ? 0 : 1;
  std::printf("\n%d scenario(s), %d failed\n", static_cast<int>(outcomes.size()), failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace lastcall::e2e

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  return lastcall::e2e::Main(argc, argv);
}

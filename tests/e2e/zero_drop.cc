// The zero-drop end-to-end test (issue 5, PRODUCT.md §5): a real HAProxy on 127.0.0.1 in front of
// two replicas of the example app, load through it, and replica 1 terminated the way the kubelet
// does it (kubelet_emulator.h). Each scenario runs the same load against a different setup; the
// table at the end puts the naive setups beside lastcall's.
//
// Asserted: every lastcall scenario loses nothing (no failed request, no non-2xx answer) and ends
// clean (no SIGKILL, exit codes 0, the app drained before its SIGTERM); the naive app loses
// requests in the same run, or the test proves nothing. Timings are printed, not asserted.
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

enum class Setup { kNaive, kGoShutdown, kExecHook, kHttpGetHook, kConnections, kNative };

struct Scenario {
  std::string name;
  std::string description;
  Setup setup;
};

const std::vector<Scenario> kScenarios = {
    {"naive", "app exits at SIGTERM, no lastcall, no preStop", Setup::kNaive},
    {"go-shutdown", "app shuts down like Go's Shutdown, no lastcall", Setup::kGoShutdown},
    {"lastcall", "regular sidecar, exec preStop `lastcall prestop`", Setup::kExecHook},
    {"lastcall-httpget", "regular sidecar, httpGet preStop with token", Setup::kHttpGetHook},
    {"connections", "monitor connections, app has no drain endpoint", Setup::kConnections},
    {"native", "native sidecar order, exec preStop on both", Setup::kNative},
};

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

Outcome RunScenario(const Scenario& scenario, const Settings& settings) {
  Outcome outcome;
  outcome.scenario = &scenario;
  const Setup setup = scenario.setup;
  std::vector<std::string> app_flags;
  if (setup == Setup::kNaive) app_flags.push_back("--naive");
  if (setup == Setup::kConnections) app_flags.push_back("--no-drain-endpoint");
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
    std::vector<std::string> flags{
        "--lb-delay",      std::to_string(settings.lb_delay.count()) + "ms",
        "--poll-interval", "50ms",
        "--drain-timeout", "8s",
        "--grace-period",  std::to_string(settings.grace.count()) + "ms"};
    if (setup == Setup::kConnections) {
      flags.insert(flags.end(), {"--drain-url=", "--monitor", "connections", "--monitor-port",
                                 std::to_string(app.port)});
    } else {
      flags.insert(flags.end(), {"--drain-url", app.url("/drain")});
    }
    if (setup == Setup::kHttpGetHook) flags.insert(flags.end(), {"--token-file", token_file});
    return flags;
  };
  std::optional<Sidecar> sidecar1;
  std::optional<Sidecar> sidecar2;
  if (UsesLastcall(setup)) {
    sidecar1 = test::StartLastcall(sidecar_flags(app1));
    sidecar2 = test::StartLastcall(sidecar_flags(app2));
  }

  HaproxyOptions haproxy_options;
  haproxy_options.check_path = UsesLastcall(setup) ? "/readyz" : "/healthz";
  haproxy_options.server_close = setup == Setup::kConnections;
  Haproxy haproxy({{"app1", app1.port, sidecar1 ? sidecar1->probe_port : app1.port},
                   {"app2", app2.port, sidecar2 ? sidecar2->probe_port : app2.port}},
                  haproxy_options);

  LoadGenerator load(haproxy.port(), settings.mix, Millis(5000));
  load.Start();
  const auto t0 = load.started() + settings.t0_after;
  std::this_thread::sleep_until(t0);
  outcome.inflight_at_t0 = InflightOf(app1.port);
  std::thread sampler([&] {  // replica 1's view of the drain, for the table
    std::this_thread::sleep_until(t0 + settings.lb_delay);
    outcome.inflight_at_drain = InflightOf(app1.port);
  });

  // The pod deletion, as the kubelet runs it.
  TerminationOptions options;
  options.grace_period = settings.grace;
  options.propagation_delay = settings.propagation;
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
    prestop.command = {LASTCALL_BINARY, "prestop", "--control", sidecar1->control()};
  }
  EmulatedContainer app_container{"app", app1.process.Release(), prestop};
  std::optional<EmulatedContainer> sidecar_container;
  if (sidecar1) {
    sidecar_container = EmulatedContainer{"lastcall", sidecar1->process.Release(), {}};
    if (setup == Setup::kNative) sidecar_container->pre_stop = prestop;  // its own preStop
  }
  outcome.termination = EmulatePodDeletion(options, app_container, sidecar_container, [&] {
    haproxy.Command("set server be/app1 state maint");
  });
  sampler.join();

  std::this_thread::sleep_until(load.started() + settings.load);
  outcome.load = load.Stop();

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
    expect(
        t.sidecar && t.sidecar->exit_code == 0,
        "lastcall exit code " + std::to_string(t.sidecar ? t.sidecar->exit_code.value_or(-1) : -1));
    const int want_hook = setup == Setup::kHttpGetHook ? 200 : 0;
    expect(t.app.hook_result == want_hook,
           "app preStop result " + std::to_string(t.app.hook_result.value_or(-1)));
    // The hook held the app's SIGTERM back until lb_delay passed and the drain was done.
    expect(t.app.hook_returned_at >= settings.lb_delay, "preStop returned before lb_delay");
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
      for (const auto& s : kScenarios) std::cerr << " " << s.name;
      std::cerr << "\n";
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
    if (!settings.only.empty() && std::find(settings.only.begin(), settings.only.end(),
                                            scenario.name) == settings.only.end()) {
      continue;
    }
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

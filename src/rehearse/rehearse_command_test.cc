#include "rehearse_command.h"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "base/exit_status.h"
#include "cli/cli.h"

namespace lastcall {
namespace {

using Words = std::vector<std::string>;

LoadedConfig Loaded(std::vector<FlagValue> flags = {}) {
  ConfigSources sources;
  sources.flags = std::move(flags);
  return LoadConfig(sources);
}

std::string FlagsOf(const RehearsalPlan& plan) {
  std::string out;
  for (const FlagValue& flag : plan.sidecar_flags) out += "--" + flag.name + "=" + flag.value + " ";
  return out;
}

TEST_CASE("no arguments: the bundled example app on a free port, lastcall's defaults scaled down") {
  std::string error;
  const auto plan = PlanRehearsal({}, Loaded(), "/opt/examples/drainable_app", 40001, &error);
  REQUIRE_MESSAGE(plan.has_value(), error);
  CHECK(plan->bundled_app);
  CHECK(plan->app_argv ==
        Words{"/opt/examples/drainable_app", "--listen", "127.0.0.1:40001", "--name", "rehearsal"});
  CHECK(plan->app_url == "http://127.0.0.1:40001");
  CHECK(plan->app_port == 40001);
  CHECK(FlagsOf(*plan) ==
        "--lb-delay=1s --drain-timeout=5s --grace-period=10s "
        "--drain-url=http://127.0.0.1:40001/drain --monitor-port=40001 ");
  CHECK(plan->rps == 100);
  CHECK(plan->duration == Millis(6000));
  CHECK(plan->paths == Words{"/work?ms=5", "/work?ms=800"});
  CHECK(plan->propagation_delay == Millis(500));
  CHECK(plan->warmup == Millis(1000));
}

TEST_CASE("the scaled-down defaults never override what the user configured") {
  std::string error;
  RehearseOptions options;
  options.rps = 50;
  options.duration = Millis(4000);
  options.paths = {"/x"};
  options.propagation_delay = Millis(2000);
  const auto plan =
      PlanRehearsal(options, Loaded({{"lb-delay", "3s"}, {"drain-url", "http://127.0.0.1:9/d"}}),
                    "app", 40001, &error);
  REQUIRE_MESSAGE(plan.has_value(), error);
  CHECK(FlagsOf(*plan) == "--drain-timeout=5s --grace-period=10s --monitor-port=40001 ");
  CHECK(plan->rps == 50);
  CHECK(plan->duration == Millis(4000));
  CHECK(plan->paths == Words{"/x"});
  CHECK(plan->propagation_delay == Millis(2000));
}

TEST_CASE("--app-cmd: {port} is a free port rehearse targets; otherwise --app-url or :8080") {
  std::string error;
  RehearseOptions options;
  options.app_command = {"./server", "--addr=127.0.0.1:{port}", "--admin", "{port}0"};
  auto plan = PlanRehearsal(options, Loaded(), "app", 40002, &error);
  REQUIRE_MESSAGE(plan.has_value(), error);
  CHECK_FALSE(plan->bundled_app);
  CHECK(plan->app_argv == Words{"./server", "--addr=127.0.0.1:40002", "--admin", "400020"});
  CHECK(plan->app_url == "http://127.0.0.1:40002");
  CHECK(plan->app_display == "./server --addr=127.0.0.1:40002 --admin 400020");
  CHECK(FlagsOf(*plan) == "--drain-url=http://127.0.0.1:40002/drain --monitor-port=40002 ");
  CHECK_FALSE(plan->duration.has_value());  // until the termination ended
  CHECK(plan->paths == Words{"/"});
  CHECK(plan->propagation_delay == Millis(1000));

  options.app_command = {"java", "-jar", "app 1.jar"};
  plan = PlanRehearsal(options, Loaded(), "app", 40002, &error);
  REQUIRE(plan.has_value());
  CHECK(plan->app_url == "http://127.0.0.1:8080");
  CHECK(plan->app_display == "java -jar 'app 1.jar'");
  CHECK(plan->sidecar_flags.empty());  // the config's drain URL is the user's business

  options.app_url = "http://[::1]:9000";
  plan = PlanRehearsal(options, Loaded(), "app", 40002, &error);
  REQUIRE(plan.has_value());
  CHECK(plan->app_host == "::1");
  CHECK(plan->app_port == 9000);
  CHECK(plan->app_url == "http://[::1]:9000");

  options.app_command.clear();
  options.app_url = "http://localhost:9000";
  plan = PlanRehearsal(options, Loaded(), "app", 40002, &error);
  REQUIRE(plan.has_value());
  CHECK(plan->app_argv.empty());
  CHECK(plan->app_host == "127.0.0.1");
  CHECK(plan->app_display == "already running at http://127.0.0.1:9000");
}

TEST_CASE("contradictions are usage errors with exact messages") {
  struct Case {
    Words command;
    std::string url;
    std::optional<Millis> duration;
    std::string want;
  };
  const Case cases[] = {
      {{"app", "{port}"},
       "http://127.0.0.1:1",
       std::nullopt,
       "--app-url and {port} in --app-cmd both say where the app listens: give one"},
      {{},
       "http://10.0.0.7:8080",
       std::nullopt,
       "--app-url: rehearse runs on this machine only: use 127.0.0.1 or [::1] (got "
       "\"http://10.0.0.7:8080\")"},
      {{},
       "unix:///tmp/app.sock",
       std::nullopt,
       "--app-url: expected an http:// URL (got \"unix:///tmp/app.sock\")"},
      {{},
       "http://127.0.0.1:8080/api",
       std::nullopt,
       "--app-url: give only http://HOST:PORT; request paths go in --paths (got "
       "\"http://127.0.0.1:8080/api\")"},
      {{},
       "",
       Millis(1500),
       "--duration: at least 2s (a 1s warm-up, then the termination) (got \"1.5s\")"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.want);
    RehearseOptions options;
    options.app_command = c.command;
    options.app_url = c.url;
    options.duration = c.duration;
    std::string error;
    CHECK_FALSE(PlanRehearsal(options, Loaded(), "app", 40003, &error).has_value());
    CHECK(error == c.want);
  }
}

TEST_CASE("ExampleAppPath: beside the binary") {
  CHECK(ExampleAppPath("/usr/local/bin/lastcall").rfind('/', 0) == 0);
  // LASTCALL_EXAMPLE_APP wins when set; the test environment normally leaves it unset.
  if (std::getenv("LASTCALL_EXAMPLE_APP") == nullptr) {  // NOLINT(concurrency-mt-unsafe)
    CHECK(ExampleAppPath("/usr/local/bin/lastcall") == "/usr/local/bin/examples/drainable_app");
    CHECK(ExampleAppPath("lastcall") == "./examples/drainable_app");
  }
}

// ---- the flags: RehearseSubcommand through the command-line parser ----------------------------

// ParsedCommand, and what `rehearse` parsed into.
struct ParsedFlags : ParsedCommand {
  RehearseOptions rehearse;
};

ParsedFlags ParseFlags(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {}) {
  std::vector<const char*> argv = {"lastcall"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  ParsedFlags out;
  static_cast<ParsedCommand&>(out) = ParseCommandLine(
      static_cast<int>(argv.size() - 1), argv.data(), env, {RehearseSubcommand(&out.rehearse)});
  return out;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t LongestLine(const std::string& text) {
  size_t longest = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) longest = std::max(longest, line.size());
  return longest;
}

TEST_CASE("rehearse flags: no arguments rehearses the example app") {
  ParsedFlags parsed = ParseFlags({"rehearse"});
  REQUIRE(parsed.subcommand == "rehearse");
  const RehearseOptions& options = parsed.rehearse;
  CHECK(options.app_command.empty());
  CHECK(options.app_url.empty());
  CHECK_FALSE(options.rps.has_value());
  CHECK_FALSE(options.duration.has_value());
  CHECK(options.paths.empty());
  CHECK_FALSE(options.native);
  CHECK_FALSE(options.direct);
  CHECK(options.reports.empty());
  CHECK(options.config.flags.empty());
}

TEST_CASE("rehearse flags: its own flags and every run flag but the ones it sets itself") {
  ParsedFlags parsed = ParseFlags({"rehearse",
                                   "-c",
                                   "lastcall.yaml",
                                   "--app-cmd",
                                   "./app --port '{port}'",
                                   "--rps",
                                   "250",
                                   "--duration",
                                   "8s",
                                   "--paths",
                                   "/a,/b?x=1",
                                   "--propagation-delay",
                                   "3s",
                                   "--grace-period",
                                   "12s",
                                   "--lb-delay=2s",
                                   "--native",
                                   "--direct",
                                   "--report",
                                   "r.html",
                                   "--report",
                                   "r.json"},
                                  {{"LASTCALL_DRAIN_TIMEOUT", "7s"}});
  REQUIRE(parsed.subcommand == "rehearse");
  const RehearseOptions& options = parsed.rehearse;
  CHECK(options.app_command == std::vector<std::string>{"./app", "--port", "{port}"});
  CHECK(options.rps == 250);
  CHECK(options.duration == Millis(8000));
  CHECK(options.paths == std::vector<std::string>{"/a", "/b?x=1"});
  CHECK(options.propagation_delay == Millis(3000));
  CHECK(options.native);
  CHECK(options.direct);
  CHECK(options.reports == std::vector<std::string>{"r.html", "r.json"});
  CHECK(options.config.yaml_path == "lastcall.yaml");
  CHECK(options.config.env.at("LASTCALL_DRAIN_TIMEOUT") == "7s");
  REQUIRE(options.config.flags.size() == 2);
  CHECK(options.config.flags[0].name == "lb-delay");  // in the order of the config's keys
  CHECK(options.config.flags[0].value == "2s");
  CHECK(options.config.flags[1].name == "grace-period");
  CHECK(options.config.flags[1].value == "12s");

  const std::string help = ParseFlags({"rehearse", "--help"}).output;
  for (const char* flag :
       {"--app-cmd", "--app-url", "--rps", "--duration", "--paths", "--propagation-delay",
        "--native", "--direct", "--report", "--grace-period", "--lb-delay", "--drain-timeout"}) {
    CAPTURE(flag);
    CHECK(Contains(help, flag));
  }
  CHECK_FALSE(Contains(help, "--listen"));
  CHECK_FALSE(Contains(help, "--control"));
  CHECK(LongestLine(help) <= 100);
}

TEST_CASE("rehearse flags: bad values are usage errors that name the flag") {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  const Case cases[] = {
      {{"--rps", "0"}, "flag --rps: expected a whole number from 1 to 1000 (got \"0\")"},
      {{"--rps", "5000"}, "flag --rps: expected a whole number from 1 to 1000 (got \"5000\")"},
      {{"--rps", "10x"}, "flag --rps: expected a whole number from 1 to 1000 (got \"10x\")"},
      {{"--duration", "3m"}, "flag --duration: at most 2m (got \"3m\")"},
      {{"--duration", "soon"},
       "flag --duration: expected a number before \"soon\" (durations look like 5s, 250ms or "
       "1m30s) (got \"soon\")"},
      {{"--propagation-delay", "2m"}, "flag --propagation-delay: at most 1m (got \"2m\")"},
      {{"--paths", "a,b"}, "flag --paths: path \"a\" does not start with / (got \"a,b\")"},
      {{"--app-cmd", "app | tee"},
       "flag --app-cmd: shell operator | at character 5 (--app-cmd is split into words but not "
       "run by a shell: for pipes, redirections or variables use --app-cmd \"sh -c '...'\") (got "
       "\"app | tee\")"},
      {{"--report", "out.txt"},
       "flag --report: the file name must end in .html or .json (got \"out.txt\")"},
      {{"--listen", ":9"}, "unknown flag --listen"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"rehearse"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    ParsedFlags parsed = ParseFlags(args);
    CAPTURE(c.want);
    CHECK(parsed.command == Command::kUsageError);
    CHECK(parsed.exit_code == kExitUsage);
    CHECK(parsed.output.rfind("lastcall rehearse: " + c.want + "\n", 0) == 0);
  }
}

TEST_CASE("--push: the bundled app pushes to lastcall; an own app takes {drained_url}") {
  std::string error;
  RehearseOptions options;
  options.push = true;
  auto plan = PlanRehearsal(options, Loaded(), "/opt/drainable_app", 40001, &error);
  REQUIRE_MESSAGE(plan.has_value(), error);
  CHECK(plan->push);
  CHECK(plan->app_argv == Words{"/opt/drainable_app", "--listen", "127.0.0.1:40001", "--name",
                                "rehearsal", "--push-drained", "{drained_url}"});

  options.app_command = {"./server", "--port={port}", "--on-drained={drained_url}"};
  plan = PlanRehearsal(options, Loaded(), "app", 40002, &error);
  REQUIRE_MESSAGE(plan.has_value(), error);
  CHECK(plan->app_argv == Words{"./server", "--port=40002", "--on-drained={drained_url}"});

  options.app_command = {"./server", "--port={port}"};
  CHECK_FALSE(PlanRehearsal(options, Loaded(), "app", 40002, &error));
  CHECK(error.find("--push: put {drained_url} in --app-cmd") == 0);

  options.push = false;
  REQUIRE(PlanRehearsal(options, Loaded(), "app", 40002, &error));
}

TEST_CASE("lb_delay auto with the bundled app: its max scaled down to fit the demo's grace") {
  std::string error;
  auto plan = PlanRehearsal({}, Loaded({{"lb-delay", "auto"}}), "app", 40001, &error);
  REQUIRE_MESSAGE(plan.has_value(), error);
  CHECK(FlagsOf(*plan) ==
        "--drain-timeout=5s --grace-period=10s --lb-auto-max=3s "
        "--drain-url=http://127.0.0.1:40001/drain --monitor-port=40001 ");
  plan = PlanRehearsal({}, Loaded({{"lb-delay", "auto"}, {"lb-auto-max", "8s"}}), "app", 40001,
                       &error);
  REQUIRE(plan.has_value());
  CHECK(FlagsOf(*plan).find("lb-auto-max") == std::string::npos);
}

}  // namespace
}  // namespace lastcall

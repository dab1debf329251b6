#include "rehearse_command.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

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

}  // namespace
}  // namespace lastcall

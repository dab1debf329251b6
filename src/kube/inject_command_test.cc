#include "inject_command.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "exit_status.h"
#include "version.h"

namespace lastcall {
namespace {

namespace fs = std::filesystem;

// tests/fixtures/inject, found from this file's path (src/kube/) in the CMake build.
fs::path FixtureDir() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "tests" / "fixtures" /
         "inject";
}

std::string ReadFixture(const std::string& name) {
  std::ifstream in(FixtureDir() / name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << (FixtureDir() / name).string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

InjectOptions Defaults() { return InjectOptions{}; }
InjectOptions Native() {
  InjectOptions options;
  options.native = true;
  return options;
}

struct GoldenCase {
  const char* input;
  const char* golden;  // expected output; regenerate with LASTCALL_UPDATE_GOLDEN=1
  std::function<InjectOptions()> options;
};

const std::vector<GoldenCase>& GoldenCases() {
  static const std::vector<GoldenCase> cases = {
      {"deployment.yaml", "deployment.injected.yaml", Defaults},
      {"deployment.yaml", "deployment.native.yaml", Native},
      {"statefulset.yaml", "statefulset.injected.yaml",
       [] {
         InjectOptions options;
         options.container = "ledger";
         options.lb_delay = Millis{10000};
         options.drain_timeout = Millis{60000};
         options.exit_delay = Millis{500};
         options.image = "registry.internal/lastcall:0.1.0";
         options.run_args = {"--monitor=connections", "--monitor-port=7000"};
         return options;
       }},
      {"cronjob.yaml", "cronjob.native.yaml", Native},
      {"job.yaml", "job.native.yaml", Native},
      {"multi.yaml", "multi.injected.yaml", Defaults},
      {"list.yaml", "list.injected.yaml", Defaults},
      {"kubectl-get.yaml", "kubectl-get.injected.yaml", Defaults},
      {"pod.yaml", "pod.injected.yaml", Defaults},
  };
  return cases;
}

TEST_CASE("inject: realistic manifests give the reviewed output") {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread exists
  const bool update = std::getenv("LASTCALL_UPDATE_GOLDEN") != nullptr;
  for (const auto& test : GoldenCases()) {
    CAPTURE(test.golden);
    const InjectResult result = InjectManifests(ReadFixture(test.input), test.options());
    REQUIRE_MESSAGE(result.ok, result.error);
    if (update) std::ofstream(FixtureDir() / test.golden, std::ios::binary) << result.output;
    CHECK(result.output == ReadFixture(test.golden));
  }
}

TEST_CASE("inject: injecting twice changes nothing") {
  for (const auto& test : GoldenCases()) {
    CAPTURE(test.golden);
    const InjectResult once = InjectManifests(ReadFixture(test.input), test.options());
    REQUIRE(once.ok);
    const InjectResult twice = InjectManifests(once.output, test.options());
    REQUIRE(twice.ok);
    CHECK(twice.output == once.output);
    // Other flags do not matter either: an injected workload is left alone.
    const InjectResult other = InjectManifests(once.output, Native());
    REQUIRE(other.ok);
    CHECK(other.output == once.output);
    REQUIRE_FALSE(twice.notes.empty());
    CHECK(twice.notes.front().find("already has a lastcall container; left unchanged") !=
          std::string::npos);
  }
}

TEST_CASE("inject: documents that are not workloads are copied byte for byte") {
  const std::string input = ReadFixture("multi.yaml");
  const InjectResult result = InjectManifests(input, Defaults());
  REQUIRE(result.ok);
  // Service and ConfigMap with their comments, and the changed Deployment's leading comment.
  const std::string untouched = input.substr(0, input.find("apiVersion: apps/v1"));
  CHECK(result.output.substr(0, untouched.size()) == untouched);
  CHECK(result.output.find("targetPort: 8080   # the app's port") != std::string::npos);

  const std::string service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: x  # keep\n";
  const InjectResult none = InjectManifests(service, Defaults());
  REQUIRE(none.ok);
  CHECK(none.output == service);
  REQUIRE(none.notes.size() == 1);
  CHECK(none.notes[0].rfind("no workload found", 0) == 0);
}

TEST_CASE("inject: the grace period fits the budget and never shrinks") {
  InjectOptions options;
  CHECK(RequiredGraceSeconds(options) == 27);  // 5s + 20s + 0s + 2s
  options.lb_delay = Millis{500};
  options.drain_timeout = Millis{1000};
  CHECK(RequiredGraceSeconds(options) == 4);  // 3.5s, rounded up

  const std::string pod =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n"
      "  terminationGracePeriodSeconds: 120\n  containers:\n  - name: a\n    image: a\n";
  const InjectResult kept = InjectManifests(pod, Defaults());
  REQUIRE(kept.ok);
  CHECK(kept.output.find("terminationGracePeriodSeconds: 120\n") != std::string::npos);
  CHECK(kept.output.find("--grace-period\n        - 120s\n") != std::string::npos);

  InjectOptions slow;
  slow.drain_timeout = Millis{150000};
  const InjectResult raised = InjectManifests(pod, slow);
  REQUIRE(raised.ok);
  CHECK(raised.output.find("terminationGracePeriodSeconds: 120\n") == std::string::npos);
  CHECK(raised.output.find("terminationGracePeriodSeconds: 157\n") != std::string::npos);
  REQUIRE(raised.notes.size() == 1);
  CHECK(raised.notes[0] ==
        "document 1: Pod p: terminationGracePeriodSeconds raised from 120 to 157: lb_delay 5s + "
        "drain timeout 2m30s + exit delay 0s + margin 2s must fit");
}

TEST_CASE("inject: --force replaces an existing preStop hook, and says so") {
  InjectOptions options;
  options.force = true;
  const InjectResult result = InjectManifests(ReadFixture("prestop-hook.yaml"), options);
  REQUIRE(result.ok);
  CHECK(result.output.find("sleep") == std::string::npos);
  CHECK(result.output.find("- /lastcall/bin/lastcall\n") != std::string::npos);
  REQUIRE(result.notes.size() == 1);
  CHECK(result.notes[0] ==
        "document 1: Deployment legacy: replaced the preStop hook of container \"legacy\" "
        "(--force)");
}

struct RefusalCase {
  std::string name;
  std::string input;
  InjectOptions options;
  std::string error;
};

TEST_CASE("inject: refuses what it cannot handle, with the reason") {
  const std::string supported =
      "Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob";
  InjectOptions unknown_container;
  unknown_container.container = "nope";
  const std::string pod_head = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n";
  const std::vector<RefusalCase> cases = {
      {"existing preStop hook", ReadFixture("prestop-hook.yaml"), Defaults(),
       "document 1: Deployment legacy: container \"legacy\" already has a preStop hook; "
       "lastcall's hook would replace it (use --force to replace it, after moving what it does "
       "into the app's drain endpoint)"},
      {"no containers", ReadFixture("no-containers.yaml"), Defaults(),
       "document 1: Pod empty: the pod has no containers"},
      {"unknown container", ReadFixture("deployment.yaml"), unknown_container,
       "document 1: Deployment web: no container named \"nope\" (containers: app, log-shipper)"},
      {"unsupported kind with a pod template", ReadFixture("rollout.yaml"), Defaults(),
       "document 1: Rollout canary: kind Rollout has a pod template but is not supported "
       "(supported: " +
           supported + "); add lastcall to it by hand (deploy/kubernetes)"},
      {"run-to-completion pod without --native", ReadFixture("cronjob.yaml"), Defaults(),
       "document 1: CronJob nightly-report: the pod's restartPolicy is OnFailure: it runs to "
       "completion, and a regular sidecar container never exits, so the pod would never "
       "complete; use --native (a native sidecar stops when the app has finished; Kubernetes "
       "1.29+)"},
      {"no pod spec", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec: {}\n",
       Defaults(), "document 1: Deployment d: no pod spec at spec.template"},
      {"no kind", "apiVersion: v1\nmetadata: {}\n", Defaults(),
       "document 1: not a Kubernetes object: it has no kind"},
      {"not a mapping", "- a\n- b\n", Defaults(),
       "document 1: not a Kubernetes object (a mapping with apiVersion and kind)"},
      {"invalid YAML, counted in the whole stream",
       "kind: Service\nmetadata: {name: s}\n---\nkind: Pod\nspec: [a,\n", Defaults(),
       "document 2: invalid YAML at line 6, column 1: end of sequence flow not found"},
      {"volume name taken",
       pod_head + "  containers: [{name: a, image: a}]\n  volumes: [{name: lastcall-run, "
                  "emptyDir: {}}]\n",
       Defaults(), "document 1: Pod p: a volume named \"lastcall-run\" already exists"},
      {"mount path taken",
       pod_head + "  containers: [{name: a, image: a, volumeMounts: [{name: v, mountPath: "
                  "/var/run/lastcall}]}]\n",
       Defaults(),
       "document 1: Pod p: container \"a\" already mounts a volume at /var/run/lastcall"},
      {"port taken",
       pod_head + "  containers: [{name: a, image: a}, {name: envoy, image: e, ports: "
                  "[{containerPort: 9901}]}]\n",
       Defaults(),
       "document 1: Pod p: container \"envoy\" already uses port 9901, where lastcall listens"},
      {"bad grace period",
       pod_head + "  terminationGracePeriodSeconds: soon\n  containers: [{name: a, image: a}]\n",
       Defaults(),
       "document 1: Pod p: terminationGracePeriodSeconds is not a non-negative integer"},
      {"a List item",
       "apiVersion: v1\nkind: List\nitems:\n- " + std::string("kind: Pod\n  metadata: {name: q}\n"
                                                              "  spec: {containers: []}\n"),
       Defaults(), "document 1: List item 1: Pod q: the pod has no containers"},
      {"a field of the wrong type", pod_head + "  containers: [{name: a}]\n  securityContext: x\n",
       Defaults(), ""},  // checked below: a clear message, no crash
  };
  for (const auto& test : cases) {
    CAPTURE(test.name);
    const InjectResult result = InjectManifests(test.input, test.options);
    CHECK_FALSE(result.ok);
    CHECK(result.output.empty());
    if (!test.error.empty()) {
      CHECK(result.error == test.error);
    } else {
      CHECK(result.error.rfind("document 1: unexpected structure: ", 0) == 0);
    }
  }
}

TEST_CASE("RunInject reads a file or stdin and writes nothing when it refuses") {
  std::ostringstream out, err;
  InjectOptions options;
  options.input = (FixtureDir() / "pod.yaml").string();
  std::istringstream unused;
  CHECK(RunInject(options, unused, out, err) == kExitDrained);
  CHECK(out.str() == ReadFixture("pod.injected.yaml"));
  CHECK(err.str().empty());

  std::ostringstream out2, err2;
  options.input = "-";
  std::istringstream stdin_text(ReadFixture("no-containers.yaml"));
  CHECK(RunInject(options, stdin_text, out2, err2) == kExitUsage);
  CHECK(out2.str().empty());
  CHECK(err2.str() == "lastcall inject: document 1: Pod empty: the pod has no containers\n");

  std::ostringstream out3, err3;
  options.input = "/nonexistent/app.yaml";
  CHECK(RunInject(options, unused, out3, err3) == kExitUsage);
  CHECK(err3.str() ==
        "lastcall inject: cannot read /nonexistent/app.yaml: No such file or directory\n");
}

TEST_CASE("the inject subcommand binds its flags") {
  CLI::App app("lastcall");
  InjectOptions options;
  CLI::App* inject = AddInjectSubcommand(app, options);
  REQUIRE(inject != nullptr);
  app.parse(
      "inject app.yaml --native --force --container api --image reg/lastcall:1 --lb-delay 10s "
      "--drain-timeout 1m30s --exit-delay 250ms --run-arg=--monitor=connections "
      "--run-arg=--monitor-port=7000",
      false);
  CHECK(inject->parsed());
  CHECK(options.input == "app.yaml");
  CHECK(options.native);
  CHECK(options.force);
  CHECK(options.container == "api");
  CHECK(options.image == "reg/lastcall:1");
  CHECK(options.lb_delay == Millis{10000});
  CHECK(options.drain_timeout == Millis{90000});
  CHECK(options.exit_delay == Millis{250});
  CHECK(options.run_args ==
        std::vector<std::string>{"--monitor=connections", "--monitor-port=7000"});

  CLI::App positional_app("lastcall");
  InjectOptions positional;
  AddInjectSubcommand(positional_app, positional);
  positional_app.parse("inject --run-arg=--settle=1s --run-arg=--poll-interval=50ms -", false);
  CHECK(positional.input == "-");
  CHECK(positional.run_args == std::vector<std::string>{"--settle=1s", "--poll-interval=50ms"});

  CLI::App defaults_app("lastcall");
  InjectOptions defaults;
  AddInjectSubcommand(defaults_app, defaults);
  defaults_app.parse("inject", false);
  CHECK(defaults.input == "-");
  CHECK(defaults.lb_delay == Millis{5000});
  CHECK(defaults.image == DefaultImage());
  CHECK(DefaultImage() == "ghcr.io/lastcall/lastcall:" + std::string(kVersion));

  CLI::App bad_app("lastcall");
  InjectOptions bad;
  AddInjectSubcommand(bad_app, bad);
  CHECK_THROWS_AS(bad_app.parse("inject --lb-delay 5", false), CLI::ValidationError);
}

}  // namespace
}  // namespace lastcall

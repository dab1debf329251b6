#include "inject_command.h"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/exit_status.h"
#include "test_fixtures.h"
#include "uninject_command.h"
#include "version.h"
#include "yaml_writer.h"

namespace lastcall {
namespace {

namespace fs = std::filesystem;

fs::path FixtureDir() { return fs::path(testing::FixturePath("inject")); }

std::string ReadFixture(const std::string& name) {
  std::ifstream in(FixtureDir() / name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << (FixtureDir() / name).string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The options `lastcall inject ARGS...` parses to.
InjectOptions Flags(const std::vector<std::string>& args) {
  CLI::App app("lastcall");
  InjectOptions options;
  AddInjectSubcommand(app, options);
  std::vector<std::string> reversed = {"inject"};
  reversed.insert(reversed.end(), args.begin(), args.end());
  std::reverse(reversed.begin(), reversed.end());  // CLI11 takes the arguments last first
  app.parse(reversed);
  return options;
}

struct GoldenCase {
  std::string output;  // == input: left unchanged
  std::string input;
  std::vector<std::string> flags;
};

// tests/fixtures/inject/cases.txt, shared with tests/deploy/validate.sh.
std::vector<GoldenCase> GoldenCases() {
  std::vector<GoldenCase> cases;
  std::istringstream lines(ReadFixture("cases.txt"));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() == '#') continue;
    std::istringstream words(line);
    GoldenCase test;
    words >> test.output >> test.input;
    for (std::string flag; words >> flag;) test.flags.push_back(flag);
    cases.push_back(test);
  }
  REQUIRE(cases.size() >= 20);
  return cases;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// The `lastcall run` arguments inject gave the first workload of `output` (below).
std::string RunArgs(const std::string& output);

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("inject: realistic manifests give the reviewed output") {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread exists
  const bool update = std::getenv("LASTCALL_UPDATE_GOLDEN") != nullptr;
  for (const auto& test : GoldenCases()) {
    CAPTURE(test.output);
    CAPTURE(Joined(test.flags));
    const InjectResult result = InjectManifests(ReadFixture(test.input), Flags(test.flags));
    CAPTURE(Joined(result.notes));
    CAPTURE(Joined(result.skipped));
    if (update && test.output != test.input) {
      std::ofstream(FixtureDir() / test.output, std::ios::binary) << result.output;
    }
    CHECK(result.output == ReadFixture(test.output));
    CHECK((result.injected == 0) == (test.output == test.input));
  }
}

TEST_CASE("uninject(inject(x)) == x byte for byte, on every fixture and with every flag set") {
  for (const auto& test : GoldenCases()) {
    CAPTURE(test.output);
    const std::string input = ReadFixture(test.input);
    const InjectResult injected = InjectManifests(input, Flags(test.flags));
    const UninjectResult back = UninjectManifests(injected.output);
    CHECK(back.output == input);
    CHECK(back.skipped.empty());
    CHECK(back.removed == injected.injected);
    // Uninjecting what was never injected changes nothing.
    CHECK(UninjectManifests(input).output == input);
  }
}

TEST_CASE("inject is idempotent: the same settings leave an injected document byte for byte") {
  for (const auto& test : GoldenCases()) {
    CAPTURE(test.output);
    const InjectOptions options = Flags(test.flags);
    const InjectResult once = InjectManifests(ReadFixture(test.input), options);
    const InjectResult twice = InjectManifests(once.output, options);
    CHECK(twice.output == once.output);
    CHECK(twice.injected == 0);
    if (once.injected > 0)
      CHECK(Contains(Joined(twice.notes), "already injected with these settings; unchanged"));
  }
}

TEST_CASE("re-inject with other settings upgrades: the same as injecting the original afresh") {
  for (const auto& test : GoldenCases()) {
    CAPTURE(test.output);
    std::vector<std::string> other = test.flags;
    other.push_back("--run-arg=--poll-interval=50ms");
    const std::string input = ReadFixture(test.input);
    const InjectResult first = InjectManifests(input, Flags(test.flags));
    const InjectResult upgraded = InjectManifests(first.output, Flags(other));
    const InjectResult fresh = InjectManifests(input, Flags(other));
    CHECK(upgraded.output == fresh.output);
    CHECK(upgraded.injected == first.injected);
    CHECK(UninjectManifests(upgraded.output).output == input);
    if (first.injected > 0) {
      CHECK(Contains(Joined(upgraded.notes), std::string("re-injected (lastcall ") + kVersion +
                                                 " -> " + kVersion + ", other settings)"));
    }
  }
}

TEST_CASE("a workload injected by another version is re-injected by this one") {
  const std::string input = ReadFixture("deployment.yaml");
  const std::string current = InjectManifests(input, {}).output;
  std::string older = current;
  const std::string version = std::string("\\\"version\\\":\\\"") + kVersion + "\\\"";
  REQUIRE(older.find(version) != std::string::npos);
  older.replace(older.find(version), version.size(), "\\\"version\\\":\\\"0.0.9\\\"");
  const InjectResult upgraded = InjectManifests(older, {});
  CHECK(upgraded.injected == 1);
  CHECK(upgraded.output == current);
  CHECK(Contains(Joined(upgraded.notes),
                 std::string("re-injected (lastcall 0.0.9 -> ") + kVersion + ")"));
}

TEST_CASE("re-inject follows a pod edited after inject: the wiring is read again") {
  std::string injected = InjectManifests(ReadFixture("deployment.yaml"), {}).output;
  const size_t port = injected.rfind("containerPort: 8080");  // the app's, not the original's
  REQUIRE(port != std::string::npos);
  injected.replace(port, 19, "containerPort: 8081");
  const InjectResult again = InjectManifests(injected, {});
  CHECK(again.injected == 1);
  CHECK(Contains(RunArgs(again.output), "--monitor-port 8081 "));
  CHECK(Contains(Joined(again.notes), "re-injected"));
  // The edit is kept by uninject too.
  const UninjectResult back = UninjectManifests(again.output);
  CHECK(Contains(back.output, "containerPort: 8081"));
  CHECK_FALSE(Contains(back.output, "name: lastcall"));
}

TEST_CASE("a lastcall container inject did not add is left alone; uninject removes it") {
  const std::string legacy = ReadFixture("legacy-injected.yaml");  // no status annotation
  const InjectResult left = InjectManifests(legacy, InjectOptions{});
  CHECK(left.injected == 0);
  CHECK(left.output == legacy);
  CHECK(Contains(Joined(left.notes), "has a lastcall container but no lastcall.dev/status"));
  const UninjectResult removed = UninjectManifests(legacy);
  CHECK(removed.removed == 1);
  CHECK_FALSE(Contains(removed.output, "name: lastcall"));
  CHECK_FALSE(Contains(removed.output, "/lastcall/bin"));
  CHECK(Contains(Joined(removed.notes), "terminationGracePeriodSeconds is kept"));
  const InjectResult again = InjectManifests(removed.output, InjectOptions{});
  CHECK(again.injected == 1);
  CHECK(Contains(again.output, "- --monitor\n            - connections\n"));
}

TEST_CASE("uninject keeps edits made after inject, and removes only lastcall's additions") {
  const std::string input = ReadFixture("deployment.yaml");
  std::string injected = InjectManifests(input, InjectOptions{}).output;
  const size_t replicas = injected.rfind("replicas: 3");  // the spec, not the original
  REQUIRE(replicas != std::string::npos);
  injected.replace(replicas, 11, "replicas: 5");
  const UninjectResult back = UninjectManifests(injected);
  CHECK(back.output != input);
  CHECK(Contains(Joined(back.notes), "changed since inject"));
  std::string expected_text = input;
  expected_text.replace(expected_text.find("replicas: 3"), 11, "replicas: 5");
  CHECK(back.output.find("lastcall") == std::string::npos);
  CHECK(SameYaml(YAML::Load(back.output), YAML::Load(expected_text)));
}

// The `lastcall run` arguments inject gave the first workload of `output`.
std::string RunArgs(const std::string& output) {
  const YAML::Node doc = YAML::Load(output.substr(0, output.find("\n---")));
  const YAML::Node pod =
      doc["kind"].as<std::string>() == "Pod" ? doc["spec"] : doc["spec"]["template"]["spec"];
  for (const char* list : {"containers", "initContainers"}) {
    for (const auto& container : pod[list]) {
      if (container["name"].as<std::string>() != "lastcall") continue;
      std::string args;
      for (const auto& arg : container["args"]) args += arg.as<std::string>() + " ";
      return args;
    }
  }
  return "";
}

TEST_CASE("inject wires what the pod declares, and never a monitor that cannot observe the app") {
  // Named port and httpGet readiness probe: connections on the app's port, its probe upstream.
  CHECK(RunArgs(InjectManifests(ReadFixture("deployment.yaml"), {}).output) ==
        "run --listen :9902 --lb-delay 5s --drain-timeout 20s --grace-period 30s --log-format json "
        "--drain-url  --monitor connections --monitor-port 8080 --monitor-count in_flight "
        "--settle 1s --readiness-upstream http://127.0.0.1:8080/healthz ");
  // A drain endpoint declared by annotation: the status monitor, and refused is not drained.
  const InjectResult helm = InjectManifests(ReadFixture("helm.yaml"), {});
  CHECK(Contains(RunArgs(helm.output.substr(helm.output.find("kind: Deployment") - 15)),
                 "--drain-url http://127.0.0.1:8080/drain --monitor status --refused-means error "
                 "--readiness-upstream http://127.0.0.1:8080/readyz "));
  // Nothing to observe: skipped, with the annotation to set.
  const InjectResult pod = InjectManifests(ReadFixture("pod.yaml"), {});
  CHECK(pod.injected == 0);
  REQUIRE(pod.skipped.size() == 1);
  CHECK(pod.skipped[0] ==
        "document 1: Pod worker: cannot observe container \"worker\": no Service of the input "
        "targets it, it declares no client TCP containerPort and no drain endpoint; set the "
        "annotation lastcall.dev/drain-url (the app's drain endpoint, e.g. "
        "http://127.0.0.1:8080/drain) or lastcall.dev/ports, or lastcall.dev/monitor: none for a "
        "fixed wait");
  // The annotations that settle it.
  const std::string pod_text = ReadFixture("pod.yaml");
  const std::string annotated = pod_text.substr(0, pod_text.find("spec:")) +
                                "  annotations:\n    lastcall.dev/monitor: none\n" +
                                pod_text.substr(pod_text.find("spec:"));
  const InjectResult none = InjectManifests(annotated, {});
  CHECK(none.injected == 1);
  CHECK(Contains(RunArgs(none.output), "--drain-url  --monitor none "));
  // A user-wired monitor is left to the user.
  CHECK(RunArgs(InjectManifests(pod_text, Flags({"--run-arg=--monitor=prometheus",
                                                 "--run-arg=--monitor-metric=active"}))
                    .output) ==
        "run --listen :9902 --lb-delay 5s --drain-timeout 20s --grace-period 30s --log-format json "
        "--monitor=prometheus --monitor-metric=active ");
}

TEST_CASE(
    "inject keeps existing preStop hooks: sleep -> lb_delay, exec and httpGet after the drain") {
  const InjectResult sleep = InjectManifests(ReadFixture("sleep-hook.yaml"), {});
  CHECK(Contains(RunArgs(sleep.output), "--lb-delay 15s --drain-timeout 20s --grace-period 45s"));
  CHECK(Contains(Joined(sleep.notes), "slept 15s in preStop: lb_delay raised from 5s to 15s"));
  const InjectResult shell_sleep = InjectManifests(ReadFixture("prestop-hook.yaml"), {});
  CHECK(Contains(RunArgs(shell_sleep.output), "--lb-delay 12s"));
  CHECK(Contains(shell_sleep.output, "terminationGracePeriodSeconds: 34\n"));

  const InjectResult exec = InjectManifests(ReadFixture("exec-hook.yaml"), {});
  CHECK(Contains(exec.output,
                 "command:\n                  - /lastcall/bin/lastcall\n"
                 "                  - prestop\n                  - --then\n"
                 "                  - --\n"
                 "                  - /app/bin/deregister\n"
                 "                  - --service\n                  - billing\n"));
  const InjectResult get = InjectManifests(ReadFixture("httpget-hook.yaml"), {});
  CHECK(Contains(get.output,
                 "- --then-get\n                  - "
                 "http://127.0.0.1:9300/admin/leave-cluster\n"
                 "                  - --then-header\n"
                 "                  - \"X-Reason: shutdown\"\n"));
  // --force drops the hook instead.
  const InjectResult forced = InjectManifests(ReadFixture("exec-hook.yaml"), Flags({"--force"}));
  CHECK_FALSE(Contains(forced.output, "deregister\n"));
  CHECK(Contains(Joined(forced.notes),
                 "replaced the preStop hook of container \"billing\" (--force)"));
}

TEST_CASE("inject: the install step writes outside /lastcall, which is a file in the image") {
  // A container runtime cannot make a mount point below a file: an init container of lastcall's
  // image that mounts its volume at /lastcall/bin never starts (found by running the image).
  const InjectResult result = InjectManifests(ReadFixture("deployment.yaml"), Flags({}));
  REQUIRE(result.injected == 1);
  const YAML::Node pod = YAML::Load(result.output)["spec"]["template"]["spec"];
  YAML::Node install;
  for (size_t i = 0; i < pod["initContainers"].size(); ++i) {
    const YAML::Node container = pod["initContainers"][i];
    if (container["name"].as<std::string>() == "lastcall-install") install = container;
  }
  REQUIRE(install.IsDefined());
  CHECK(install["args"][2].as<std::string>() == "/lastcall-bin");
  REQUIRE(install["volumeMounts"].size() == 1);
  CHECK(install["volumeMounts"][0]["mountPath"].as<std::string>() == "/lastcall-bin");
  // The app still runs the copy at /lastcall/bin/lastcall, from the same volume.
  CHECK(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][0].as<std::string>() ==
        "/lastcall/bin/lastcall");
}

TEST_CASE("lastcall's port is free of every port in the pod; hostNetwork needs one given") {
  const InjectResult envoy = InjectManifests(ReadFixture("port-9901.yaml"), {});
  CHECK(Contains(RunArgs(envoy.output), "--listen :9902 "));
  CHECK(Contains(envoy.output, "containerPort: 9902\n"));
  REQUIRE(envoy.decisions.size() == 1);
  CHECK(Contains(envoy.decisions[0].listen_why,
                 "9902 skips the pod's declared ports and the "
                 "proxies' defaults (Envoy 9901"));
  const InjectResult taken =
      InjectManifests(ReadFixture("port-9901.yaml"), Flags({"--port", "10000"}));
  CHECK(taken.injected == 0);
  CHECK(
      Contains(Joined(taken.skipped), "port 10000 (--port or lastcall.dev/port) is already used"));

  const InjectResult host = InjectManifests(ReadFixture("hostnetwork.yaml"), {});
  CHECK(host.injected == 0);
  CHECK(Contains(Joined(host.skipped),
                 "DaemonSet ingress: hostNetwork: lastcall's port would be a "
                 "port of the node"));
  CHECK(Contains(
      RunArgs(InjectManifests(ReadFixture("hostnetwork.yaml"), Flags({"--port", "19901"})).output),
      "--listen :19901 "));
}

TEST_CASE("inject skips and reports; the rest of the stream is injected; --strict fails") {
  // The Helm hooks are left alone (not a failure); a typo in an annotation is a skip.
  const std::string bundle =
      ReadFixture("helm.yaml") +
      "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\n  annotations:\n"
      "    lastcall.dev/lb_delay: 10s\nspec:\n  containers: [{name: a, image: a, ports: "
      "[{containerPort: 80}]}]\n";
  const InjectResult result = InjectManifests(bundle, {});
  CHECK(result.injected == 1);
  CHECK(result.skipped ==
        std::vector<std::string>{"document 7: Pod typo: unknown annotation lastcall.dev/lb_delay "
                                 "(did you mean lastcall.dev/lb-delay?)"});
  CHECK(Contains(Joined(result.notes),
                 "document 5: Job shop-migrate: a Helm hook (helm.sh/hook: "
                 "pre-install,pre-upgrade): it runs to completion around a release, not behind a "
                 "Service; left unchanged"));
  CHECK(Contains(Joined(result.notes),
                 "document 6: Pod shop-test-connection: a Helm hook (helm.sh/hook: test)"));
  CHECK(
      Contains(Joined(result.notes),
               "document 4: Deployment shop-cache: lastcall.dev/inject: disabled; left unchanged"));

  std::istringstream in1(bundle), in2(bundle);
  std::ostringstream out1, err1, out2, err2;
  InjectOptions options;
  CHECK(RunInject(options, in1, out1, err1) == kExitDrained);
  options.strict = true;
  CHECK(RunInject(options, in2, out2, err2) == kExitTimedOut);
  CHECK(out1.str() == result.output);
  CHECK(out2.str() == result.output);
  CHECK(Contains(err1.str(), "lastcall inject: skipped document 7: Pod typo: unknown annotation"));
  CHECK(Contains(err1.str(), "lastcall inject: job/shop-migrate: left alone: a Helm hook"));
  CHECK(Contains(err1.str(),
                 "lastcall inject: 1 workload(s) injected, 1 skipped (left unchanged; "
                 "--strict fails on this)\n"));

  // Invalid YAML and objects it cannot read are skipped too, and copied as they were.
  const std::string broken = "kind: Service\nmetadata: {name: s}\n---\nkind: Pod\nspec: [a,\n";
  const InjectResult invalid = InjectManifests(broken, {});
  CHECK(invalid.output == broken);
  CHECK(invalid.skipped ==
        std::vector<std::string>{"document 2: invalid YAML at line 6, column 1: end of sequence "
                                 "flow not found"});
}

TEST_CASE("inject skips what it cannot handle, with the reason") {
  const std::string pod_head = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n";
  const std::string app = "  containers: [{name: a, image: a, ports: [{containerPort: 80}]}]\n";
  struct SkipCase {
    std::string name;
    std::string input;
    std::vector<std::string> flags;
    std::string reason;
  };
  const std::vector<SkipCase> cases = {
      {"no containers",
       ReadFixture("no-containers.yaml"),
       {},
       "Pod empty: the pod has no containers"},
      {"unknown container",
       ReadFixture("deployment.yaml"),
       {"--container", "nope"},
       "Deployment web: no container named \"nope\" (containers: app, log-shipper)"},
      {"unsupported kind",
       ReadFixture("rollout.yaml"),
       {},
       "Rollout canary: kind Rollout has a pod template but is not supported (supported: Pod, "
       "Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob); "
       "add lastcall to it by hand (deploy/kubernetes)"},
      {"no pod spec",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec: {}\n",
       {},
       "Deployment d: no pod spec at spec.template"},
      {"no kind", "apiVersion: v1\nmetadata: {}\n", {}, "not a Kubernetes object: it has no kind"},
      {"volume name taken",
       pod_head + app + "  volumes: [{name: lastcall-run, emptyDir: {}}]\n",
       {},
       "Pod p: a volume named \"lastcall-run\" already exists"},
      {"bad annotation",
       "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    "
       "lastcall.dev/lb-delay: soon\nspec:\n" +
           app,
       {},
       "Pod p: annotation lastcall.dev/lb-delay: \"soon\": expected a number before \"soon\""},
      {"bad grace period",
       pod_head + "  terminationGracePeriodSeconds: soon\n" + app,
       {},
       "Pod p: terminationGracePeriodSeconds is not a non-negative integer"},
      {"https hook",
       pod_head + "  containers: [{name: a, image: a, ports: [{containerPort: 80}], lifecycle: "
                  "{preStop: {httpGet: {port: 80, scheme: HTTPS}}}}]\n",
       {},
       "Pod p: container \"a\"'s preStop httpGet cannot be chained after the drain: scheme HTTPS "
       "(lastcall speaks plain HTTP); move it into the app, or use --force to drop it"},
  };
  for (const auto& test : cases) {
    CAPTURE(test.name);
    const InjectResult result = InjectManifests(test.input, Flags(test.flags));
    CHECK(result.output == test.input);
    CHECK(result.injected == 0);
    REQUIRE(result.skipped.size() == 1);
    CHECK(result.skipped[0].rfind("document 1: " + test.reason, 0) == 0);
  }
}

// A Deployment whose pod is fine, with `extra` appended at the top level of the object.
std::string AppDeployment(const std::string& extra) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n"
         "    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n"
         "    spec:\n      containers:\n        - name: web\n          image: web:1\n"
         "          ports: [{containerPort: 8080}]\n" +
         extra;
}

TEST_CASE("inject refuses duplicate keys, with line and column: readers disagree on which counts") {
  // yaml-cpp reads the first `spec:`, kubectl and PyYAML the last: the sidecar would be in a pod
  // nobody applies.
  const std::string twice = AppDeployment("spec:\n  replicas: 1\n");
  const InjectResult result = InjectManifests(twice, {});
  CHECK(result.output == twice);
  CHECK(result.injected == 0);
  REQUIRE(result.skipped.size() == 1);
  CHECK(result.skipped[0] ==
        "document 1: refused at line 16, column 1: duplicate key \"spec\" (first at line 5, "
        "column 1): yaml-cpp reads the first, kubectl, PyYAML and most tools the last, so they "
        "would not see the same object");
  std::istringstream in(twice);
  std::ostringstream out, err;
  InjectOptions strict;
  strict.strict = true;
  CHECK(RunInject(strict, in, out, err) == kExitTimedOut);
  CHECK(out.str() == twice);
  CHECK(Contains(err.str(), "lastcall inject: skipped document 1: refused at line 16, column 1"));

  // Deeper, in a later document, and spelled differently (an alias, a quoted key, null).
  const std::string later = "kind: Service\nmetadata: {name: s}\n---\n" + AppDeployment("") +
                            "      hostname: a\n      \"hostname\": b\n";
  CHECK(InjectManifests(later, {}).skipped ==
        std::vector<std::string>{"document 2: refused at line 20, column 7: duplicate key "
                                 "\"hostname\" (first at line 19, column 7): yaml-cpp reads the "
                                 "first, kubectl, PyYAML and most tools the last, so they would "
                                 "not see the same object"});
  CHECK(Contains(InjectManifests("kind: ConfigMap\ndata: {&k a: 1, *k : 2}\n", {}).skipped.at(0),
                 "document 1: refused at line 2, column 17: duplicate key \"a\" (first at line 2, "
                 "column 8)"));
  CHECK(Contains(InjectManifests("kind: ConfigMap\ndata: {~: 1, null: 2}\n", {}).skipped.at(0),
                 "duplicate key null"));
  // uninject reads the same way.
  CHECK(UninjectManifests(twice).output == twice);
  CHECK(Contains(Joined(UninjectManifests(twice).skipped), "refused at line 16, column 1"));
}

TEST_CASE("inject bounds what aliases expand to, and refuses cycles; small aliases still work") {
  // 3 levels of 30: 27,000 nodes from 200 bytes (7 levels of 10 took 36 s and 2.9 GB before).
  std::string b = "[*a", c = "[*b";
  for (int i = 1; i < 30; ++i) b += ", *a", c += ", *b";
  const std::string bomb =
      "x-laughs:\n  a: &a [l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, "
      "l, l, l, l, l, l, l]\n  b: &b " +
      b + "]\n  c: " + c + "]\n";
  const std::string laughs = AppDeployment(bomb);
  const InjectResult result = InjectManifests(laughs, {});
  CHECK(result.output == laughs);
  REQUIRE(result.skipped.size() == 1);
  CHECK(Contains(result.skipped[0], "document 1: refused at line 19, column "));
  CHECK(Contains(result.skipped[0],
                 ": alias *b brings the nodes that aliases add to 10240, over 10000 (aliases that "
                 "name aliases multiply: a \"billion laughs\")"));
  CHECK(Contains(Joined(UninjectManifests(laughs).skipped), "refused at line 19, column "));

  // A cycle (`&a [*a]`) would make a graph that every tree walk follows forever.
  const InjectResult cycle = InjectManifests(AppDeployment("x-loop: &loop [*loop]\n"), {});
  CHECK(cycle.skipped == std::vector<std::string>{
                             "document 1: refused at line 16, column 16: alias *loop names a node "
                             "that contains it (a cycle: no tree reads it)"});

  // Aliases that expand little keep working: injected, and uninject gives the input back.
  const std::string shared =
      AppDeployment("") + "          env: &env [{name: A, value: \"1\"}]\n" +
      "        - name: worker\n          image: web:1\n          env: *env\n";
  const InjectResult injected = InjectManifests(shared, {});
  CHECK(injected.skipped.empty());
  CHECK(injected.injected == 1);
  CHECK(UninjectManifests(injected.output).output == shared);
}

TEST_CASE("meshes: the annotations Istio and Linkerd need, detected or with --mesh") {
  const InjectResult istio = InjectManifests(ReadFixture("istio.yaml"), {});
  CHECK(Contains(istio.output,
                 "proxy.istio.io/config: |\n          terminationDrainDuration: 27s\n"));
  const InjectResult linkerd = InjectManifests(ReadFixture("linkerd.yaml"), {});
  CHECK(
      Contains(linkerd.output, "config.alpha.linkerd.io/proxy-wait-before-exit-seconds: \"27\"\n"));
  CHECK(Contains(linkerd.output, "config.linkerd.io/skip-inbound-ports: \"9902\"\n"));
  const InjectResult flagged =
      InjectManifests(ReadFixture("kubectl-get.yaml"), Flags({"--mesh", "linkerd"}));
  CHECK(Contains(flagged.output, "proxy-wait-before-exit-seconds"));
  CHECK_FALSE(Contains(InjectManifests(ReadFixture("kubectl-get.yaml"), {}).output, "linkerd"));
}

TEST_CASE("the status annotation carries the version and a hash of the settings") {
  const InjectResult result = InjectManifests(ReadFixture("kubectl-get.yaml"), {});
  const YAML::Node doc = YAML::Load(result.output);
  const std::string status =
      doc["spec"]["template"]["metadata"]["annotations"]["lastcall.dev/status"].as<std::string>();
  CHECK(status == std::string("{\"settings\":\"") + SettingsHash(InjectOptions{}) +
                      "\",\"version\":\"" + kVersion + "\"}");
  InjectOptions other;
  other.drain_timeout = Millis{21000};
  CHECK(SettingsHash(other) != SettingsHash(InjectOptions{}));
  CHECK(SettingsHash(other).size() == 16);
}

TEST_CASE("RunInject reads a file or stdin; RunUninject gives it back") {
  std::ostringstream out, err;
  InjectOptions options;
  options.input = (FixtureDir() / "deployment.yaml").string();
  std::istringstream unused;
  CHECK(RunInject(options, unused, out, err) == kExitDrained);
  CHECK(out.str() == ReadFixture("deployment.injected.yaml"));

  std::istringstream injected(out.str());
  std::ostringstream back, back_err;
  CHECK(RunUninject(UninjectOptions{}, injected, back, back_err) == kExitDrained);
  CHECK(back.str() == ReadFixture("deployment.yaml"));
  CHECK(back_err.str().empty());

  std::ostringstream out3, err3;
  options.input = "/nonexistent/app.yaml";
  CHECK(RunInject(options, unused, out3, err3) == kExitUsage);
  CHECK(err3.str() ==
        "lastcall inject: cannot read /nonexistent/app.yaml: No such file or directory\n");
}

TEST_CASE("the inject subcommand binds its flags") {
  const InjectOptions options = Flags({"app.yaml",
                                       "--native",
                                       "--force",
                                       "--strict",
                                       "--container",
                                       "api",
                                       "--image",
                                       "reg/lastcall:1",
                                       "--lb-delay",
                                       "10s",
                                       "--drain-timeout",
                                       "1m30s",
                                       "--exit-delay",
                                       "250ms",
                                       "--drain-url",
                                       "http://127.0.0.1:8080/drain",
                                       "--monitor",
                                       "json",
                                       "--refused-means",
                                       "drained",
                                       "--port",
                                       "9911",
                                       "--mesh",
                                       "istio",
                                       "--run-arg=--settle=1s",
                                       "--run-arg=--poll-interval=50ms",
                                       "--cluster-access"});
  CHECK(options.input == "app.yaml");
  CHECK(options.native);
  CHECK(options.force);
  CHECK(options.strict);
  CHECK(options.container == "api");
  CHECK(options.image == "reg/lastcall:1");
  CHECK(options.lb_delay == Millis{10000});
  CHECK(options.drain_timeout == Millis{90000});
  CHECK(options.exit_delay == Millis{250});
  CHECK(options.drain_url == "http://127.0.0.1:8080/drain");
  CHECK(options.monitor == "json");
  CHECK(options.refused_means == "drained");
  CHECK(options.port == 9911);
  CHECK(options.mesh == "istio");
  CHECK(options.run_args == std::vector<std::string>{"--settle=1s", "--poll-interval=50ms"});
  CHECK(options.cluster_access);

  const InjectOptions defaults = Flags({});
  CHECK(defaults.input == "-");
  CHECK(defaults.lb_delay == Millis{5000});
  CHECK_FALSE(defaults.port.has_value());
  CHECK_FALSE(defaults.cluster_access);
  CHECK(defaults.image == DefaultImage());
  CHECK(DefaultImage() == "ghcr.io/lastcall/lastcall:" + std::string(kVersion));

  for (const char* bad : {"--lb-delay=5", "--mesh=consul", "--monitor=prometheus", "--port=0"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(Flags({bad}), CLI::ParseError);
  }
}

size_t Occurrences(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

TEST_CASE("the lastcall container always gets the pod's name, namespace and UID from the API") {
  const InjectResult result = InjectManifests(ReadFixture("deployment.yaml"), {});
  const YAML::Node doc = YAML::Load(result.output);
  const YAML::Node containers = doc["spec"]["template"]["spec"]["containers"];
  YAML::Node env;
  for (const auto& container : containers) {
    if (container["name"].as<std::string>() == "lastcall") env = container["env"];
  }
  REQUIRE(env.IsSequence());
  std::map<std::string, std::string> fields;
  for (const auto& var : env) {
    fields[var["name"].as<std::string>()] =
        var["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>();
  }
  CHECK(fields == std::map<std::string, std::string>{{"POD_NAME", "metadata.name"},
                                                     {"POD_NAMESPACE", "metadata.namespace"},
                                                     {"POD_UID", "metadata.uid"}});
}

TEST_CASE("--cluster-access: a Role and a RoleBinding once, kept on re-inject, uninject removes") {
  const std::string input = ReadFixture("deployment.yaml");
  CHECK(Occurrences(InjectManifests(input, {}).output, "kind: Role") == 0);

  InjectOptions access;
  access.cluster_access = true;
  const InjectResult once = InjectManifests(input, access);
  CHECK(Occurrences(once.output, "\nkind: Role\n") == 1);
  CHECK(Occurrences(once.output, "\nkind: RoleBinding\n") == 1);
  CHECK(Occurrences(once.output, "lastcall.dev/generated-by: lastcall inject --cluster-access") ==
        2);
  // Bound to the pod's own service account, in its namespace.
  const std::vector<YAML::Node> docs = YAML::LoadAll(once.output);
  REQUIRE(docs.size() == 3);
  CHECK(docs[2]["metadata"]["name"].as<std::string>() == "lastcall-web");
  CHECK(docs[2]["subjects"][0]["name"].as<std::string>() == "web");
  CHECK(docs[2]["subjects"][0]["namespace"].as<std::string>() == "shop");
  CHECK(docs[1]["rules"].size() == 2);

  // The same settings again: nothing written twice.
  CHECK(InjectManifests(once.output, access).output == once.output);
  // Without cluster access: the workload is re-injected, lastcall's objects stay, with a note.
  const InjectResult without = InjectManifests(once.output, {});
  CHECK(without.injected == 1);
  CHECK(Occurrences(without.output, "\nkind: Role\n") == 1);
  CHECK(Contains(Joined(without.notes), "no longer asks for it"));
  // uninject takes everything back.
  const UninjectResult back = UninjectManifests(once.output);
  CHECK(back.output == input);
  CHECK(Contains(Joined(back.notes), "removed Role shop/lastcall"));
  CHECK(UninjectManifests(without.output).output == input);
}

TEST_CASE("--cluster-access never writes over a Role or RoleBinding of the user's") {
  const std::string role =
      "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: lastcall\n"
      "  namespace: shop\nrules: []\n";
  InjectOptions access;
  access.cluster_access = true;
  const InjectResult result = InjectManifests(ReadFixture("deployment.yaml") + role, access);
  CHECK(Occurrences(result.output, "\nkind: Role\n") == 1);  // the user's
  CHECK(Occurrences(result.output, "\nkind: RoleBinding\n") == 1);
  CHECK(Contains(Joined(result.notes), "Role shop/lastcall is in the input already"));
  // uninject leaves the user's Role alone.
  CHECK(Contains(UninjectManifests(result.output).output, role));
}

TEST_CASE("cluster access by annotation; explained; a bad value skips the workload") {
  std::string input = ReadFixture("deployment.yaml");
  const std::string annotated = "    deployment.kubernetes.io/revision: \"3\"\n";
  REQUIRE(Contains(input, annotated));
  input.replace(input.find(annotated), annotated.size(),
                annotated + "    lastcall.dev/cluster-access: \"true\"\n");
  const InjectResult result = InjectManifests(input, {});
  CHECK(Occurrences(result.output, "\nkind: RoleBinding\n") == 1);
  REQUIRE(result.decisions.size() == 1);
  const nlohmann::json json = result.decisions[0].ToJson();
  CHECK(json["cluster_access"]["service_account"] == "web");
  CHECK(json["cluster_access"]["role_binding"] == "lastcall-web");
  CHECK(Contains(result.decisions[0].Explain(),
                 "cluster access: Role lastcall and RoleBinding lastcall-web for service account "
                 "web"));
  CHECK(InjectManifests(ReadFixture("deployment.yaml"), {})
            .decisions[0]
            .ToJson()
            .at("cluster_access")
            .is_null());

  std::string bad = input;
  bad.replace(bad.find("cluster-access: \"true\""), 22, "cluster-access: \"yes\"");
  const InjectResult refused = InjectManifests(bad, {});
  CHECK(refused.injected == 0);
  CHECK(Contains(Joined(refused.skipped),
                 "annotation lastcall.dev/cluster-access: \"yes\": expected \"true\" or "
                 "\"false\""));
}

}  // namespace
}  // namespace lastcall

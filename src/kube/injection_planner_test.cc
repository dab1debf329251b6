#include "injection_planner.h"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "base/exit_status.h"
#include "inject_command.h"
#include "test_fixtures.h"
#include "uninject_command.h"
#include "yaml_writer.h"

namespace lastcall {
namespace {

std::string Fixture(const std::string& name) {
  const std::string path = testing::FixturePath("inject") + "/" + name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<int> Ports(const WorkloadDecision& decision) {
  std::vector<int> ports;
  for (const auto& port : decision.ports) ports.push_back(port.port);
  return ports;
}

std::vector<int> Multiplexed(const WorkloadDecision& decision) {
  std::vector<int> ports;
  for (const auto& port : decision.ports) {
    if (port.multiplexed) ports.push_back(port.port);
  }
  return ports;
}

std::string Unwatched(const WorkloadDecision& decision) {
  std::string text;
  for (const auto& port : decision.unwatched)
    text += std::to_string(port.port) + " " + port.why + "\n";
  return text;
}

// The decisions inject takes on a fixture, by "kind/name".
std::map<std::string, WorkloadDecision> Decide(const std::string& fixture,
                                               const InjectOptions& options = {}) {
  const InjectResult result = InjectManifests(Fixture(fixture), options);
  REQUIRE(result.refused.empty());
  std::map<std::string, WorkloadDecision> decisions;
  for (const auto& decision : result.decisions) {
    decisions[decision.kind + "/" + decision.name] = decision;
  }
  return decisions;
}

std::string Arg(const WorkloadDecision& decision) {
  REQUIRE(decision.plan.has_value());
  std::string text;
  for (const auto& arg : decision.plan->run_args) text += arg + " ";
  return text;
}

TEST_CASE("planner: a gRPC service is watched on its Service's port, multiplexed") {
  auto decisions = Decide("grpc-service.yaml");
  REQUIRE(decisions.size() == 1);
  const WorkloadDecision& cart = decisions.at("Deployment/cartservice");
  CHECK(cart.action == PlanAction::kInject);
  CHECK(Ports(cart) == std::vector<int>{7070});
  CHECK(Multiplexed(cart) == std::vector<int>{7070});
  CHECK(cart.ports[0].why == "Service cartservice → 7070");
  CHECK(Contains(cart.ports[0].multiplexed_why, "port name grpc: HTTP/2 carries many requests"));
  CHECK(cart.monitor == "connections");
  CHECK(cart.count == "in_flight");
  CHECK(cart.settle == Millis(1000));
  CHECK(Contains(Arg(cart),
                 "--monitor-port 7070 --monitor-count in_flight --multiplexed-port "
                 "7070 --settle 1s"));
  CHECK(cart.mesh.name.empty());
  CHECK_FALSE(cart.mesh.known);
  CHECK(cart.Explain() ==
        "deployment/cartservice: ports 7070 (Service cartservice → 7070, multiplexed), monitor "
        "connections/in_flight settle 1s, lb_delay 5s, port 9902, mesh none (namespace not set "
        "and no Namespace in the input: cannot tell; --mesh to say)");
}

TEST_CASE("planner: a StatefulSet's peer and JMX ports are not watched, its hook is chained") {
  auto decisions = Decide("cassandra.yaml");
  const WorkloadDecision& cassandra = decisions.at("StatefulSet/cassandra");
  CHECK(cassandra.action == PlanAction::kInject);
  CHECK(Ports(cassandra) == std::vector<int>{9042});
  CHECK(Multiplexed(cassandra).empty());
  CHECK(Unwatched(cassandra) ==
        "7000 declared intra-node: no Service in the input targets it\n"
        "7001 declared tls-intra-node: no Service in the input targets it\n"
        "7199 declared jmx: no Service in the input targets it\n");
  CHECK(cassandra.plan->hook_command ==
        std::vector<std::string>{"/lastcall/bin/lastcall", "prestop", "--then", "--", "/bin/sh",
                                 "-c", "nodetool drain"});
  CHECK(cassandra.plan->grace_seconds == 1800);  // never shrunk

  // Without its Service, the declared ports less those that by name are peers and JMX.
  const std::string alone = Fixture("cassandra.yaml").substr(Fixture("cassandra.yaml").find("---"));
  const InjectResult result = InjectManifests(alone, {});
  REQUIRE(result.decisions.size() == 1);
  CHECK(Ports(result.decisions[0]) == std::vector<int>{9042});
  CHECK(result.decisions[0].ports_why == "declared (no Service in the input selects the pod)");
  CHECK(Contains(Unwatched(result.decisions[0]),
                 "7000 declared intra-node: peers (inter-node), "
                 "not client traffic"));
  CHECK(Contains(Unwatched(result.decisions[0]), "7199 declared jmx: JMX, not client traffic"));
}

TEST_CASE("planner: a namespace labelled for Istio makes its workloads meshed") {
  auto decisions = Decide("bookinfo.yaml");
  REQUIRE(decisions.size() == 2);
  for (const char* name : {"Deployment/productpage-v1", "Deployment/reviews-v1"}) {
    CAPTURE(name);
    const WorkloadDecision& decision = decisions.at(name);
    CHECK(decision.action == PlanAction::kInject);
    CHECK(Ports(decision) == std::vector<int>{9080});
    CHECK(decision.mesh.name == "istio");
    CHECK(decision.mesh.why == "namespace bookinfo label istio-injection=enabled");
    CHECK(decision.mesh.quit_url == "http://127.0.0.1:15020/quitquitquit");
    CHECK(decision.mesh.quit_method == "POST");
    // The proxy drains for the whole budget: lb_delay 5s + drain 20s + margin 2s.
    CHECK(decision.mesh.annotations.at("proxy.istio.io/config") ==
          "terminationDrainDuration: 27s\n");
  }
  // Opted out on the pod, or --mesh none: no mesh.
  const std::string opted_out = [] {
    std::string text = Fixture("bookinfo.yaml");
    const std::string labels = "      labels:\n        app: reviews\n";
    text.replace(text.find(labels), labels.size(),
                 labels + "        sidecar.istio.io/inject: \"false\"\n");
    return text;
  }();
  const InjectResult out = InjectManifests(opted_out, {});
  CHECK(out.decisions.at(1).mesh.name.empty());
  InjectOptions none;
  none.mesh = "none";
  CHECK(Decide("bookinfo.yaml", none).at("Deployment/reviews-v1").mesh.name.empty());
}

TEST_CASE("planner: Linkerd by namespace annotation; the quit URL is data in the plan") {
  BundleFacts bundle;
  bundle.namespaces.push_back({"emojivoto", {}, {{"linkerd.io/inject", "enabled"}}});
  WorkloadFacts pod;
  pod.kind = "Pod";
  pod.namespace_name = "emojivoto";
  pod.name = "web";
  pod.pod_spec = YAML::Load(R"({"containers":[{"name":"web","image":"web:1",
                                 "ports":[{"name":"http","containerPort":8080}]}]})");
  const WorkloadDecision decision = PlanWorkload(pod, bundle, {});
  CHECK(decision.action == PlanAction::kInject);
  CHECK(decision.mesh.name == "linkerd");
  CHECK(decision.mesh.why == "namespace emojivoto linkerd.io/inject=enabled");
  CHECK(decision.mesh.quit_url == "http://127.0.0.1:4191/shutdown");
  CHECK(decision.mesh.quit_method == "POST");
  CHECK(decision.mesh.annotations.at("config.alpha.linkerd.io/proxy-wait-before-exit-seconds") ==
        "27");
  // The proxy is asked to quit only by a sidecar that can (a config key for it): then the proxy
  // must serve its admin shutdown.
  const bool wired = !MeshQuitFlag().empty();
  CHECK(decision.mesh.annotations.contains("config.linkerd.io/proxy-admin-shutdown") == wired);
  CHECK(Contains(Arg(decision), "http://127.0.0.1:4191/shutdown") == wired);
}

TEST_CASE("planner: ingress-nginx's admission and metrics ports are not watched; Jobs left") {
  auto decisions = Decide("ingress-nginx.yaml");
  const WorkloadDecision& controller = decisions.at("Deployment/ingress-nginx-controller");
  CHECK(controller.action == PlanAction::kInject);
  CHECK(Ports(controller) == std::vector<int>{80, 443});
  CHECK(Unwatched(controller) ==
        "8443 Service ingress-nginx-controller-admission → webhook: an admission webhook (the API "
        "server keeps its connection alive), not client traffic\n"
        "10254 declared metrics: no Service in the input targets it\n");
  // Its /wait-shutdown still runs, after the drain.
  CHECK(controller.plan->hook_command == std::vector<std::string>{"/lastcall/bin/lastcall",
                                                                  "prestop", "--then", "--",
                                                                  "/wait-shutdown"});
  CHECK(controller.mesh.why == "namespace ingress-nginx in the input has no mesh label");
  CHECK(controller.mesh.known);
  const WorkloadDecision& job = decisions.at("Job/ingress-nginx-admission-create");
  CHECK(job.action == PlanAction::kLeave);
  CHECK(Contains(job.reason, "a Job runs to completion: no Service sends it traffic"));
}

TEST_CASE("planner: Jobs and CronJobs are left alone, with or without --native") {
  for (const char* fixture : {"job.yaml", "cronjob.yaml"}) {
    for (const bool native : {false, true}) {
      CAPTURE(fixture);
      InjectOptions options;
      options.native = native;
      const InjectResult result = InjectManifests(Fixture(fixture), options);
      REQUIRE(result.decisions.size() == 1);
      CHECK(result.decisions[0].action == PlanAction::kLeave);
      CHECK(result.skipped.empty());  // not a failure: --strict passes
      CHECK(result.output == Fixture(fixture));
    }
  }
}

TEST_CASE("planner: lastcall's port avoids Envoy's undeclared admin port and the meshes'") {
  auto decisions = Decide("envoy-undeclared.yaml");
  const WorkloadDecision& edge = decisions.at("Deployment/edge");
  CHECK(edge.plan->listen_port == 9902);
  CHECK(Contains(edge.listen_why, "Envoy 9901, Istio 15000-15090, Linkerd 4140-4191"));
  CHECK(Ports(edge) == std::vector<int>{10000});  // the Service sends clients to the proxy
  // lastcall.dev/port sets it, even in a proxy's range (with a note).
  WorkloadFacts facts = WorkloadFactsOf(YAML::Load(Fixture("envoy-undeclared.yaml")));
  facts.annotations["lastcall.dev/port"] = "15021";
  const WorkloadDecision chosen = PlanWorkload(facts, {}, {});
  REQUIRE(chosen.plan.has_value());
  CHECK(chosen.plan->listen_port == 15021);
  CHECK(Contains(chosen.plan->notes.at(0), "is a default port of Envoy, Istio or Linkerd"));
}

TEST_CASE("planner: a YAML merge key refuses the whole input; other aliases still work") {
  const InjectResult result = InjectManifests(Fixture("merge-key.yaml"), {});
  CHECK(result.refused ==
        "document 1: line 25, column 11: a merge key (<<): kubectl merges the mapping it names, "
        "yaml-cpp reads a key named \"<<\", so inject cannot rewrite the object kubectl applies "
        "nor uninject take it back; expand the merge (e.g. `yq 'explode(.)'`) first");
  CHECK(result.injected == 0);
  CHECK(result.decisions.empty());
  std::istringstream in(Fixture("merge-key.yaml"));
  std::ostringstream out, err;
  InjectOptions options;
  CHECK(RunInject(options, in, out, err) == kExitUsage);
  CHECK(out.str().empty());  // nothing written, not even the clean second document
  CHECK(Contains(err.str(), "lastcall inject: refused the whole input, nothing written: "));
  // A quoted "<<" is a plain key, and an alias without a merge round-trips.
  const std::string aliases =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    \"<<\": x\n"
      "spec:\n  containers:\n    - name: a\n      image: a\n      env: &env [{name: A, value: "
      "\"1\"}]\n      ports: [{containerPort: 80}]\n    - name: b\n      image: b\n      env: "
      "*env\n";
  const InjectResult ok = InjectManifests(aliases, {});
  CHECK(ok.refused.empty());
  CHECK(ok.injected == 1);
  CHECK(UninjectManifests(ok.output).output == aliases);
}

TEST_CASE("planner: OpenShift: no fixed UID, GID or group; the List keeps one original") {
  const InjectResult result = InjectManifests(Fixture("openshift-list.yaml"), {});
  REQUIRE(result.decisions.size() == 1);
  const WorkloadDecision& hello = result.decisions[0];
  CHECK(hello.platform == "openshift");
  CHECK(hello.platform_why == "annotation openshift.io/generated-by");
  CHECK_FALSE(hello.plan->run_as_user.has_value());
  CHECK_FALSE(hello.plan->run_as_group.has_value());
  CHECK_FALSE(hello.plan->supplemental_group);
  CHECK(Ports(hello) == std::vector<int>{8080});  // the List's Service
  CHECK_FALSE(Contains(result.output, "runAsUser"));
  CHECK_FALSE(Contains(result.output, "supplementalGroups"));
  size_t originals = 0;
  for (size_t at = 0; (at = result.output.find("lastcall.dev/original", at)) != std::string::npos;
       ++at) {
    ++originals;
  }
  CHECK(originals == 1);
  CHECK(UninjectManifests(result.output).output == Fixture("openshift-list.yaml"));
  // Re-injecting the List changes nothing: its items' originals come from the List's.
  CHECK(InjectManifests(result.output, {}).output == result.output);

  // Flags and annotations choose: a UID, other resources.
  InjectOptions flags;
  flags.platform = "kubernetes";
  flags.requests = "cpu=50m,memory=16Mi";
  flags.limits = "none";
  const WorkloadDecision fixed =
      InjectManifests(Fixture("openshift-list.yaml"), flags).decisions[0];
  CHECK(fixed.plan->run_as_user == 65532);
  CHECK(fixed.plan->requests ==
        std::map<std::string, std::string>{{"cpu", "50m"}, {"memory", "16Mi"}});
  CHECK(fixed.plan->limits.empty());
  WorkloadFacts facts = WorkloadFactsOf(YAML::Load(Fixture("supplemental-groups.yaml")));
  facts.annotations["lastcall.dev/run-as"] = "1000:3000";
  facts.annotations["lastcall.dev/limits"] = "memory=64Mi";
  const WorkloadDecision annotated = PlanWorkload(facts, {}, {});
  CHECK(annotated.plan->run_as_user == 1000);
  CHECK(annotated.plan->run_as_group == 3000);
  CHECK(annotated.plan->limits == std::map<std::string, std::string>{{"memory", "64Mi"}});
  facts.annotations["lastcall.dev/limits"] = "memory=lots";
  CHECK(PlanWorkload(facts, {}, {}).reason ==
        "annotation lastcall.dev/limits: \"memory=lots\": \"lots\" is not a Kubernetes quantity "
        "(e.g. 10m, 8Mi)");
}

TEST_CASE("planner: the pod's supplementalGroups are kept and lastcall's added") {
  const InjectResult result = InjectManifests(Fixture("supplemental-groups.yaml"), {});
  const YAML::Node groups = YAML::Load(
      result.output)["spec"]["template"]["spec"]["securityContext"]["supplementalGroups"];
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].as<int>() == 1000);
  CHECK(groups[1].as<int>() == 2000);
  CHECK(groups[2].as<int>() == 65532);
  CHECK(UninjectManifests(result.output).output == Fixture("supplemental-groups.yaml"));

  // Another group for the sidecar: added the same way, and only it removed again, also from a
  // copy that lost its original (read back from the cluster).
  InjectOptions options;
  options.run_as = "1000:3000";
  const InjectResult other = InjectManifests(Fixture("supplemental-groups.yaml"), options);
  YAML::Node injected = YAML::Load(other.output);
  YAML::Node pod = injected["spec"]["template"]["spec"];
  CHECK(pod["securityContext"]["supplementalGroups"].size() == 3);
  CHECK(pod["securityContext"]["supplementalGroups"][2].as<int>() == 3000);
  CHECK(UninjectManifests(other.output).output == Fixture("supplemental-groups.yaml"));
  injected["metadata"].remove("annotations");
  const YAML::Node back = YAML::Load(UninjectManifests(WriteYaml(injected)).output);
  const YAML::Node kept = back["spec"]["template"]["spec"]["securityContext"]["supplementalGroups"];
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].as<int>() == 1000);
  CHECK(kept[1].as<int>() == 2000);
}

TEST_CASE("planner: removed API versions are warned about") {
  const InjectResult result = InjectManifests(Fixture("removed-api.yaml"), {});
  REQUIRE(result.decisions.size() == 1);
  CHECK(result.decisions[0].warnings ==
        std::vector<std::string>{"apiVersion apps/v1beta1 was removed in Kubernetes 1.16: the API "
                                 "server refuses it; use apps/v1"});
  CHECK(Contains(result.notes.at(0), "warning: apiVersion apps/v1beta1 was removed"));
}

WorkloadFacts AnnotatedPod(const std::map<std::string, std::string>& annotations) {
  WorkloadFacts pod;
  pod.kind = "Pod";
  pod.name = "p";
  pod.annotations = annotations;
  pod.pod_spec = YAML::Load(
      "containers: [{name: a, image: a, ports: [{name: http, containerPort: 8080}, {name: "
      "admin, containerPort: 9000}]}]");
  return pod;
}

TEST_CASE("planner: annotations are validated as `lastcall check` validates the sidecar") {
  struct Case {
    std::map<std::string, std::string> annotations;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {{{"lastcall.dev/lb_delay", "10s"}},
       "unknown annotation lastcall.dev/lb_delay (did you mean lastcall.dev/lb-delay?)"},
      {{{"lastcall.dev/drain-urll", "x"}},
       "unknown annotation lastcall.dev/drain-urll (did you mean lastcall.dev/drain-url?)"},
      {{{"lastcall.dev/frobnicate", "x"}}, "unknown annotation lastcall.dev/frobnicate"},
      // The sidecar's own check: a drain URL must be on loopback.
      {{{"lastcall.dev/drain-url", "http://app.local:8080/drain"}},
       "the sidecar would refuse this configuration (lastcall check): annotation "
       "lastcall.dev/drain-url:"},
      {{{"lastcall.dev/settle", "soon"}}, "annotation lastcall.dev/settle: \"soon\":"},
      {{{"lastcall.dev/ports", "grpc"}},
       "annotation lastcall.dev/ports: \"grpc\" is neither a port number nor the name of a "
       "declared containerPort"},
      {{{"lastcall.dev/mesh", "consul"}},
       "annotation lastcall.dev/mesh: \"consul\": expected auto, istio, linkerd or none"},
      {{{"lastcall.dev/run-as", "root"}},
       "annotation lastcall.dev/run-as: \"root\": expected UID, UID:GID or none"},
  };
  for (const auto& test : cases) {
    CAPTURE(test.reason);
    const WorkloadDecision decision = PlanWorkload(AnnotatedPod(test.annotations), {}, {});
    CHECK(decision.action == PlanAction::kSkip);
    CHECK(decision.reason.rfind(test.reason, 0) == 0);
  }
  // Valid ones: the ports annotation overrides the plan (a name resolves), settle is used.
  const WorkloadDecision ok = PlanWorkload(
      AnnotatedPod({{"lastcall.dev/ports", "http, 9000"}, {"lastcall.dev/settle", "2s"}}), {}, {});
  REQUIRE(ok.action == PlanAction::kInject);
  CHECK(Ports(ok) == std::vector<int>{8080, 9000});
  CHECK(Contains(Arg(ok), "--settle 2s"));
  // Without it, the admin port is not watched.
  const WorkloadDecision plain = PlanWorkload(AnnotatedPod({}), {}, {});
  CHECK(Ports(plain) == std::vector<int>{8080});
  CHECK(Unwatched(plain) == "9000 declared admin: an admin interface, not client traffic\n");
}

TEST_CASE("planner: the webhook's view: one Pod, its namespace from the AdmissionReview") {
  // What issue 20's webhook will do: a Pod as JSON, the namespace's labels as plain values.
  const YAML::Node pod = YAML::Load(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"api-7f9c","namespace":"shop",
          "labels":{"app":"api"}},"spec":{"containers":[{"name":"api","image":"api:1",
          "ports":[{"name":"grpc-api","containerPort":9090},{"name":"metrics",
          "containerPort":9091}]}]}})");
  BundleFacts bundle;
  bundle.namespaces.push_back({"shop", {{"istio.io/rev", "1-22"}}, {}});
  const WorkloadDecision decision = PlanWorkload(WorkloadFactsOf(pod), bundle, {});
  REQUIRE(decision.action == PlanAction::kInject);
  CHECK(Ports(decision) == std::vector<int>{9090});
  CHECK(Multiplexed(decision) == std::vector<int>{9090});
  CHECK(decision.mesh.name == "istio");
  CHECK(decision.mesh.why == "namespace shop label istio.io/rev=1-22");
  const nlohmann::json json = decision.ToJson();
  CHECK(json["kind"] == "Pod");
  CHECK(json["namespace"] == "shop");
  CHECK(json["action"] == "inject");
  CHECK(json["mesh"]["name"] == "istio");
  CHECK(json["mesh"]["quit"]["url"] == "http://127.0.0.1:15020/quitquitquit");
  CHECK(json["monitor"]["count"] == "in_flight");
  CHECK(json["ports"][0]["port"] == 9090);
  CHECK(json["ports"][0]["multiplexed"] == true);
  CHECK(json["lb_delay"] == "5s");
}

TEST_CASE("inject --explain prints one JSON object per workload instead of the manifests") {
  std::istringstream in(Fixture("ingress-nginx.yaml"));
  std::ostringstream out, err;
  InjectOptions options;
  options.explain = true;
  CHECK(RunInject(options, in, out, err) == kExitDrained);
  std::istringstream lines(out.str());
  std::vector<nlohmann::json> objects;
  for (std::string line; std::getline(lines, line);) objects.push_back(nlohmann::json::parse(line));
  REQUIRE(objects.size() == 2);
  CHECK(objects[0]["name"] == "ingress-nginx-controller");
  CHECK(objects[0]["action"] == "inject");
  CHECK(objects[1]["kind"] == "Job");
  CHECK(objects[1]["action"] == "leave");
  // stderr explains each workload and sums up, always.
  CHECK(Contains(err.str(),
                 "lastcall inject: deployment/ingress-nginx-controller (namespace "
                 "ingress-nginx): ports 80 (Service ingress-nginx-controller → http)"));
  CHECK(Contains(err.str(), "lastcall inject: 1 workload(s) injected, 0 skipped\n"));
}

}  // namespace
}  // namespace lastcall

#include "injection_planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "base/text.h"
#include "cluster_access.h"
#include "config/budget.h"
#include "config/config_keys.h"
#include "config/config_loader.h"
#include "manifest_yaml.h"

namespace lastcall {

using manifest::Child;
using manifest::Present;
using manifest::ScalarOr;

namespace {

constexpr const char* kIstioConfigAnnotation = "proxy.istio.io/config";
constexpr const char* kLinkerdWaitAnnotation =
    "config.alpha.linkerd.io/proxy-wait-before-exit-seconds";
constexpr const char* kLinkerdAdminShutdownAnnotation = "config.linkerd.io/proxy-admin-shutdown";
constexpr const char* kLinkerdSkipInboundAnnotation = "config.linkerd.io/skip-inbound-ports";
// pilot-agent's status port (istio-agent): POST /quitquitquit ends the proxy and the agent.
constexpr const char* kIstioQuitUrl = "http://127.0.0.1:15020/quitquitquit";
// linkerd-proxy's admin port: POST /shutdown, served when proxy-admin-shutdown is enabled.
constexpr const char* kLinkerdQuitUrl = "http://127.0.0.1:4191/shutdown";

std::map<std::string, std::string> StringMap(const YAML::Node& map) {
  std::map<std::string, std::string> result;
  if (!map.IsDefined() || !map.IsMap()) return result;
  for (const auto& item : map) {
    if (item.first.IsScalar() && item.second.IsScalar()) {
      result[item.first.Scalar()] = item.second.Scalar();
    }
  }
  return result;
}

std::optional<int> PortNumber(const std::string& text) {
  const auto value = manifest::ParseInteger(text);
  if (!value || *value < 1 || *value > 65535) return std::nullopt;
  return static_cast<int>(*value);
}

bool SameNamespace(const std::string& a, const std::string& b) {
  // Unset means "the namespace it is applied to": a bundle that sets none is one namespace.
  return a.empty() || b.empty() || a == b;
}

std::vector<std::string> NameTokens(const std::string& name) {
  std::vector<std::string> tokens;
  std::string token;
  for (const char c : ToLowerAscii(name) + "-") {
    if (c == '-' || c == '_' || c == '.') {
      if (!token.empty()) tokens.push_back(token);
      token.clear();
    } else {
      token += c;
    }
  }
  return tokens;
}

// Why a port, by its name, carries no client traffic: peers, replication, admin, metrics,
// webhooks. "" when the name says nothing of the kind.
std::string NonClientName(const std::string& name) {
  static const std::map<std::string, std::string> kTokens = {
      {"metrics", "metrics scrapes"},
      {"prometheus", "metrics scrapes"},
      {"admin", "an admin interface"},
      {"jmx", "JMX"},
      {"webhook", "an admission webhook (the API server keeps its connection alive)"},
      {"health", "health checks"},
      {"healthz", "health checks"},
      {"pprof", "profiling"},
      {"debug", "debugging"},
      {"management", "management"},
      {"mgmt", "management"},
      {"gossip", "peer gossip"},
      {"peer", "peers"},
      {"peers", "peers"},
      {"intra", "peers (inter-node)"},
      {"cluster", "peers (cluster bus)"},
      {"replication", "replication (a replica holds it open)"},
      {"repl", "replication (a replica holds it open)"},
      {"raft", "peers (Raft)"},
      {"serf", "peers (Serf)"},
      {"epmd", "Erlang node discovery"},
  };
  for (const auto& token : NameTokens(name)) {
    const auto found = kTokens.find(token);
    if (found != kTokens.end()) return found->second;
  }
  return "";
}

// Well-known ports that carry no client traffic. A port's name says more than its number (gRPC on
// 7000 is no Cassandra peer): `named` ports are judged by number only in the proxies' ranges.
std::string NonClientNumber(int port, bool named) {
  if (port >= 15000 && port <= 15090) return "an Istio proxy port";
  if (port >= 4140 && port <= 4191) return "a Linkerd proxy port";
  if (named) return "";
  switch (port) {
    case 2380:
      return "etcd's peer port";
    case 4369:
      return "Erlang's epmd";
    case 7000:
    case 7001:
      return "Cassandra's inter-node port";
    case 7199:
      return "Cassandra's JMX port";
    case 7946:
      return "memberlist gossip";
    case 8301:
    case 8302:
      return "Consul's Serf";
    case 9901:
      return "Envoy's admin port";
    case 10254:
      return "ingress-nginx's metrics and health port";
    case 16379:
      return "the Redis cluster bus";
    case 25672:
      return "RabbitMQ's inter-node port";
    default:
      break;
  }
  return "";
}

// HTTP/2 or gRPC, from a Service port's appProtocol or a port name (Istio's naming convention).
std::string MultiplexedBy(const std::string& app_protocol, const std::string& port_name) {
  const std::string protocol = ToLowerAscii(app_protocol);
  if (protocol == "grpc" || protocol == "h2c" || protocol == "http2" ||
      protocol == "kubernetes.io/h2c" || protocol == "grpc-web") {
    return "appProtocol " + app_protocol;
  }
  const std::string name = ToLowerAscii(port_name);
  for (const char* prefix : {"grpc", "http2", "h2c", "h2"}) {
    const std::string_view p = prefix;
    if (name.starts_with(p) && (name.size() == p.size() || name[p.size()] == '-' || p == "grpc")) {
      return "port name " + port_name;
    }
  }
  return "";
}

constexpr const char* kMultiplexedWhy =
    "HTTP/2 carries many requests on one connection and the kernel cannot see a pending stream "
    "beside an answered one (measured: bench/h2_in_flight.sh), so every open connection counts "
    "until the client closes it after the app's GOAWAY";

struct PortSearch {
  std::vector<WatchedPort> watched;
  std::vector<UnwatchedPort> unwatched;
  std::string why;
  std::string skip;
};

void AddWatched(PortSearch* search, int port, const std::string& why,
                const std::string& multiplexed_by) {
  for (auto& existing : search->watched) {
    if (existing.port != port) continue;
    existing.why += "; " + why;
    if (!multiplexed_by.empty() && !existing.multiplexed) {
      existing.multiplexed = true;
      existing.multiplexed_why = multiplexed_by + ": " + kMultiplexedWhy;
    }
    return;
  }
  WatchedPort watched{port, why, !multiplexed_by.empty(), ""};
  if (watched.multiplexed) watched.multiplexed_why = multiplexed_by + ": " + kMultiplexedWhy;
  search->watched.push_back(watched);
}

void AddUnwatched(PortSearch* search, int port, const std::string& why) {
  for (const auto& existing : search->unwatched) {
    if (existing.port == port && existing.why == why) return;
  }
  search->unwatched.push_back({port, why});
}

PortSearch FindPorts(const WorkloadFacts& workload, const BundleFacts& bundle,
                     const InjectOptions& options, size_t app_index) {
  PortSearch search;
  const std::vector<ContainerPort> declared = DeclaredPorts(workload.pod_spec, false);
  const auto by_name = [&](const std::string& name) -> const ContainerPort* {
    for (const auto& port : declared) {
      if (!port.name.empty() && port.name == name) return &port;
    }
    return nullptr;
  };

  if (!options.ports.empty()) {
    search.why = "lastcall.dev/ports";
    for (const auto& item : options.ports) {
      if (const auto number = PortNumber(item)) {
        const ContainerPort* named = nullptr;
        for (const auto& port : declared) {
          if (port.port == *number) named = &port;
        }
        AddWatched(&search, *number, "lastcall.dev/ports",
                   MultiplexedBy("", named == nullptr ? "" : named->name));
      } else if (const ContainerPort* port = by_name(item)) {
        AddWatched(&search, port->port, "lastcall.dev/ports " + item, MultiplexedBy("", item));
      } else {
        search.skip = fmt::format(
            "annotation lastcall.dev/ports: \"{}\" is neither a port number nor the name of a "
            "declared containerPort",
            item);
        return search;
      }
    }
    return search;
  }

  // The Services of the bundle that select this pod: their target ports carry its clients.
  bool any_service = false;
  for (const auto& service : bundle.services) {
    if (service.selector.empty() || !SameNamespace(service.namespace_name, workload.namespace_name))
      continue;
    const bool selects =
        std::all_of(service.selector.begin(), service.selector.end(), [&](const auto& label) {
          const auto found = workload.pod_labels.find(label.first);
          return found != workload.pod_labels.end() && found->second == label.second;
        });
    if (!selects) continue;
    any_service = true;
    std::string service_role;
    for (const char* suffix : {"-admission", "-webhook", "-metrics"}) {
      if (service.name.ends_with(suffix)) service_role = NonClientName(suffix + 1);
    }
    for (const auto& service_port : service.ports) {
      if (!service_port.protocol.empty() && service_port.protocol != "TCP") continue;
      const std::string target = service_port.target_port.empty()
                                     ? std::to_string(service_port.port)
                                     : service_port.target_port;
      int port = 0;
      const ContainerPort* container_port = nullptr;
      if (const auto number = PortNumber(target)) {
        port = *number;
        for (const auto& candidate : declared) {
          if (candidate.port == port) container_port = &candidate;
        }
      } else if ((container_port = by_name(target)) != nullptr) {
        port = container_port->port;
      } else {
        search.unwatched.push_back(
            {0, fmt::format("Service {} port {} targets \"{}\", which no container declares",
                            service.name, service_port.port, target)});
        continue;
      }
      const std::string via = fmt::format("Service {} → {}", service.name, target);
      std::string non_client = service_role;
      if (non_client.empty()) non_client = NonClientName(service_port.name);
      if (non_client.empty() && container_port != nullptr) {
        non_client = NonClientName(container_port->name);
      }
      if (non_client.empty()) {
        non_client =
            NonClientNumber(port, !service_port.name.empty() ||
                                      (container_port != nullptr && !container_port->name.empty()));
      }
      if (!non_client.empty()) {
        AddUnwatched(&search, port, via + ": " + non_client + ", not client traffic");
        continue;
      }
      std::string multiplexed = MultiplexedBy(service_port.app_protocol, service_port.name);
      if (multiplexed.empty() && container_port != nullptr) {
        multiplexed = MultiplexedBy("", container_port->name);
      }
      AddWatched(&search, port, via, multiplexed);
    }
  }
  const YAML::Node containers = Child(workload.pod_spec, "containers");
  const std::string app_name = ScalarOr(Child(containers[app_index], "name"), "");
  if (!search.watched.empty()) {
    search.why = "Services";
    for (const auto& port : declared) {
      if (port.container != app_name || !port.tcp) continue;
      const bool listed = std::any_of(search.unwatched.begin(), search.unwatched.end(),
                                      [&](const UnwatchedPort& u) { return u.port == port.port; });
      if (listed) continue;
      AddUnwatched(&search, port.port,
                   (port.name.empty() ? std::string("declared") : "declared " + port.name) +
                       ": no Service in the input targets it");
    }
  } else {
    // No Service (in this input) sends it clients: the app's declared ports, less those that by
    // name or number are not for clients.
    search.why = any_service ? "declared (its Services target no client port)"
                             : "declared (no Service in the input selects the pod)";
    for (const auto& port : declared) {
      if (port.container != app_name || !port.tcp) continue;
      std::string non_client = NonClientName(port.name);
      if (non_client.empty()) non_client = NonClientNumber(port.port, !port.name.empty());
      const std::string label = port.name.empty() ? "declared" : "declared " + port.name;
      if (!non_client.empty()) {
        AddUnwatched(&search, port.port, label + ": " + non_client + ", not client traffic");
      } else {
        AddWatched(&search, port.port, label, MultiplexedBy("", port.name));
      }
    }
  }
  // A port both watched (one Service) and unwatched (another) is watched.
  std::erase_if(search.unwatched, [&](const UnwatchedPort& u) {
    return std::any_of(search.watched.begin(), search.watched.end(),
                       [&](const WatchedPort& w) { return w.port == u.port; });
  });
  return search;
}

MeshPlan FoundMesh(std::string name, std::string why) {
  MeshPlan mesh;
  mesh.name = std::move(name);
  mesh.why = std::move(why);
  return mesh;
}

// Istio or Linkerd, and the evidence. The workload's own word wins over its namespace's.
MeshPlan DetectMesh(const WorkloadFacts& workload, const BundleFacts& bundle,
                    const InjectOptions& options) {
  MeshPlan mesh;
  if (options.mesh == "istio" || options.mesh == "linkerd") {
    mesh.name = options.mesh;
    mesh.why = "--mesh or lastcall.dev/mesh";
    return mesh;
  }
  if (options.mesh == "none") {
    mesh.why = "--mesh none or lastcall.dev/mesh";
    return mesh;
  }
  const auto pod_value = [&](const char* key) -> std::string {
    for (const auto* map : {&workload.pod_labels, &workload.annotations}) {
      const auto found = map->find(key);
      if (found != map->end()) return found->second;
    }
    return "";
  };
  const auto has_container = [&](const char* name) {
    for (const char* list : {"containers", "initContainers"}) {
      if (Present(manifest::Named(Child(workload.pod_spec, list), name))) return true;
    }
    return false;
  };
  if (has_container("istio-proxy")) return FoundMesh("istio", "istio-proxy container");
  if (has_container("linkerd-proxy")) {
    return FoundMesh("linkerd", "linkerd-proxy container");
  }
  const std::string istio_pod = pod_value("sidecar.istio.io/inject");
  const std::string linkerd_pod = pod_value("linkerd.io/inject");
  if (istio_pod == "true") return FoundMesh("istio", "sidecar.istio.io/inject=true");
  if (linkerd_pod == "enabled" || linkerd_pod == "ingress") {
    return FoundMesh("linkerd", "linkerd.io/inject=" + linkerd_pod);
  }
  if (const std::string rev = pod_value("istio.io/rev"); !rev.empty()) {
    return FoundMesh("istio", "istio.io/rev=" + rev);
  }
  const NamespaceFacts* ns = nullptr;
  for (const auto& candidate : bundle.namespaces) {
    if (candidate.name == workload.namespace_name) ns = &candidate;
  }
  if (ns == nullptr) {
    if (istio_pod == "false" || linkerd_pod == "disabled") {
      mesh.why = "opted out on the pod";
      return mesh;
    }
    mesh.known = false;
    mesh.why = workload.namespace_name.empty()
                   ? "namespace not set and no Namespace in the input: cannot tell; --mesh to say"
                   : fmt::format("namespace {} is not in the input: cannot tell; --mesh to say",
                                 workload.namespace_name);
    return mesh;
  }
  const auto ns_value = [&](const char* key) -> std::string {
    for (const auto* map : {&ns->labels, &ns->annotations}) {
      const auto found = map->find(key);
      if (found != map->end()) return found->second;
    }
    return "";
  };
  const std::string injection = ns_value("istio-injection");
  const std::string rev = ns_value("istio.io/rev");
  if (istio_pod != "false" &&
      (injection == "enabled" || (!rev.empty() && injection != "disabled"))) {
    return FoundMesh("istio", fmt::format("namespace {} label {}", ns->name,
                                          injection == "enabled" ? "istio-injection=enabled"
                                                                 : "istio.io/rev=" + rev));
  }
  const std::string linkerd_ns = ns_value("linkerd.io/inject");
  if (linkerd_pod != "disabled" && (linkerd_ns == "enabled" || linkerd_ns == "ingress")) {
    return FoundMesh("linkerd",
                     fmt::format("namespace {} linkerd.io/inject={}", ns->name, linkerd_ns));
  }
  mesh.why = fmt::format("namespace {} in the input has no mesh label", ns->name);
  return mesh;
}

std::string DetectPlatform(const WorkloadFacts& workload, const BundleFacts& bundle,
                           const InjectOptions& options, std::string* why) {
  if (options.platform == "openshift" || options.platform == "kubernetes") {
    *why = "--platform or lastcall.dev/platform";
    return options.platform;
  }
  for (const auto& [key, value] : workload.annotations) {
    if (key.starts_with("openshift.io/")) {
      *why = "annotation " + key;
      return "openshift";
    }
  }
  for (const auto& ns : bundle.namespaces) {
    if (ns.name != workload.namespace_name) continue;
    for (const auto& [key, value] : ns.annotations) {
      if (key.starts_with("openshift.io/")) {
        *why = fmt::format("namespace {} annotation {}", ns.name, key);
        return "openshift";
      }
    }
  }
  *why = "";
  return "kubernetes";
}

struct RemovedApi {
  const char* api_version;
  const char* kind;  // "" = every workload kind
  const char* removed_in;
  const char* use;
};
constexpr RemovedApi kRemovedApis[] = {
    {"extensions/v1beta1", "", "1.16", "apps/v1"},
    {"apps/v1beta1", "", "1.16", "apps/v1"},
    {"apps/v1beta2", "", "1.16", "apps/v1"},
    {"batch/v2alpha1", "CronJob", "1.21", "batch/v1"},
    {"batch/v1beta1", "CronJob", "1.25", "batch/v1"},
};

// The `lastcall run` arguments as LoadConfig's flags.
std::vector<FlagValue> AsFlags(const std::vector<std::string>& args) {
  std::vector<FlagValue> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (!arg.starts_with("--")) continue;
    arg.remove_prefix(2);
    if (const size_t equals = arg.find('='); equals != std::string_view::npos) {
      flags.push_back({std::string(arg.substr(0, equals)), std::string(arg.substr(equals + 1))});
    } else if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
      flags.push_back({std::string(arg), args[i + 1]});
      ++i;
    } else {
      flags.push_back({std::string(arg), "true"});
    }
  }
  return flags;
}

// "flag --drain-url: ..." as the user wrote it: "annotation lastcall.dev/drain-url: ...".
std::string Attributed(const std::string& problem,
                       const std::map<std::string, std::string>& flag_sources) {
  for (const auto& [flag, annotation] : flag_sources) {
    const std::string prefix = "flag --" + flag + ":";
    if (problem.starts_with(prefix)) {
      return "annotation " + annotation + ":" + problem.substr(prefix.size());
    }
  }
  return problem;
}

std::string KindSlashName(const WorkloadDecision& decision) {
  std::string text = ToLowerAscii(decision.kind) + "/" +
                     (decision.name.empty() ? std::string("(unnamed)") : decision.name);
  if (!decision.namespace_name.empty()) text += " (namespace " + decision.namespace_name + ")";
  return text;
}

}  // namespace

void CollectBundleFacts(const YAML::Node& document, BundleFacts* facts) {
  if (!document.IsDefined() || !document.IsMap()) return;
  const std::string kind = ScalarOr(Child(document, "kind"), "");
  const YAML::Node metadata = Child(document, "metadata");
  if (kind.ends_with("List") && Child(document, "items").IsSequence()) {
    for (const auto& item : document["items"]) CollectBundleFacts(item, facts);
    return;
  }
  if (kind == "Namespace") {
    facts->namespaces.push_back({ScalarOr(Child(metadata, "name"), ""),
                                 StringMap(Child(metadata, "labels")),
                                 StringMap(Child(metadata, "annotations"))});
    return;
  }
  if (kind != "Service") return;
  ServiceFacts service;
  service.namespace_name = ScalarOr(Child(metadata, "namespace"), "");
  service.name = ScalarOr(Child(metadata, "name"), "");
  const YAML::Node spec = Child(document, "spec");
  service.selector = StringMap(Child(spec, "selector"));
  service.headless = ScalarOr(Child(spec, "clusterIP"), "") == "None";
  if (ScalarOr(Child(spec, "type"), "") == "ExternalName") return;
  const YAML::Node ports = Child(spec, "ports");
  if (ports.IsDefined() && ports.IsSequence()) {
    for (const auto& port : ports) {
      ServicePortFacts facts_port;
      facts_port.name = ScalarOr(Child(port, "name"), "");
      facts_port.port = PortNumber(ScalarOr(Child(port, "port"), "")).value_or(0);
      facts_port.target_port = ScalarOr(Child(port, "targetPort"), "");
      facts_port.protocol = ScalarOr(Child(port, "protocol"), "");
      facts_port.app_protocol = ScalarOr(Child(port, "appProtocol"), "");
      service.ports.push_back(facts_port);
    }
  }
  facts->services.push_back(std::move(service));
}

WorkloadFacts WorkloadFactsOf(const YAML::Node& object) {
  WorkloadFacts facts;
  facts.api_version = ScalarOr(Child(object, "apiVersion"), "");
  facts.kind = ScalarOr(Child(object, "kind"), "");
  const YAML::Node metadata = Child(object, "metadata");
  facts.namespace_name = ScalarOr(Child(metadata, "namespace"), "");
  facts.name = ScalarOr(Child(metadata, "name"), "");
  facts.annotations = StringMap(Child(metadata, "annotations"));
  const manifest::WorkloadKind* kind = manifest::FindWorkloadKind(facts.kind);
  if (kind == nullptr) return facts;
  YAML::Node holder = object;
  for (size_t i = 0; i + 1 < kind->pod_spec_path.size(); ++i) {
    holder.reset(Child(holder, kind->pod_spec_path[i]));
  }
  const YAML::Node pod_metadata = Child(holder, "metadata");
  for (auto& [key, value] : StringMap(Child(pod_metadata, "annotations"))) {
    facts.annotations[key] = value;
  }
  facts.pod_labels = StringMap(Child(pod_metadata, "labels"));
  YAML::Node pod = Child(holder, kind->pod_spec_path.back());
  facts.pod_spec = pod.IsDefined() && pod.IsMap() ? pod : YAML::Node(YAML::NodeType::Undefined);
  return facts;
}

const std::vector<std::string>& MeshAnnotationKeys() {
  static const std::vector<std::string> keys = {kIstioConfigAnnotation, kLinkerdWaitAnnotation,
                                                kLinkerdAdminShutdownAnnotation,
                                                kLinkerdSkipInboundAnnotation};
  return keys;
}

const std::vector<std::string>& KnownAnnotations() {
  static const std::vector<std::string> keys = {
      kAnnotationInject,
      kAnnotationStatus,
      kAnnotationOriginal,
      "lastcall.dev/lb-delay",
      "lastcall.dev/drain-timeout",
      "lastcall.dev/exit-delay",
      "lastcall.dev/drain-url",
      "lastcall.dev/monitor",
      "lastcall.dev/refused-means",
      "lastcall.dev/port",
      "lastcall.dev/ports",
      "lastcall.dev/settle",
      "lastcall.dev/image",
      "lastcall.dev/container",
      "lastcall.dev/mesh",
      "lastcall.dev/platform",
      "lastcall.dev/requests",
      "lastcall.dev/limits",
      "lastcall.dev/run-as",
      "lastcall.dev/cluster-access",  // "true": a Role and RoleBinding beside the workload
  };
  return keys;
}

std::string MeshQuitFlag() {
  // The sidecar feature that asks the proxy to quit is its own module; inject wires it only when
  // the binary it ships has the key (so that `lastcall check` accepts what inject writes).
  // shutdown.proxy_quit.url: POST (its default method) after the sequence, best effort.
  constexpr std::string_view kFlag = "proxy-quit-url";
  for (const auto& key : ConfigKeys()) {
    if (key.flag == kFlag) return key.flag;
  }
  return "";
}

namespace {

WorkloadDecision PlanChecked(const WorkloadFacts& workload, const BundleFacts& bundle,
                             const InjectOptions& flags) {
  WorkloadDecision decision;
  decision.kind = workload.kind;
  decision.namespace_name = workload.namespace_name;
  decision.name = workload.name;
  decision.options = flags;
  const auto skip = [&](std::string reason) -> WorkloadDecision& {
    decision.action = PlanAction::kSkip;
    decision.reason = std::move(reason);
    decision.plan.reset();
    return decision;
  };
  const auto leave = [&](std::string reason) -> WorkloadDecision& {
    decision.action = PlanAction::kLeave;
    decision.reason = std::move(reason);
    return decision;
  };

  for (const auto& removed : kRemovedApis) {
    if (workload.api_version == removed.api_version &&
        (std::string_view(removed.kind).empty() || workload.kind == removed.kind)) {
      decision.warnings.push_back(fmt::format(
          "apiVersion {} was removed in Kubernetes {}: the API server refuses it; use {}",
          removed.api_version, removed.removed_in, removed.use));
    }
  }
  if (const auto hook = workload.annotations.find("helm.sh/hook");
      hook != workload.annotations.end()) {
    return leave(fmt::format(
        "a Helm hook (helm.sh/hook: {}): it runs to completion around a release, not behind a "
        "Service",
        hook->second));
  }
  if (workload.kind == "Job" || workload.kind == "CronJob") {
    return leave(
        "a " + workload.kind +
        " runs to completion: no Service sends it traffic, so there is nothing to drain, and a "
        "sidecar would only lengthen every run (docs/kubernetes.md, \"A Job or a CronJob\")");
  }
  if (!workload.pod_spec.IsDefined() || !workload.pod_spec.IsMap()) {
    return skip("no pod spec");
  }

  // Annotations: every lastcall.dev/ key must be one inject knows.
  for (const auto& [key, value] : workload.annotations) {
    if (!key.starts_with("lastcall.dev/")) continue;
    const auto& known = KnownAnnotations();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const auto near = SuggestClosest(key, known, "lastcall.dev/");
    return skip(
        fmt::format("unknown annotation {}{}", key, near ? " (did you mean " + *near + "?)" : ""));
  }
  const AnnotatedOptions annotated = ApplyAnnotations(flags, workload.annotations);
  decision.options = annotated.options;
  if (!annotated.error.empty()) return skip(annotated.error);
  if (annotated.disabled) return leave(std::string(kAnnotationInject) + ": disabled");
  const InjectOptions& options = decision.options;

  const auto app_index = AppContainerIndex(workload.pod_spec, workload.annotations, options);
  Wiring wiring;
  for (int port = 15000; port <= 15090; ++port) wiring.reserved_ports.insert(port);
  for (int port = 4140; port <= 4191; ++port) wiring.reserved_ports.insert(port);
  wiring.reserved_ports.insert(9901);

  // The monitor.
  const bool user_monitor =
      std::any_of(options.run_args.begin(), options.run_args.end(), [](const std::string& arg) {
        return arg.starts_with("--monitor") && !arg.starts_with("--monitor-count");
      });
  if (user_monitor) {
    decision.monitor = "";
  } else if (!options.drain_url.empty()) {
    decision.monitor = options.monitor.empty() ? "status" : options.monitor;
  } else if (options.monitor.empty() || options.monitor == "connections") {
    decision.monitor = "connections";
    decision.count = "in_flight";
    decision.settle = options.settle;
    if (app_index) {
      PortSearch search = FindPorts(workload, bundle, options, *app_index);
      if (!search.skip.empty()) return skip(search.skip);
      decision.ports = search.watched;
      decision.unwatched = search.unwatched;
      decision.ports_why = search.why;
      for (const auto& port : decision.ports) {
        wiring.watch_ports.push_back(port.port);
        if (port.multiplexed) wiring.multiplexed_ports.push_back(port.port);
      }
    }
    if (options.settle < Millis(1000)) {
      decision.warnings.push_back(fmt::format(
          "settle {} is under 1s: behind keep-alive clients a drained look should hold a while "
          "(docs/monitors.md)",
          FormatDuration(options.settle)));
    }
  } else {
    decision.monitor = options.monitor;
  }

  // The mesh: kept alive for the budget, then asked to quit when this build can.
  decision.mesh = DetectMesh(workload, bundle, options);
  const std::string quit_flag = MeshQuitFlag();
  if (decision.mesh.name == "istio") {
    decision.mesh.quit_url = kIstioQuitUrl;
    decision.mesh.quit_method = "POST";
  } else if (decision.mesh.name == "linkerd") {
    decision.mesh.quit_url = kLinkerdQuitUrl;
    decision.mesh.quit_method = "POST";
  }

  decision.platform = DetectPlatform(workload, bundle, options, &decision.platform_why);
  wiring.openshift = decision.platform == "openshift";
  wiring.count_in_flight = true;

  // The budget the proxy must outlive depends on lb_delay, which the pod's own hook may raise:
  // plan once to learn it, then set the mesh's annotations from it.
  PlanResult planned = PlanPod(workload.pod_spec, workload.annotations, options, wiring);
  if (!planned.plan) return skip(planned.skip);
  if (!decision.mesh.name.empty()) {
    const long long budget = RequiredGraceSeconds(planned.plan->lb_delay, options);
    wiring.mesh = decision.mesh.name;
    if (decision.mesh.name == "istio") {
      wiring.mesh_annotations[kIstioConfigAnnotation] =
          fmt::format("terminationDrainDuration: {}s\n", budget);
    } else {
      wiring.mesh_annotations[kLinkerdWaitAnnotation] = std::to_string(budget);
      if (!quit_flag.empty()) wiring.mesh_annotations[kLinkerdAdminShutdownAnnotation] = "enabled";
    }
    if (!quit_flag.empty()) wiring.mesh_run_args = {"--" + quit_flag, decision.mesh.quit_url};
    planned = PlanPod(workload.pod_spec, workload.annotations, options, wiring);
    if (!planned.plan) return skip(planned.skip);
  }
  decision.mesh.annotations = wiring.mesh_annotations;
  if (planned.plan->listen_port != kDefaultListenPort) {
    decision.listen_why = fmt::format(
        "{} skips the pod's declared ports and the proxies' defaults "
        "(Envoy 9901, Istio 15000-15090, Linkerd 4140-4191)",
        planned.plan->listen_port);
  }

  // What `lastcall check` says of the sidecar's configuration is what inject says.
  ConfigSources sources;
  sources.flags = AsFlags(
      std::vector<std::string>(planned.plan->run_args.begin() + 1, planned.plan->run_args.end()));
  try {
    const LoadedConfig loaded = LoadConfig(sources);
    const Budget budget = ComputeBudget(loaded.config);
    if (!budget.fits()) {
      return skip("the sidecar's budget does not fit (lastcall check): " + FormatBudget(budget));
    }
  } catch (const ConfigError& error) {
    std::vector<std::string> problems;
    for (const auto& problem : error.problems()) {
      problems.push_back(Attributed(problem, annotated.flag_sources));
    }
    return skip("the sidecar would refuse this configuration (lastcall check): " +
                Join(problems, "; "));
  }
  if (options.cluster_access) {
    decision.cluster_access_account = ServiceAccountOf(workload.pod_spec);
    if (workload.namespace_name.empty()) {
      // Guessing one would bind another namespace's account. kustomize's namespace transformer
      // (which runs after the component's inject) fills in the objects' namespace, and the
      // subject's when the ServiceAccount is in the build or is `default`.
      decision.cluster_access_note =
          "the workload names no namespace, so neither do its Role and RoleBinding: kustomize's "
          "namespace: sets it; for kubectl apply set metadata.namespace (a RoleBinding's "
          "ServiceAccount subject needs one)";
    }
  }
  decision.action = PlanAction::kInject;
  decision.plan = std::move(planned.plan);
  return decision;
}

}  // namespace

WorkloadDecision PlanWorkload(const WorkloadFacts& workload, const BundleFacts& bundle,
                              const InjectOptions& flags) {
  try {
    return PlanChecked(workload, bundle, flags);
  } catch (const YAML::Exception& e) {  // a field of an unexpected type, e.g. a scalar `ports`
    WorkloadDecision decision;
    decision.kind = workload.kind;
    decision.namespace_name = workload.namespace_name;
    decision.name = workload.name;
    decision.options = flags;
    decision.action = PlanAction::kSkip;
    decision.reason = "unexpected structure in the pod spec: " + e.msg;
    return decision;
  }
}

std::string WorkloadDecision::Explain() const {
  std::string text = KindSlashName(*this) + ": ";
  if (action == PlanAction::kSkip) return text + "skipped: " + reason;
  if (action == PlanAction::kLeave) return text + "left alone: " + reason;
  std::vector<std::string> parts;
  if (monitor == "connections") {
    std::vector<std::string> ports_text;
    for (const auto& port : ports) {
      ports_text.push_back(
          fmt::format("{} ({}{})", port.port, port.why, port.multiplexed ? ", multiplexed" : ""));
    }
    parts.push_back("ports " + Join(ports_text, ", "));
    std::vector<std::string> not_watched;
    for (const auto& port : unwatched) {
      not_watched.push_back(port.port == 0 ? port.why
                                           : fmt::format("{} ({})", port.port, port.why));
    }
    if (!not_watched.empty()) parts.push_back("not watched " + Join(not_watched, ", "));
    parts.push_back(fmt::format("monitor connections/{} settle {}", count,
                                FormatDuration(settle.value_or(Millis(0)))));
  } else if (monitor.empty()) {
    parts.push_back("monitor from --run-arg");
  } else if (monitor == "none") {
    parts.push_back("monitor none (a fixed wait of the drain timeout)");
  } else {
    parts.push_back(fmt::format("monitor {} on {}", monitor, options.drain_url));
  }
  if (plan) {
    parts.push_back("lb_delay " + FormatDuration(plan->lb_delay));
    parts.push_back(fmt::format("port {}", plan->listen_port));
  }
  parts.push_back(mesh.name.empty() ? "mesh none (" + mesh.why + ")"
                                    : "mesh " + mesh.name + " (" + mesh.why + ")");
  if (platform == "openshift") parts.push_back("platform openshift (" + platform_why + ")");
  if (!cluster_access_account.empty()) {
    parts.push_back(fmt::format(
        "cluster access: Role {} and RoleBinding {} for service account {}", kClusterAccessRole,
        ClusterAccessBindingName(cluster_access_account), cluster_access_account));
  }
  return text + Join(parts, ", ");
}

nlohmann::json WorkloadDecision::ToJson() const {
  nlohmann::json json = {{"kind", kind}, {"namespace", namespace_name}, {"name", name}};
  json["action"] = action == PlanAction::kInject ? "inject"
                   : action == PlanAction::kSkip ? "skip"
                                                 : "leave";
  if (!reason.empty()) json["reason"] = reason;
  json["warnings"] = warnings;
  if (action != PlanAction::kInject) return json;
  nlohmann::json monitor_json = {{"kind", monitor.empty() ? "run-arg" : monitor}};
  if (monitor == "connections") {
    monitor_json["count"] = count;
    monitor_json["settle"] = FormatDuration(settle.value_or(Millis(0)));
    monitor_json["ports_from"] = ports_why;
  } else if (monitor == "status" || monitor == "json") {
    monitor_json["drain_url"] = options.drain_url;
  }
  json["monitor"] = monitor_json;
  json["ports"] = nlohmann::json::array();
  for (const auto& port : ports) {
    nlohmann::json item = {
        {"port", port.port}, {"why", port.why}, {"multiplexed", port.multiplexed}};
    if (port.multiplexed) item["multiplexed_why"] = port.multiplexed_why;
    json["ports"].push_back(item);
  }
  json["unwatched"] = nlohmann::json::array();
  for (const auto& port : unwatched) {
    nlohmann::json item = {{"why", port.why}};
    if (port.port != 0) item["port"] = port.port;
    json["unwatched"].push_back(item);
  }
  nlohmann::json mesh_json = {
      {"name", mesh.name.empty() ? "none" : mesh.name}, {"why", mesh.why}, {"known", mesh.known}};
  if (!mesh.quit_url.empty()) {
    mesh_json["quit"] = {
        {"method", mesh.quit_method}, {"url", mesh.quit_url}, {"wired", !MeshQuitFlag().empty()}};
  }
  mesh_json["annotations"] = mesh.annotations;
  json["mesh"] = mesh_json;
  json["platform"] = {{"name", platform}, {"why", platform_why}};
  if (!cluster_access_account.empty()) {
    json["cluster_access"] = {{"service_account", cluster_access_account},
                              {"role", kClusterAccessRole},
                              {"role_binding", ClusterAccessBindingName(cluster_access_account)}};
    if (!cluster_access_note.empty()) json["cluster_access"]["note"] = cluster_access_note;
  } else {
    json["cluster_access"] = nullptr;
  }
  if (plan) {
    json["container"] = plan->app_name;
    json["lb_delay"] = FormatDuration(plan->lb_delay);
    json["drain_timeout"] = FormatDuration(options.drain_timeout);
    json["grace_period_seconds"] = plan->grace_seconds;
    json["listen_port"] = plan->listen_port;
    if (!listen_why.empty()) json["listen_port_why"] = listen_why;
    json["run_args"] = plan->run_args;
    json["notes"] = plan->notes;
  }
  return json;
}

}  // namespace lastcall

#include "inject_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/duration.h"
#include "manifest_yaml.h"
#include "version.h"

namespace lastcall {

using manifest::Child;
using manifest::Present;
using manifest::ScalarOr;

namespace {

constexpr long long kKubernetesDefaultGrace = 30;
constexpr int kHighestPort = 65535;

std::optional<int> ParsePort(const std::string& text) {
  const auto value = manifest::ParseInteger(text);
  if (!value || *value < 1 || *value > kHighestPort) return std::nullopt;
  return static_cast<int>(*value);
}

std::vector<ContainerPort> PortsOf(const YAML::Node& container) {
  std::vector<ContainerPort> ports;
  const YAML::Node list = Child(container, "ports");
  if (!list.IsDefined() || !list.IsSequence()) return ports;
  const std::string container_name = ScalarOr(Child(container, "name"), "");
  for (const auto& item : list) {
    const auto port = ParsePort(ScalarOr(Child(item, "containerPort"), ""));
    if (!port) continue;
    ports.push_back({container_name, ScalarOr(Child(item, "name"), ""), *port,
                     ScalarOr(Child(item, "protocol"), "TCP") == "TCP"});
  }
  return ports;
}

bool IsQuantity(const std::string& text) {
  size_t i = 0;
  const auto digits = [&] {
    const size_t from = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i > from;
  };
  if (!digits()) return false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  const std::string suffix = text.substr(i);
  static const std::set<std::string> kSuffixes = {"",  "m",  "k",  "M",  "G",  "T",  "P",
                                                  "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  return kSuffixes.contains(suffix);
}

// A probe's or hook's `port`: a number, or the name of one of the app container's ports.
std::optional<int> ResolvePort(const YAML::Node& port, const std::vector<ContainerPort>& ports) {
  const std::string text = ScalarOr(port, "");
  if (auto number = ParsePort(text)) return number;
  for (const auto& candidate : ports) {
    if (!candidate.name.empty() && candidate.name == text) return candidate.port;
  }
  return std::nullopt;
}

// http://127.0.0.1:PORT/path for an httpGet action of the app container (probe or hook): the
// containers of a pod share one network namespace, so lastcall reaches the app on loopback.
struct HttpAction {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string problem;               // why it cannot be reached from lastcall, or ""
};
HttpAction HttpActionUrl(const YAML::Node& get, const std::vector<ContainerPort>& ports) {
  HttpAction action;
  const std::string scheme = ScalarOr(Child(get, "scheme"), "HTTP");
  if (scheme != "HTTP") {
    action.problem = "scheme " + scheme + " (lastcall speaks plain HTTP)";
    return action;
  }
  const auto port = ResolvePort(Child(get, "port"), ports);
  if (!port) {
    action.problem = "port " + ScalarOr(Child(get, "port"), "?") + " is not one of the container's";
    return action;
  }
  std::string host = ScalarOr(Child(get, "host"), "");
  if (host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  std::string path = ScalarOr(Child(get, "path"), "/");
  if (path.empty() || path.front() != '/') path = "/" + path;
  action.url = fmt::format("http://{}:{}{}", host, *port, path);
  const YAML::Node headers = Child(get, "httpHeaders");
  if (headers.IsDefined() && headers.IsSequence()) {
    for (const auto& header : headers) {
      action.headers.push_back(ScalarOr(Child(header, "name"), "") + ": " +
                               ScalarOr(Child(header, "value"), ""));
    }
  }
  return action;
}

// The seconds of a hook that only sleeps: `sleep: {seconds: N}`, or an exec of `sleep N`
// (directly or through `sh -c`). nullopt for anything else.
std::optional<Millis> SleepOf(const YAML::Node& hook) {
  const auto parse_seconds = [](const std::string& text) -> std::optional<Millis> {
    if (text.empty() || text.find_first_not_of("0123456789.") != std::string::npos) {
      return std::nullopt;
    }
    char* end = nullptr;
    const double seconds = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !(seconds >= 0) || seconds > 86400) {
      return std::nullopt;
    }
    return Millis(static_cast<long long>(std::ceil(seconds * 1000)));
  };
  if (const YAML::Node sleep = Child(hook, "sleep"); Present(sleep)) {
    return parse_seconds(ScalarOr(Child(sleep, "seconds"), ""));
  }
  const YAML::Node command = Child(Child(hook, "exec"), "command");
  if (!command.IsDefined() || !command.IsSequence()) return std::nullopt;
  std::vector<std::string> argv;
  for (const auto& arg : command) argv.push_back(ScalarOr(arg, ""));
  const auto base = [](const std::string& path) { return path.substr(path.rfind('/') + 1); };
  if (argv.size() == 2 && base(argv[0]) == "sleep") return parse_seconds(argv[1]);
  if (argv.size() == 3 && (base(argv[0]) == "sh" || base(argv[0]) == "bash") && argv[1] == "-c" &&
      argv[2].starts_with("sleep ")) {
    std::string seconds = argv[2].substr(6);
    while (!seconds.empty() && (seconds.back() == ' ' || seconds.back() == ';')) seconds.pop_back();
    return parse_seconds(seconds);
  }
  return std::nullopt;
}

bool HasRunArg(const InjectOptions& options, std::string_view flag) {
  return std::any_of(options.run_args.begin(), options.run_args.end(), [&](const std::string& a) {
    return a == flag || (a.starts_with(flag) && a.size() > flag.size() && a[flag.size()] == '=');
  });
}

}  // namespace

std::string DefaultImage() { return std::string("ghcr.io/lastcall/lastcall:") + kVersion; }

long long RequiredGraceSeconds(Millis lb_delay, const InjectOptions& options) {
  const Millis budget =
      lb_delay + options.drain_timeout + options.exit_delay + Config::kBudgetMargin;
  return (budget.count() + 999) / 1000;
}

std::optional<std::map<std::string, std::string>> ParseResourceList(const std::string& text,
                                                                    std::string* error) {
  std::map<std::string, std::string> resources;
  if (text.empty() || text == "none") return resources;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const size_t equals = item.find('=');
    const std::string name = item.substr(0, equals);
    const std::string value = equals == std::string::npos ? "" : item.substr(equals + 1);
    if (name != "cpu" && name != "memory" && name != "ephemeral-storage") {
      *error = fmt::format(
          "\"{}\": expected cpu=, memory= or ephemeral-storage= (e.g. "
          "cpu=10m,memory=8Mi), or none",
          item);
      return std::nullopt;
    }
    if (!IsQuantity(value)) {
      *error = fmt::format("\"{}\" is not a Kubernetes quantity (e.g. 10m, 8Mi)", value);
      return std::nullopt;
    }
    resources[name] = value;
    start = comma + 1;
  }
  return resources;
}

std::optional<RunAs> ParseRunAs(const std::string& text, std::string* error) {
  if (text == "none") return RunAs{};
  const size_t colon = text.find(':');
  const auto id = [](const std::string& part) -> std::optional<long long> {
    const auto value = manifest::ParseInteger(part);
    if (!value || *value < 0 || *value > 2147483647) return std::nullopt;
    return value;
  };
  const auto user = id(text.substr(0, colon));
  const auto group = colon == std::string::npos ? user : id(text.substr(colon + 1));
  if (!user || !group) {
    *error = "expected UID, UID:GID or none (the platform assigns them)";
    return std::nullopt;
  }
  return RunAs{user, group};
}

AnnotatedOptions ApplyAnnotations(const InjectOptions& flags,
                                  const std::map<std::string, std::string>& annotations) {
  AnnotatedOptions result{flags, false, "", {}};
  InjectOptions& options = result.options;
  const auto get = [&](const char* key) -> std::optional<std::string> {
    const auto found = annotations.find(key);
    if (found == annotations.end()) return std::nullopt;
    return found->second;
  };
  const auto fail = [&](const char* key, const std::string& value, const std::string& problem) {
    result.error = fmt::format("annotation {}: \"{}\": {}", key, value, problem);
    return result;
  };
  if (auto value = get(kAnnotationInject)) {
    if (*value == "disabled") {
      result.disabled = true;
    } else if (*value != "enabled") {
      return fail(kAnnotationInject, *value, "expected enabled or disabled");
    }
  }
  if (auto value = get(kAnnotationClusterAccess)) {
    if (*value == "true") {
      options.cluster_access = true;
    } else if (*value == "false") {
      options.cluster_access = false;
    } else {
      return fail(kAnnotationClusterAccess, *value, "expected \"true\" or \"false\"");
    }
  }
  const struct {
    const char* key;
    Millis* target;
    const char* flag;
  } durations[] = {
      {"lastcall.dev/lb-delay", &options.lb_delay, "lb-delay"},
      {"lastcall.dev/drain-timeout", &options.drain_timeout, "drain-timeout"},
      {"lastcall.dev/exit-delay", &options.exit_delay, "exit-delay"},
      {"lastcall.dev/settle", &options.settle, "settle"},
  };
  for (const auto& duration : durations) {
    if (auto value = get(duration.key)) {
      std::string error;
      const auto parsed = ParseDuration(*value, &error);
      if (!parsed) return fail(duration.key, *value, error);
      *duration.target = *parsed;
      result.flag_sources[duration.flag] = duration.key;
    }
  }
  if (auto value = get("lastcall.dev/drain-url")) {
    // Its host and shape are checked where the sidecar's are (LoadConfig, by the planner).
    options.drain_url = *value;
    result.flag_sources["drain-url"] = "lastcall.dev/drain-url";
  }
  if (auto value = get("lastcall.dev/monitor")) {
    if (*value != "status" && *value != "json" && *value != "connections" && *value != "none") {
      return fail("lastcall.dev/monitor", *value,
                  "expected status, json, connections or none (other monitors: --run-arg)");
    }
    options.monitor = *value;
    result.flag_sources["monitor"] = "lastcall.dev/monitor";
  }
  if (auto value = get("lastcall.dev/refused-means")) {
    if (*value != "drained" && *value != "error") {
      return fail("lastcall.dev/refused-means", *value, "expected drained or error");
    }
    options.refused_means = *value;
    result.flag_sources["refused-means"] = "lastcall.dev/refused-means";
  }
  if (auto value = get("lastcall.dev/port")) {
    const auto port = ParsePort(*value);
    if (!port) return fail("lastcall.dev/port", *value, "expected a port number 1-65535");
    options.port = port;
    result.flag_sources["listen"] = "lastcall.dev/port";
  }
  if (auto value = get("lastcall.dev/ports")) {
    options.ports.clear();
    size_t start = 0;
    while (start <= value->size()) {
      const size_t comma = std::min(value->find(',', start), value->size());
      std::string item = value->substr(start, comma - start);
      while (!item.empty() && item.front() == ' ') item.erase(item.begin());
      while (!item.empty() && item.back() == ' ') item.pop_back();
      if (item.empty()) {
        return fail("lastcall.dev/ports", *value,
                    "expected port numbers or port names, separated by commas");
      }
      options.ports.push_back(item);
      start = comma + 1;
    }
    result.flag_sources["monitor-port"] = "lastcall.dev/ports";
  }
  if (auto value = get("lastcall.dev/mesh")) {
    if (*value != "auto" && *value != "istio" && *value != "linkerd" && *value != "none") {
      return fail("lastcall.dev/mesh", *value, "expected auto, istio, linkerd or none");
    }
    options.mesh = *value;
  }
  if (auto value = get("lastcall.dev/platform")) {
    if (*value != "auto" && *value != "kubernetes" && *value != "openshift") {
      return fail("lastcall.dev/platform", *value, "expected auto, kubernetes or openshift");
    }
    options.platform = *value;
  }
  for (const auto& [key, target] : {std::pair{"lastcall.dev/requests", &options.requests},
                                    std::pair{"lastcall.dev/limits", &options.limits}}) {
    if (auto value = get(key)) {
      std::string error;
      if (!ParseResourceList(*value, &error)) return fail(key, *value, error);
      *target = *value;
    }
  }
  if (auto value = get("lastcall.dev/run-as")) {
    std::string error;
    if (!ParseRunAs(*value, &error)) return fail("lastcall.dev/run-as", *value, error);
    options.run_as = *value;
  }
  if (auto value = get("lastcall.dev/image")) {
    if (value->empty()) return fail("lastcall.dev/image", *value, "empty");
    options.image = *value;
  }
  if (auto value = get("lastcall.dev/container")) options.container = *value;
  return result;
}

std::vector<ContainerPort> DeclaredPorts(const YAML::Node& pod, bool init) {
  std::vector<ContainerPort> ports;
  for (const char* list_name : {"containers", "initContainers"}) {
    if (!init && std::string_view(list_name) == "initContainers") continue;
    const YAML::Node list = Child(pod, list_name);
    if (!list.IsDefined() || !list.IsSequence()) continue;
    for (const auto& container : list) {
      const auto found = PortsOf(container);
      ports.insert(ports.end(), found.begin(), found.end());
    }
  }
  return ports;
}

std::optional<size_t> AppContainerIndex(const YAML::Node& pod,
                                        const std::map<std::string, std::string>& annotations,
                                        const InjectOptions& options) {
  const YAML::Node containers = Child(pod, "containers");
  if (!containers.IsDefined() || !containers.IsSequence() || containers.size() == 0) {
    return std::nullopt;
  }
  std::string wanted = options.container;
  if (wanted.empty()) {
    const auto found = annotations.find("kubectl.kubernetes.io/default-container");
    if (found != annotations.end()) wanted = found->second;
  }
  if (wanted.empty()) return 0;
  for (size_t i = 0; i < containers.size(); ++i) {
    if (ScalarOr(Child(containers[i], "name"), "") == wanted) return i;
  }
  return std::nullopt;
}

PlanResult PlanPod(const YAML::Node& pod, const std::map<std::string, std::string>& annotations,
                   const InjectOptions& options, const Wiring& wiring) {
  PlanResult result;
  const auto skip = [&](std::string reason) {
    result.skip = std::move(reason);
    return result;
  };
  const YAML::Node containers = Child(pod, "containers");
  if (!containers.IsDefined() || !containers.IsSequence() || containers.size() == 0) {
    return skip("the pod has no containers");
  }
  const YAML::Node inits = Child(pod, "initContainers");
  const std::string restart_policy = ScalarOr(Child(pod, "restartPolicy"), "Always");
  if (!options.native && restart_policy != "Always") {
    return skip(fmt::format(
        "the pod runs to completion (restartPolicy {}): it is not behind a Service, and a "
        "regular sidecar would keep it from completing; use --native to add lastcall as a "
        "native sidecar anyway (Kubernetes 1.29+)",
        restart_policy));
  }

  // The app container: asked for, else the one kubectl picks by default, else the first.
  InjectPlan plan;
  std::vector<std::string> names;
  for (const auto& container : containers) names.push_back(ScalarOr(Child(container, "name"), ""));
  const std::optional<size_t> app_index = AppContainerIndex(pod, annotations, options);
  if (!app_index) {
    std::string wanted = options.container;
    if (wanted.empty()) wanted = annotations.at("kubectl.kubernetes.io/default-container");
    return skip(
        fmt::format("no container named \"{}\" (containers: {})", wanted, fmt::join(names, ", ")));
  }
  plan.app_index = *app_index;
  plan.app_name = names[plan.app_index];
  const YAML::Node app = containers[plan.app_index];
  if (!app.IsMap()) return skip(fmt::format("containers[{}] is not a mapping", plan.app_index));

  // Names and paths lastcall adds must be free.
  if (Present(manifest::Named(inits, kInstallName)) ||
      Present(manifest::Named(containers, kInstallName))) {
    return skip(fmt::format("a container named \"{}\" already exists", kInstallName));
  }
  for (const char* volume : {kBinVolume, kRunVolume}) {
    if (Present(manifest::Named(Child(pod, "volumes"), volume))) {
      return skip(fmt::format("a volume named \"{}\" already exists", volume));
    }
  }
  const YAML::Node mounts = Child(app, "volumeMounts");
  if (mounts.IsDefined() && mounts.IsSequence()) {
    for (const auto& mount : mounts) {
      const std::string path = ScalarOr(Child(mount, "mountPath"), "");
      if (path == kBinDir || path == kRunDir) {
        return skip(
            fmt::format("container \"{}\" already mounts a volume at {}", plan.app_name, path));
      }
    }
  }

  // lastcall's port: free of every port any container of the pod declares, and of the ports
  // proxies use without declaring them.
  std::set<int> used;
  for (const auto& port : DeclaredPorts(pod, true)) used.insert(port.port);
  const bool host_network = ScalarOr(Child(pod, "hostNetwork"), "false") == "true";
  if (host_network && !options.port) {
    return skip(
        "hostNetwork: lastcall's port would be a port of the node, shared by every pod there; "
        "choose one free on every node with --port or the annotation lastcall.dev/port");
  }
  if (options.port) {
    if (used.contains(*options.port)) {
      return skip(fmt::format("port {} (--port or lastcall.dev/port) is already used in the pod",
                              *options.port));
    }
    plan.listen_port = *options.port;
    if (wiring.reserved_ports.contains(plan.listen_port)) {
      plan.notes.push_back(fmt::format(
          "port {} (--port or lastcall.dev/port) is a default port of Envoy, Istio or Linkerd: "
          "make sure no proxy in the pod uses it",
          plan.listen_port));
    }
  } else {
    plan.listen_port = kDefaultListenPort;
    while (plan.listen_port < kHighestPort &&
           (used.contains(plan.listen_port) || wiring.reserved_ports.contains(plan.listen_port))) {
      ++plan.listen_port;
    }
    if (used.contains(plan.listen_port)) return skip("no free port for lastcall from 9901 up");
  }

  // What the app declares: its ports, its readiness probe, its drain endpoint (annotation).
  const std::vector<ContainerPort> app_ports = PortsOf(app);
  std::vector<std::string> monitor_args;
  const bool user_monitor = HasRunArg(options, "--monitor") || HasRunArg(options, "--drain-url");
  std::string monitor = options.monitor;
  if (user_monitor) {
    // --run-arg=--monitor=... : the user wires the monitor; nothing is added.
  } else if (!options.drain_url.empty()) {
    if (monitor.empty()) monitor = "status";
    if (monitor == "connections" || monitor == "none") {
      return skip(
          fmt::format("lastcall.dev/monitor {} with a drain URL: use status or json", monitor));
    }
    monitor_args = {
        "--drain-url",     options.drain_url,
        "--monitor",       monitor,
        "--refused-means", options.refused_means.empty() ? "error" : options.refused_means};
  } else if (monitor == "none") {
    monitor_args = {"--drain-url", "", "--monitor", "none"};
    plan.notes.push_back(
        "monitor none (lastcall.dev/monitor): nothing observes the app; lastcall waits the whole "
        "drain timeout, as a preStop sleep would");
  } else if (monitor.empty() || monitor == "connections") {
    if (wiring.watch_ports.empty()) {
      return skip(fmt::format(
          "cannot observe container \"{}\": no Service of the input targets it, it declares no "
          "client TCP containerPort and no drain endpoint; set the annotation "
          "lastcall.dev/drain-url (the app's drain endpoint, e.g. http://127.0.0.1:8080/drain) "
          "or lastcall.dev/ports, or lastcall.dev/monitor: none for a fixed wait",
          plan.app_name));
    }
    monitor_args = {"--drain-url", "", "--monitor", "connections"};
    for (const int port : wiring.watch_ports) {
      monitor_args.insert(monitor_args.end(), {"--monitor-port", std::to_string(port)});
    }
    if (!HasRunArg(options, "--monitor-count")) {
      monitor_args.insert(
          monitor_args.end(),
          {"--monitor-count", wiring.count_in_flight ? "in_flight" : "connections"});
    }
    for (const int port : wiring.multiplexed_ports) {
      monitor_args.insert(monitor_args.end(), {"--multiplexed-port", std::to_string(port)});
    }
    if (!HasRunArg(options, "--settle")) {
      monitor_args.insert(monitor_args.end(), {"--settle", FormatDuration(options.settle)});
    }
  } else {
    return skip(fmt::format(
        "lastcall.dev/monitor {} needs the app's drain endpoint: set lastcall.dev/drain-url",
        monitor));
  }

  std::vector<std::string> upstream_args;
  if (const YAML::Node probe = Child(app, "readinessProbe");
      Present(probe) && !HasRunArg(options, "--readiness-upstream")) {
    if (const YAML::Node get = Child(probe, "httpGet"); Present(get)) {
      const HttpAction action = HttpActionUrl(get, app_ports);
      if (action.problem.empty() && action.headers.empty()) {
        upstream_args = {"--readiness-upstream", action.url};
      } else {
        plan.notes.push_back(fmt::format(
            "container \"{}\"'s readiness probe is not used as readiness.upstream: {}",
            plan.app_name, action.problem.empty() ? "it sends headers" : action.problem));
      }
    } else {
      plan.notes.push_back(fmt::format(
          "container \"{}\"'s readiness probe is not httpGet: readiness.upstream is not set (the "
          "pod still waits for the app's own probe)",
          plan.app_name));
    }
  }

  // The app's preStop hook: lastcall's, with what was there before kept.
  plan.lb_delay = options.lb_delay;
  plan.hook_command = {kHookBinary, "prestop"};
  if (const YAML::Node hook = Child(Child(app, "lifecycle"), "preStop"); Present(hook)) {
    if (const auto slept = SleepOf(hook)) {
      if (*slept > plan.lb_delay) {
        plan.notes.push_back(fmt::format(
            "container \"{}\" slept {} in preStop: lb_delay raised from {} to {}, and the sleep "
            "replaced by lastcall's hook",
            plan.app_name, FormatDuration(*slept), FormatDuration(plan.lb_delay),
            FormatDuration(*slept)));
        plan.lb_delay = *slept;
      } else {
        plan.notes.push_back(fmt::format(
            "container \"{}\"'s preStop sleep of {} replaced by lastcall's hook (lb_delay {})",
            plan.app_name, FormatDuration(*slept), FormatDuration(plan.lb_delay)));
      }
    } else if (options.force) {
      plan.notes.push_back(
          fmt::format("replaced the preStop hook of container \"{}\" (--force)", plan.app_name));
    } else if (const YAML::Node command = Child(Child(hook, "exec"), "command");
               command.IsDefined() && command.IsSequence() && command.size() > 0) {
      plan.hook_command.insert(plan.hook_command.end(), {"--then", "--"});
      for (const auto& arg : command) plan.hook_command.push_back(ScalarOr(arg, ""));
      plan.notes.push_back(fmt::format(
          "container \"{}\"'s preStop command now runs after the drain (lastcall prestop "
          "--then); the grace period must leave it time",
          plan.app_name));
    } else if (const YAML::Node get = Child(hook, "httpGet"); Present(get)) {
      const HttpAction action = HttpActionUrl(get, app_ports);
      if (!action.problem.empty()) {
        return skip(fmt::format(
            "container \"{}\"'s preStop httpGet cannot be chained after the drain: {}; move it "
            "into the app, or use --force to drop it",
            plan.app_name, action.problem));
      }
      plan.hook_command.insert(plan.hook_command.end(), {"--then-get", action.url});
      for (const auto& header : action.headers) {
        plan.hook_command.insert(plan.hook_command.end(), {"--then-header", header});
      }
      plan.notes.push_back(fmt::format(
          "container \"{}\"'s preStop httpGet now runs after the drain (lastcall prestop "
          "--then-get)",
          plan.app_name));
    } else {
      return skip(fmt::format(
          "container \"{}\" has a preStop hook lastcall cannot keep; use --force to replace it",
          plan.app_name));
    }
  }

  // The grace period: never shrunk, raised to fit the budget.
  long long grace = kKubernetesDefaultGrace;
  if (const YAML::Node grace_node = Child(pod, "terminationGracePeriodSeconds");
      Present(grace_node)) {
    const auto parsed = manifest::ParseInteger(ScalarOr(grace_node, ""));
    if (!parsed || *parsed < 0)
      return skip("terminationGracePeriodSeconds is not a non-negative integer");
    grace = *parsed;
  }
  const long long required = RequiredGraceSeconds(plan.lb_delay, options);
  if (required > grace) {
    plan.notes.push_back(fmt::format(
        "terminationGracePeriodSeconds raised from {} to {}: lb_delay {} + drain timeout {} + "
        "exit delay {} + margin {} must fit",
        grace, required, FormatDuration(plan.lb_delay), FormatDuration(options.drain_timeout),
        FormatDuration(options.exit_delay), FormatDuration(Config::kBudgetMargin)));
    grace = required;
  }
  plan.grace_seconds = grace;

  plan.mesh = wiring.mesh;
  plan.mesh_annotations = wiring.mesh_annotations;

  // Who the sidecar runs as, and what it may use.
  std::string problem;
  const auto run_as =
      ParseRunAs(options.run_as.empty() ? (wiring.openshift ? "none" : std::to_string(kSidecarUid))
                                        : options.run_as,
                 &problem);
  if (!run_as) return skip("run-as \"" + options.run_as + "\": " + problem);
  plan.run_as_user = run_as->user;
  plan.run_as_group = run_as->group;
  // The control socket is group-accessible (0660): the app's hook reaches it through lastcall's
  // group. Where the platform assigns IDs (OpenShift gives every container of the pod the same
  // UID), the app reaches it as the same user and no fixed group is needed.
  plan.supplemental_group = run_as->group.has_value();
  const auto requests = ParseResourceList(options.requests, &problem);
  if (!requests) return skip("requests \"" + options.requests + "\": " + problem);
  const auto limits = ParseResourceList(options.limits, &problem);
  if (!limits) return skip("limits \"" + options.limits + "\": " + problem);
  plan.requests = *requests;
  plan.limits = *limits;

  plan.run_args = {"run",
                   "--listen",
                   fmt::format(":{}", plan.listen_port),
                   "--lb-delay",
                   FormatDuration(plan.lb_delay),
                   "--drain-timeout",
                   FormatDuration(options.drain_timeout)};
  if (options.exit_delay.count() > 0) {
    plan.run_args.insert(plan.run_args.end(), {"--exit-delay", FormatDuration(options.exit_delay)});
  }
  plan.run_args.insert(plan.run_args.end(),
                       {"--grace-period", fmt::format("{}s", grace), "--log-format", "json"});
  plan.run_args.insert(plan.run_args.end(), monitor_args.begin(), monitor_args.end());
  plan.run_args.insert(plan.run_args.end(), upstream_args.begin(), upstream_args.end());
  plan.run_args.insert(plan.run_args.end(), wiring.mesh_run_args.begin(),
                       wiring.mesh_run_args.end());
  plan.run_args.insert(plan.run_args.end(), options.run_args.begin(), options.run_args.end());
  result.plan = std::move(plan);
  return result;
}

std::string SettingsHash(const InjectOptions& options) {
  std::string canonical = fmt::format(
      "image={}\ncontainer={}\nnative={}\nforce={}\nlb_delay={}\ndrain_timeout={}\n"
      "exit_delay={}\ndrain_url={}\nmonitor={}\nrefused_means={}\nport={}\nmesh={}\n"
      "platform={}\nsettle={}\nports={}\nrequests={}\nlimits={}\nrun_as={}\n"
      "cluster_access={}\n",
      options.image, options.container, options.native, options.force, options.lb_delay.count(),
      options.drain_timeout.count(), options.exit_delay.count(), options.drain_url, options.monitor,
      options.refused_means, options.port.value_or(0), options.mesh, options.platform,
      options.settle.count(), fmt::join(options.ports, ","), options.requests, options.limits,
      options.run_as, options.cluster_access);
  for (const auto& arg : options.run_args) canonical += "run_arg=" + arg + "\n";
  // FNV-1a, 64 bits: a fingerprint to compare, not a security boundary.
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : canonical) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace lastcall

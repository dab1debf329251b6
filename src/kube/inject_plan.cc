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

std::optional<std::string> AnnotationOf(const YAML::Node& object_metadata,
                                        const YAML::Node& pod_metadata, const char* key) {
  for (const YAML::Node& metadata : {pod_metadata, object_metadata}) {
    const YAML::Node value = Child(Child(metadata, "annotations"), key);
    if (value.IsDefined() && value.IsScalar()) return value.Scalar();
  }
  return std::nullopt;
}

std::optional<int> ParsePort(const std::string& text) {
  const auto value = manifest::ParseInteger(text);
  if (!value || *value < 1 || *value > kHighestPort) return std::nullopt;
  return static_cast<int>(*value);
}

struct ContainerPort {
  std::string name;
  int port = 0;
  bool tcp = true;
};

std::vector<ContainerPort> PortsOf(const YAML::Node& container) {
  std::vector<ContainerPort> ports;
  const YAML::Node list = Child(container, "ports");
  if (!list.IsDefined() || !list.IsSequence()) return ports;
  for (const auto& item : list) {
    const auto port = ParsePort(ScalarOr(Child(item, "containerPort"), ""));
    if (!port) continue;
    ports.push_back({ScalarOr(Child(item, "name"), ""), *port,
                     ScalarOr(Child(item, "protocol"), "TCP") == "TCP"});
  }
  return ports;
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

std::string DetectMesh(const YAML::Node& pod, const YAML::Node& pod_metadata) {
  const auto label_or_annotation = [&](const char* key) {
    for (const char* where : {"labels", "annotations"}) {
      const YAML::Node value = Child(Child(pod_metadata, where), key);
      if (value.IsDefined() && value.IsScalar()) return value.Scalar();
    }
    return std::string();
  };
  const YAML::Node containers = Child(pod, "containers");
  const YAML::Node inits = Child(pod, "initContainers");
  if (label_or_annotation("sidecar.istio.io/inject") == "true" ||
      Present(manifest::Named(containers, "istio-proxy")) ||
      Present(manifest::Named(inits, "istio-proxy"))) {
    return "istio";
  }
  const std::string linkerd = label_or_annotation("linkerd.io/inject");
  if (linkerd == "enabled" || linkerd == "ingress" ||
      Present(manifest::Named(containers, "linkerd-proxy")) ||
      Present(manifest::Named(inits, "linkerd-proxy"))) {
    return "linkerd";
  }
  return "";
}

}  // namespace

std::string DefaultImage() { return std::string("ghcr.io/lastcall/lastcall:") + kVersion; }

long long RequiredGraceSeconds(Millis lb_delay, const InjectOptions& options) {
  const Millis budget =
      lb_delay + options.drain_timeout + options.exit_delay + Config::kBudgetMargin;
  return (budget.count() + 999) / 1000;
}

AnnotatedOptions ApplyAnnotations(const InjectOptions& flags, const YAML::Node& object_metadata,
                                  const YAML::Node& pod_metadata) {
  AnnotatedOptions result{flags, false, ""};
  InjectOptions& options = result.options;
  const auto get = [&](const char* key) {
    return AnnotationOf(object_metadata, pod_metadata, key);
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
  const std::pair<const char*, Millis*> durations[] = {
      {"lastcall.dev/lb-delay", &options.lb_delay},
      {"lastcall.dev/drain-timeout", &options.drain_timeout},
      {"lastcall.dev/exit-delay", &options.exit_delay},
  };
  for (const auto& [key, target] : durations) {
    if (auto value = get(key)) {
      std::string error;
      const auto parsed = ParseDuration(*value, &error);
      if (!parsed) return fail(key, *value, error);
      *target = *parsed;
    }
  }
  if (auto value = get("lastcall.dev/drain-url")) {
    if (!value->empty() && !value->starts_with("http://")) {
      return fail("lastcall.dev/drain-url", *value, "expected an http:// URL on 127.0.0.1");
    }
    options.drain_url = *value;
  }
  if (auto value = get("lastcall.dev/monitor")) {
    if (*value != "status" && *value != "json" && *value != "connections" && *value != "none") {
      return fail("lastcall.dev/monitor", *value,
                  "expected status, json, connections or none (other monitors: --run-arg)");
    }
    options.monitor = *value;
  }
  if (auto value = get("lastcall.dev/refused-means")) {
    if (*value != "drained" && *value != "error") {
      return fail("lastcall.dev/refused-means", *value, "expected drained or error");
    }
    options.refused_means = *value;
  }
  if (auto value = get("lastcall.dev/port")) {
    const auto port = ParsePort(*value);
    if (!port) return fail("lastcall.dev/port", *value, "expected a port number 1-65535");
    options.port = port;
  }
  if (auto value = get("lastcall.dev/image")) {
    if (value->empty()) return fail("lastcall.dev/image", *value, "empty");
    options.image = *value;
  }
  if (auto value = get("lastcall.dev/container")) options.container = *value;
  return result;
}

PlanResult PlanPod(const YAML::Node& pod, const YAML::Node& pod_metadata,
                   const InjectOptions& options) {
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
  std::string wanted = options.container;
  if (wanted.empty()) {
    wanted = ScalarOr(
        Child(Child(pod_metadata, "annotations"), "kubectl.kubernetes.io/default-container"), "");
  }
  const auto found = wanted.empty() ? names.begin() : std::find(names.begin(), names.end(), wanted);
  if (found == names.end()) {
    return skip(
        fmt::format("no container named \"{}\" (containers: {})", wanted, fmt::join(names, ", ")));
  }
  plan.app_index = static_cast<size_t>(found - names.begin());
  plan.app_name = *found;
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

  // lastcall's port: free of every port any container of the pod declares.
  std::set<int> used;
  for (const YAML::Node& list : {containers, inits}) {
    if (!list.IsDefined() || !list.IsSequence()) continue;
    for (const auto& container : list) {
      for (const auto& port : PortsOf(container)) used.insert(port.port);
    }
  }
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
  } else {
    plan.listen_port = kDefaultListenPort;
    while (used.contains(plan.listen_port)) ++plan.listen_port;
    if (plan.listen_port != kDefaultListenPort) {
      plan.notes.push_back(fmt::format("port {} is used in the pod: lastcall listens on {}",
                                       kDefaultListenPort, plan.listen_port));
    }
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
        "monitor none (lastcall.dev/monitor): lastcall waits the whole drain timeout and reports "
        "timed_out, as a preStop sleep would");
  } else if (monitor.empty() || monitor == "connections") {
    std::vector<std::string> ports;
    for (const auto& port : app_ports) {
      if (port.tcp) ports.push_back(std::to_string(port.port));
    }
    if (ports.empty()) {
      return skip(fmt::format(
          "cannot observe container \"{}\": it declares no TCP containerPort and no drain "
          "endpoint; set the annotation lastcall.dev/drain-url (the app's drain endpoint, "
          "e.g. http://127.0.0.1:8080/drain) or declare its ports, or lastcall.dev/monitor: none "
          "for a fixed wait",
          plan.app_name));
    }
    monitor_args = {"--drain-url", "", "--monitor", "connections"};
    for (const auto& port : ports)
      monitor_args.insert(monitor_args.end(), {"--monitor-port", port});
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

  plan.mesh = options.mesh.empty() ? DetectMesh(pod, pod_metadata) : options.mesh;

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
  plan.run_args.insert(plan.run_args.end(), options.run_args.begin(), options.run_args.end());
  result.plan = std::move(plan);
  return result;
}

std::string SettingsHash(const InjectOptions& options) {
  std::string canonical = fmt::format(
      "image={}\ncontainer={}\nnative={}\nforce={}\nlb_delay={}\ndrain_timeout={}\n"
      "exit_delay={}\ndrain_url={}\nmonitor={}\nrefused_means={}\nport={}\nmesh={}\n",
      options.image, options.container, options.native, options.force, options.lb_delay.count(),
      options.drain_timeout.count(), options.exit_delay.count(), options.drain_url, options.monitor,
      options.refused_means, options.port.value_or(0), options.mesh);
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

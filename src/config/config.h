#pragma once

#include <chrono>
#include <csignal>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/duration.h"
#include "base/logging.h"
#include "base/url.h"

// lastcall's configuration: one plain struct, every field with its default and a one-line
// comment. Loading (YAML file, LASTCALL_* environment, flags, with that precedence reversed) is in
// config_loader.h; this header has no I/O. Addresses, URLs, signals and the log level arrive here
// parsed: the loader validated them once, and nothing parses them again.
namespace lastcall {

// A value the loader parsed, with the text it was written as: `check` prints that text and logs
// show it, exactly as the user wrote it. REQUIRES: `value` is what `text` parses to.
template <typename T>
struct Parsed {
  T value;
  std::string text;
};

// What a refused poll means when the app is gone: nothing listens on the monitor URL's port in any
// address family (port_listeners.h). A refusal while something listens elsewhere is an error.
enum class RefusedMeans { kDrained, kError };

enum class MonitorKind { kStatus, kJson, kPrometheus, kConnections, kNone };

// What the connections monitor counts: every connection, or only those with a request in flight
// (the kernel's tcp_info says whether the app owes an answer; idle keep-alive ones do not count).
enum class ConnectionCount { kConnections, kInFlight };

struct DrainTriggerConfig {
  // nullopt (YAML "") disables the trigger.
  std::optional<Parsed<Url>> url = Parsed<Url>{Url{.scheme = Url::Scheme::kHttp,
                                                   .host = "127.0.0.1",
                                                   .port = 8080,
                                                   .socket_path = "",
                                                   .target = "/drain"},
                                               "http://127.0.0.1:8080/drain"};
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;  // sent with the trigger request
  Millis timeout{2000};  // per attempt; attempts are retried with backoff until the drain timeout
};

struct MonitorConfig {
  MonitorKind kind = MonitorKind::kStatus;
  std::optional<Parsed<Url>> url;        // nullopt means the trigger URL
  std::string field = "/inflight";       // json: JSON pointer to a number
  std::string metric;                    // prometheus: selector, e.g. name{label="v"}
  std::vector<int> ports{8080};          // connections: local ports whose connections count
  std::vector<int> drained_status{200};  // status: answers that mean drained
  double drained_at = 0;                 // json/prometheus/connections: drained when value <= this
  Millis interval{100};                  // time between polls
  Millis settle{0};                      // drained must hold this long before it counts
  Millis timeout{1000};                  // per poll request
  Millis long_poll{0};  // status: ask the app to hold a busy answer this long (?wait=); 0 off
  RefusedMeans refused_means = RefusedMeans::kDrained;
  bool count_close_wait = false;  // connections: also count CLOSE_WAIT sockets
  ConnectionCount count = ConnectionCount::kConnections;  // connections: what counts
  // connections, in_flight: ports (among `ports`) whose connections multiplex requests (HTTP/2,
  // gRPC): the kernel cannot tell a pending stream, so every open connection counts.
  std::vector<int> multiplexed_ports;
};

struct DrainConfig {
  DrainTriggerConfig trigger;
  MonitorConfig monitor;
  Millis timeout{20000};  // from the start of DRAINING to TIMED_OUT
};

// The two kinds of shutdown.lb_delay (LbDelay, below). Declared outside it so that they are
// complete, default member initializers included, where std::variant asks whether they can be
// default-constructed.
struct LbDelayFixed {
  Millis delay{5000};
  friend bool operator==(const LbDelayFixed&, const LbDelayFixed&) = default;
};
struct LbDelayAuto {
  Millis min{1000};    // shutdown.lb_auto.min: the wait lasts at least this long (a floor)
  Millis max{30000};   // shutdown.lb_auto.max: and at most this long (the wait's bound)
  Millis quiet{1000};  // shutdown.lb_auto.quiet: it ends once no new connection or request
                       // byte arrived for this long
  // shutdown.lb_auto.endpoint_wait: how long from unready the wait gives the cluster's view of
  // the endpoint (the EndpointSlice watch) to start; past it, the wait goes on without it.
  Millis endpoint_wait{2000};
  friend bool operator==(const LbDelayAuto&, const LbDelayAuto&) = default;
};
// shutdown.lb_delay: once the pod is unready, how the wait for load balancers to stop routing to
// it ends. Either after a fixed time, or (`lb_delay: auto`) once the traffic to the app's ports
// (shutdown.drain.monitor.ports) has stopped, as the kernel sees it, between a floor and a bound.
// One or the other: a fixed delay has no auto settings, and auto has no fixed delay.
struct LbDelay {
  using Fixed = LbDelayFixed;
  using Auto = LbDelayAuto;
  // Either is an LbDelay: `shutdown.lb_delay = LbDelay::Fixed{seconds(5)}`.
  LbDelay() = default;
  LbDelay(Fixed fixed) : value(fixed) {}       // NOLINT(google-explicit-constructor)
  LbDelay(Auto settings) : value(settings) {}  // NOLINT(google-explicit-constructor)

  std::variant<Fixed, Auto> value;  // default: Fixed, 5s

  // The longest the wait can last: the fixed delay, or auto's max. What the budget counts.
  Millis bound() const {
    const Auto* settings = auto_settings();
    return settings != nullptr ? settings->max : std::get<Fixed>(value).delay;
  }
  bool is_auto() const { return std::holds_alternative<Auto>(value); }
  // Auto's settings, or nullptr when the delay is fixed.
  const Auto* auto_settings() const { return std::get_if<Auto>(&value); }
  friend bool operator==(const LbDelay&, const LbDelay&) = default;
};

// After the sequence ends and exit_delay has passed, lastcall asks the pod's mesh proxy to quit
// (sidecar/proxy_quit.h), so a proxy held for the whole budget (Istio's terminationDrainDuration,
// Linkerd's wait-before-exit) goes as soon as the app is done. One request, best effort.
struct ProxyQuitConfig {
  // nullopt (YAML "", the default): nobody is asked. Loopback or unix only: the proxy is in the
  // pod. Istio: http://127.0.0.1:15020/quitquitquit; Linkerd: http://127.0.0.1:4191/shutdown.
  std::optional<Parsed<Url>> url;
  std::string method = "POST";  // both meshes refuse any other (405)
  // The request's absolute deadline (connect + send + answer): the exit waits at most this long.
  // At most kMaxTimeout, so it stays inside the budget's margin.
  Millis timeout{1000};
  static constexpr Millis kMaxTimeout{1000};
};

struct ShutdownConfig {
  std::vector<int> signals{SIGTERM, SIGINT};  // signals that start the sequence
  LbDelay lb_delay;  // UNREADY -> DRAINING: the wait for load balancers to stop routing
  DrainConfig drain;
  Millis exit_delay{0};        // after DRAINED/TIMED_OUT, before exit
  Millis grace_period{30000};  // the pod's terminationGracePeriodSeconds
  // A signal-started sequence that finds the app gone (nothing listens on its port in any address
  // family: proven by the kernel's tables, not by one refused connection) skips the rest of
  // lb_delay: nobody is left to receive traffic, so waiting only delays pod deletion.
  bool skip_lb_delay_when_app_gone = true;
  // The sequence's own worst case, trigger to exit: lb_delay.bound() + drain.timeout +
  // exit_delay. The one place it is computed: /status reports it, `check` adds
  // Config::kBudgetMargin to it.
  Millis Budget() const { return lb_delay.bound() + drain.timeout + exit_delay; }

  Millis recover_after{-1};    // after a preStop-driven sequence with no signal: return to
                               // SERVING; -1 means grace_period + 2s, 0 disables
  ProxyQuitConfig proxy_quit;  // the mesh proxy asked to quit as lastcall exits
};

struct ReadinessConfig {
  std::optional<Parsed<Url>> upstream;  // app health URL; nullopt: /readyz does not gate on it
  Millis interval{1000};  // the upstream is checked at most this often (answers are cached)
  Millis timeout{500};    // per upstream check
};

struct LogConfig {
  LogFormat format = LogFormat::kText;
  LogLevel level = LogLevel::kInfo;
};

struct Config {
  // probes, metrics, status
  Parsed<ListenAddress> listen{
      ListenAddress{.is_unix = false, .host = "", .port = 9901, .socket_path = ""}, ":9901"};
  // the /prestop endpoint
  Parsed<ListenAddress> control{
      ListenAddress{
          .is_unix = true, .host = "", .port = 0, .socket_path = "/var/run/lastcall/control.sock"},
      "unix:///var/run/lastcall/control.sock"};
  std::string token_file;  // bearer token for /prestop; required for non-loopback TCP control
  // "" means <control socket's directory>/lastcall-state/state.json (unix control only): a
  // directory lastcall creates 0700 for itself, so that no other user can plant a state file.
  std::string state_file;
  // The largest answer body lastcall reads from the app (monitors, trigger, readiness upstream):
  // a longer one is an error, and memory stays bounded whatever the app sends.
  size_t max_body_bytes = size_t{4} << 20;
  ReadinessConfig readiness;
  ShutdownConfig shutdown;
  // The Kubernetes API client (src/kubeapi/): an Event per termination. Used when the in-cluster
  // configuration is present (KUBERNETES_SERVICE_HOST, the service account's token and CA).
  struct KubeApi {
    bool enabled = true;
    std::string token_file;  // "" means the service account's mounted token
    std::string ca_file;     // "" means the service account's mounted CA bundle
  } kube_api;
  LogConfig log;

  // The safety margin `check` adds to the budget: the app's own exit after drain, and the
  // kubelet's rounding of hook time to whole seconds.
  static constexpr Millis kBudgetMargin{2000};

  // The monitor URL in effect: monitor.url, or the trigger URL when unset; nullopt when both are.
  const std::optional<Parsed<Url>>& EffectiveMonitorUrl() const {
    return shutdown.drain.monitor.url ? shutdown.drain.monitor.url : shutdown.drain.trigger.url;
  }
  Millis EffectiveRecoverAfter() const {
    return shutdown.recover_after.count() < 0 ? shutdown.grace_period + Millis{2000}
                                              : shutdown.recover_after;
  }
  // state_file, or its default beside a Unix control socket; "" when there is none (TCP control,
  // or a socket path without a directory).
  std::string EffectiveStateFile() const {
    if (!state_file.empty()) return state_file;
    if (!control.value.is_unix) return "";
    const auto slash = control.value.socket_path.rfind('/');
    if (slash == std::string::npos) return "";
    return control.value.socket_path.substr(0, slash + 1) + kStateDirectoryName + "/state.json";
  }
  // The directory of the default state file, which lastcall creates for itself.
  static constexpr const char* kStateDirectoryName = "lastcall-state";
};

// Where an effective value came from, for `lastcall check`.
enum class ValueSource { kDefault, kFile, kEnv, kFlag };

}  // namespace lastcall

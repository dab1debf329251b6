#include "config/config_loader.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "base/signals.h"

namespace lastcall {
namespace {

using std::chrono::seconds;

ConfigSources Yaml(std::string text) {
  ConfigSources sources;
  sources.yaml_text = std::move(text);
  sources.yaml_path = "lastcall.yaml";
  return sources;
}

ConfigSources Env(std::map<std::string, std::string> env) {
  ConfigSources sources;
  sources.env = std::move(env);
  return sources;
}

ConfigSources Flags(std::vector<FlagValue> flags) {
  ConfigSources sources;
  sources.flags = std::move(flags);
  return sources;
}

// The ConfigError message LoadConfig throws, or "" when it accepts the sources.
std::string ErrorOf(const ConfigSources& sources) {
  try {
    LoadConfig(sources);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct ErrorCase {
  std::string input;
  std::string want;
};

// Config's defaults are written parsed (config.h has no parser): each must be what its text
// parses to, or `check` would print one value while lastcall runs with another.
TEST_CASE("the parsed defaults in config.h match their text") {
  const Config defaults;
  std::string error;
  for (const Parsed<ListenAddress>* address : {&defaults.listen, &defaults.control}) {
    CAPTURE(address->text);
    const std::optional<ListenAddress> parsed = ParseListenAddress(address->text, &error);
    REQUIRE(parsed);
    CHECK(parsed->is_unix == address->value.is_unix);
    CHECK(parsed->host == address->value.host);
    CHECK(parsed->port == address->value.port);
    CHECK(parsed->socket_path == address->value.socket_path);
  }
  REQUIRE(defaults.shutdown.drain.trigger.url);
  const Parsed<Url>& trigger = *defaults.shutdown.drain.trigger.url;
  const std::optional<Url> parsed = ParseUrl(trigger.text, &error);
  REQUIRE(parsed);
  CHECK(parsed->scheme == trigger.value.scheme);
  CHECK(parsed->host == trigger.value.host);
  CHECK(parsed->port == trigger.value.port);
  CHECK(parsed->socket_path == trigger.value.socket_path);
  CHECK(parsed->target == trigger.value.target);
}

TEST_CASE("LoadConfig with no sources gives the documented defaults") {
  LoadedConfig loaded = LoadConfig(ConfigSources{});
  const Config& c = loaded.config;
  CHECK(c.listen.text == ":9901");
  CHECK(c.control.text == "unix:///var/run/lastcall/control.sock");
  CHECK(c.shutdown.signals == std::vector<int>{SIGTERM, SIGINT});
  CHECK(c.shutdown.lb_delay == LbDelay::Fixed{seconds{5}});
  CHECK(c.shutdown.drain.timeout == seconds{20});
  REQUIRE(c.shutdown.drain.trigger.url);
  CHECK(c.shutdown.drain.trigger.url->text == "http://127.0.0.1:8080/drain");
  CHECK_FALSE(c.shutdown.drain.monitor.url);
  CHECK_FALSE(c.readiness.upstream);
  CHECK(c.log.level == LogLevel::kInfo);
  CHECK(c.shutdown.drain.monitor.kind == MonitorKind::kStatus);
  CHECK(c.shutdown.grace_period == seconds{30});
  REQUIRE(loaded.sources.size() == ConfigKeys().size());
  for (const ConfigKey& key : ConfigKeys()) {
    CAPTURE(key.key);
    CHECK(loaded.sources.at(key.key) == ValueSource::kDefault);
  }
  CHECK(loaded.origins.empty());
  CHECK(loaded.warnings.empty());
}

TEST_CASE("an empty, blank or comment-only file means defaults") {
  for (std::string text : {"", "\n\n", "# nothing yet\n", "---\n", "~\n", "shutdown:\n",
                           "shutdown:\n  drain:\n    # monitor: later\n"}) {
    CAPTURE(text);
    CHECK(ErrorOf(Yaml(text)) == "");
  }
}

TEST_CASE("a full YAML file sets every key") {
  LoadedConfig loaded = LoadConfig(Yaml(R"(# every key, none at its default
listen: 127.0.0.1:9911
control: 127.0.0.1:9912
token_file: /var/run/secrets/lastcall/token
state_file: /tmp/lastcall-state.json
max_body: 512KiB
readiness:
  upstream: http://127.0.0.1:8080/healthz
  interval: 2s
  timeout: 250ms
shutdown:
  signals: [TERM, sigusr1]
  lb_delay: 7s
  lb_auto: {min: 2s, max: 9s, quiet: 500ms, endpoint_wait: 3s}
  drain:
    trigger:
      url: http://127.0.0.1:8081/admin/drain
      method: PUT
      headers:
        X-Drain: "yes"
        Authorization: Bearer abc
      timeout: 1.5s
    monitor:
      kind: json
      url: http://127.0.0.1:8081/admin/inflight
      field: /stats/inflight
      metric: http_server_active_requests{route="/api"}
      ports: [8080, 8443]
      drained_status: [200, 204]
      drained_at: 2.5
      interval: 250ms
      settle: 1s
      timeout: 300ms
      refused_means: error
      count_close_wait: true
      count: in_flight
      multiplexed_ports: [8443]
      long_poll: 0s  # at its default: anything longer is an error with kind json
    timeout: 1m30s
  exit_delay: 1s
  grace_period: 2m
  skip_lb_delay_when_app_gone: false
  recover_after: 0
  proxy_quit: {url: "http://127.0.0.1:15020/quitquitquit", method: PUT, timeout: 400ms}
log:
  format: json
  level: debug
kube_api:
  enabled: false
  token_file: /etc/lastcall/kube/token
  ca_file: /etc/lastcall/kube/ca.crt
)"));
  const Config& c = loaded.config;
  CHECK(c.listen.text == "127.0.0.1:9911");
  CHECK(c.listen.value.host == "127.0.0.1");
  CHECK(c.listen.value.port == 9911);
  CHECK(c.control.text == "127.0.0.1:9912");
  CHECK(c.control.value.port == 9912);
  CHECK(c.token_file == "/var/run/secrets/lastcall/token");
  CHECK(c.state_file == "/tmp/lastcall-state.json");
  CHECK(c.max_body_bytes == 512 * 1024);
  REQUIRE(c.readiness.upstream);
  CHECK(c.readiness.upstream->text == "http://127.0.0.1:8080/healthz");
  CHECK(c.readiness.upstream->value.target == "/healthz");
  CHECK(c.readiness.interval == seconds{2});
  CHECK(c.readiness.timeout == Millis{250});
  CHECK(c.shutdown.signals == std::vector<int>{SIGTERM, SIGUSR1});
  // lb_delay is a duration: the lb_auto keys are kept for what `check` shows, and unused.
  CHECK(c.shutdown.lb_delay == LbDelay::Fixed{seconds{7}});
  CHECK(loaded.lb_auto_given == LbDelay::Auto{seconds{2}, seconds{9}, Millis{500}, seconds{3}});
  REQUIRE(c.shutdown.drain.trigger.url);
  CHECK(c.shutdown.drain.trigger.url->text == "http://127.0.0.1:8081/admin/drain");
  CHECK(c.shutdown.drain.trigger.url->value.port == 8081);
  CHECK(c.shutdown.drain.trigger.url->value.target == "/admin/drain");
  CHECK(c.shutdown.drain.trigger.method == "PUT");
  using Header = std::pair<std::string, std::string>;
  CHECK(c.shutdown.drain.trigger.headers ==
        std::vector<Header>{{"X-Drain", "yes"}, {"Authorization", "Bearer abc"}});
  CHECK(c.shutdown.drain.trigger.timeout == Millis{1500});
  const MonitorConfig& m = c.shutdown.drain.monitor;
  CHECK(m.kind == MonitorKind::kJson);
  REQUIRE(m.url);
  CHECK(m.url->text == "http://127.0.0.1:8081/admin/inflight");
  CHECK(m.url->value.target == "/admin/inflight");
  CHECK(m.field == "/stats/inflight");
  CHECK(m.metric == "http_server_active_requests{route=\"/api\"}");
  CHECK(m.ports == std::vector<int>{8080, 8443});
  CHECK(m.drained_status == std::vector<int>{200, 204});
  CHECK(m.drained_at == doctest::Approx(2.5));
  CHECK(m.interval == Millis{250});
  CHECK(m.settle == seconds{1});
  CHECK(m.timeout == Millis{300});
  CHECK(m.refused_means == RefusedMeans::kError);
  CHECK(m.count_close_wait);
  CHECK(m.count == ConnectionCount::kInFlight);
  CHECK(m.multiplexed_ports == std::vector<int>{8443});
  CHECK(m.long_poll == Millis{0});
  CHECK(c.shutdown.drain.timeout == seconds{90});
  CHECK(c.shutdown.exit_delay == seconds{1});
  CHECK(c.shutdown.grace_period == seconds{120});
  CHECK_FALSE(c.shutdown.skip_lb_delay_when_app_gone);
  CHECK(c.shutdown.recover_after == Millis{0});
  CHECK(c.EffectiveRecoverAfter() == Millis{0});
  REQUIRE(c.shutdown.proxy_quit.url);
  CHECK(c.shutdown.proxy_quit.url->value.port == 15020);
  CHECK(c.shutdown.proxy_quit.method == "PUT");
  CHECK(c.shutdown.proxy_quit.timeout == Millis{400});
  CHECK(c.log.format == LogFormat::kJson);
  CHECK(c.log.level == LogLevel::kDebug);
  CHECK_FALSE(c.kube_api.enabled);
  CHECK(c.kube_api.token_file == "/etc/lastcall/kube/token");
  CHECK(c.kube_api.ca_file == "/etc/lastcall/kube/ca.crt");
  for (const ConfigKey& key : ConfigKeys()) {
    CAPTURE(key.key);
    CHECK(loaded.sources.at(key.key) == ValueSource::kFile);
  }
  CHECK(loaded.origins.at("listen") == "lastcall.yaml:2:1");
  CHECK(loaded.origins.at("shutdown.lb_delay") == "lastcall.yaml:13:3");
}

TEST_CASE("YAML errors name file, line, column, key and value") {
  const std::vector<ErrorCase> cases = {
      // Unknown keys, with the likeliest intent.
      {"shutdown:\n  lb_dealy: 5s\n",
       "lastcall.yaml:2:3: shutdown.lb_dealy: unknown key (did you mean lb_delay?)"},
      {"shutdown:\n  lbDelay: 5s\n",
       "lastcall.yaml:2:3: shutdown.lbDelay: unknown key (did you mean lb_delay?)"},
      {"shutdown:\n  lb-delay: 5s\n",
       "lastcall.yaml:2:3: shutdown.lb-delay: unknown key (did you mean lb_delay?)"},
      {"lb_delay: 5s\n",
       "lastcall.yaml:1:1: lb_delay: unknown key here (did you mean shutdown.lb_delay? it belongs "
       "in section shutdown)"},
      {"timeout: 5s\n",
       "lastcall.yaml:1:1: timeout: unknown key here (did you mean one of readiness.timeout, "
       "shutdown.drain.trigger.timeout, shutdown.drain.monitor.timeout, "
       "shutdown.drain.timeout, shutdown.proxy_quit.timeout?)"},
      {"shutdown:\n  banana: 1\n",
       "lastcall.yaml:2:3: shutdown.banana: unknown key (valid here: signals, lb_delay, "
       "lb_auto, drain, exit_delay, grace_period, skip_lb_delay_when_app_gone, recover_after, "
       "proxy_quit)"},
      {"shutdown.lb_delay: 5s\n",
       "lastcall.yaml:1:1: shutdown.lb_delay: unknown key: YAML does not expand dots; nest it as "
       "shutdown: {lb_delay: ...}"},
      {"shutdown:\n  drain.monitor.kind: json\n",
       "lastcall.yaml:2:3: shutdown.drain.monitor.kind: unknown key: YAML does not expand dots; "
       "nest it as drain: {monitor: {kind: ...}}"},
      {"shutdown:\n  drain:\n    monitor:\n      kind: json\n      feild: /x\n",
       "lastcall.yaml:5:7: shutdown.drain.monitor.feild: unknown key (did you mean field?)"},
      {"listen: :9901\nlisten: :9902\n",
       "lastcall.yaml:2:1: listen: duplicate key (first set at line 1)"},
      // Shapes.
      {"shutdown: 5s\n",
       "lastcall.yaml:1:1: shutdown: expected a map of settings (signals, lb_delay, lb_auto, "
       "drain, exit_delay, grace_period, skip_lb_delay_when_app_gone, recover_after, "
       "proxy_quit) (got \"5s\")"},
      {"shutdown:\n  lb_delay: {a: 1}\n",
       "lastcall.yaml:2:13: shutdown.lb_delay: expected a single value, not a map"},
      {"listen: [\":9901\"]\n", "lastcall.yaml:1:9: listen: expected a single value, not a list"},
      {"shutdown:\n  signals: SIGTERM\n",
       "lastcall.yaml:2:12: shutdown.signals: expected a list, such as [SIGTERM, SIGINT] (got "
       "\"SIGTERM\")"},
      {"shutdown:\n  signals: [[SIGTERM]]\n",
       "lastcall.yaml:2:13: shutdown.signals: list items must be single values"},
      {"shutdown:\n  lb_delay:\n", "lastcall.yaml:2:3: shutdown.lb_delay: missing value"},
      {"token_file:\n",
       "lastcall.yaml:1:1: token_file: missing value (write \"\" for an empty "
       "string)"},
      {"shutdown:\n  signals:\n",
       "lastcall.yaml:2:3: shutdown.signals: missing value (write [] for an empty list)"},
      {"- listen\n",
       "lastcall.yaml:1:1: the config file must be a map of settings, such as \"shutdown: "
       "{lb_delay: 5s}\""},
      {"listen: :9901\n---\nlisten: :9902\n",
       "lastcall.yaml:3:1: a second YAML document: the config file holds one document (remove "
       "---)"},
      // Durations.
      {"shutdown:\n  lb_delay: five\n",
       "lastcall.yaml:2:13: shutdown.lb_delay: expected a number before \"five\" (durations look "
       "like 5s, 250ms or 1m30s) (got \"five\")"},
      {"shutdown:\n  lb_delay: 5\n",
       "lastcall.yaml:2:13: shutdown.lb_delay: missing unit after \"5\" (units: h, m, s, ms) (got "
       "\"5\")"},
      {"shutdown:\n  lb_delay: -5s\n",
       "lastcall.yaml:2:13: shutdown.lb_delay: negative durations are not allowed (got \"-5s\")"},
      {"shutdown:\n  drain: {timeout: 48h}\n",
       "lastcall.yaml:2:20: shutdown.drain.timeout: longer than 24h, the maximum: no shutdown "
       "step should take that long (got \"48h\")"},
      {"shutdown:\n  drain:\n    timeout: 0s\n",
       "lastcall.yaml:3:14: shutdown.drain.timeout: must be greater than 0 (got \"0s\")"},
      {"shutdown:\n  drain:\n    monitor:\n      interval: 0\n",
       "lastcall.yaml:4:17: shutdown.drain.monitor.interval: must be greater than 0 (got \"0\")"},
      {"readiness:\n  interval: 0ms\n",
       "lastcall.yaml:2:13: readiness.interval: must be greater than 0 (got \"0ms\")"},
      {"shutdown:\n  grace_period: 0s\n",
       "lastcall.yaml:2:17: shutdown.grace_period: must be greater than 0 (got \"0s\")"},
      {"shutdown:\n  drain:\n    monitor:\n      timeout: 500us\n",
       "lastcall.yaml:4:16: shutdown.drain.monitor.timeout: unit \"us\" is finer than lastcall's "
       "millisecond resolution: use ms (got \"500us\")"},
      {"shutdown:\n  recover_after: -1s\n",
       "lastcall.yaml:2:18: shutdown.recover_after: negative durations are not allowed (got "
       "\"-1s\")"},
      // Signals.
      {"shutdown:\n  signals: [SIGTERM, SIGKILL]\n",
       "lastcall.yaml:2:22: shutdown.signals: SIGKILL cannot be caught, so it cannot start a "
       "graceful shutdown (got \"SIGKILL\")"},
      {"shutdown:\n  signals: [stop]\n",
       "lastcall.yaml:2:13: shutdown.signals: SIGSTOP cannot be caught, so it cannot start a "
       "graceful shutdown (got \"stop\")"},
      {"shutdown:\n  signals: [SIGCHLD]\n",
       "lastcall.yaml:2:13: shutdown.signals: not a signal lastcall handles (valid: SIGTERM, "
       "SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2) (got \"SIGCHLD\")"},
      {"shutdown:\n  signals: [15]\n",
       "lastcall.yaml:2:13: shutdown.signals: use a signal name, not a number (valid: SIGTERM, "
       "SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2) (got \"15\")"},
      {"shutdown:\n  signals: []\n",
       "lastcall.yaml:2:12: shutdown.signals: at least one signal must start the sequence (the "
       "kubelet sends SIGTERM)"},
      // Monitor settings.
      {"shutdown:\n  drain:\n    monitor:\n      kind: grpc\n",
       "lastcall.yaml:4:13: shutdown.drain.monitor.kind: unknown monitor kind (valid: status, "
       "json, prometheus, connections, none) (got \"grpc\")"},
      {"shutdown:\n  drain:\n    monitor:\n      ports: [8080, 70000]\n",
       "lastcall.yaml:4:21: shutdown.drain.monitor.ports: a port is a number from 1 to 65535 (got "
       "\"70000\")"},
      {"shutdown:\n  drain:\n    monitor:\n      ports: [0]\n",
       "lastcall.yaml:4:15: shutdown.drain.monitor.ports: a port is a number from 1 to 65535 (got "
       "\"0\")"},
      {"shutdown:\n  drain:\n    monitor:\n      ports: [http]\n",
       "lastcall.yaml:4:15: shutdown.drain.monitor.ports: expected a whole number: a port is a "
       "number from 1 to 65535 (got \"http\")"},
      {"shutdown:\n  drain:\n    monitor:\n      ports: [99999999999999]\n",
       "lastcall.yaml:4:15: shutdown.drain.monitor.ports: a port is a number from 1 to 65535 (got "
       "\"99999999999999\")"},
      {"shutdown:\n  drain:\n    monitor:\n      drained_status: [200, 600]\n",
       "lastcall.yaml:4:29: shutdown.drain.monitor.drained_status: an HTTP status is a number "
       "from 100 to 599 (got \"600\")"},
      {"shutdown:\n  drain:\n    monitor:\n      drained_status: [99]\n",
       "lastcall.yaml:4:24: shutdown.drain.monitor.drained_status: an HTTP status is a number "
       "from 100 to 599 (got \"99\")"},
      {"shutdown:\n  drain:\n    monitor:\n      field: inflight\n",
       "lastcall.yaml:4:14: shutdown.drain.monitor.field: must be a JSON pointer starting with /, "
       "such as /inflight (got \"inflight\")"},
      {"shutdown:\n  drain:\n    monitor:\n      field: \"\"\n",
       "lastcall.yaml:4:14: shutdown.drain.monitor.field: must be a JSON pointer starting with /, "
       "such as /inflight (got \"\")"},
      {"shutdown:\n  drain:\n    monitor:\n      field: /a~2\n",
       "lastcall.yaml:4:14: shutdown.drain.monitor.field: not a valid JSON pointer: JSON "
       "pointer \"/a~2\" has '~' not followed by 0 or 1 (got \"/a~2\")"},
      {"shutdown:\n  drain:\n    monitor:\n      drained_at: -1\n",
       "lastcall.yaml:4:19: shutdown.drain.monitor.drained_at: must be 0 or more (got \"-1\")"},
      {"shutdown:\n  drain:\n    monitor:\n      drained_at: few\n",
       "lastcall.yaml:4:19: shutdown.drain.monitor.drained_at: expected a number, such as 0 or "
       "2.5 (got \"few\")"},
      {"shutdown:\n  drain:\n    monitor:\n      drained_at: .nan\n",
       "lastcall.yaml:4:19: shutdown.drain.monitor.drained_at: expected a number, such as 0 or "
       "2.5 (got \".nan\")"},
      {"shutdown:\n  drain:\n    monitor:\n      refused_means: ok\n",
       "lastcall.yaml:4:22: shutdown.drain.monitor.refused_means: unknown refused_means (valid: "
       "drained, error) (got \"ok\")"},
      {"shutdown:\n  drain:\n    monitor:\n      count_close_wait: maybe\n",
       "lastcall.yaml:4:25: shutdown.drain.monitor.count_close_wait: expected true or false (got "
       "\"maybe\")"},
      {"shutdown:\n  drain:\n    monitor:\n      metric: 9lives\n",
       "lastcall.yaml:4:15: shutdown.drain.monitor.metric: not a metric selector: column 1: "
       "expected a metric name, found \"9\" (got \"9lives\")"},
      {"shutdown:\n  drain:\n    monitor:\n      metric: 'up{job=\"x\"'\n",
       "lastcall.yaml:4:15: shutdown.drain.monitor.metric: not a metric selector: column 11: "
       "expected ',' or '}' (got \"up{job=\\\"x\\\"\")"},
      // Trigger settings.
      {"shutdown:\n  drain:\n    trigger:\n      method: post\n",
       "lastcall.yaml:4:15: shutdown.drain.trigger.method: HTTP methods are case-sensitive: write "
       "POST (got \"post\")"},
      {"shutdown:\n  drain:\n    trigger:\n      method: \"PO ST\"\n",
       "lastcall.yaml:4:15: shutdown.drain.trigger.method: not an HTTP method (letters only, such "
       "as POST) (got \"PO ST\")"},
      {"shutdown:\n  drain:\n    trigger:\n      headers: {X-A: 1, Host: example.com}\n",
       "lastcall.yaml:4:25: shutdown.drain.trigger.headers: header Host is set by lastcall's HTTP "
       "client (got \"Host: example.com\")"},
      {"shutdown:\n  drain:\n    trigger:\n      headers:\n        \"Bad Name\": x\n",
       "lastcall.yaml:5:9: shutdown.drain.trigger.headers: not a valid header name (got \"Bad "
       "Name: x\")"},
      {"shutdown:\n  drain:\n    trigger:\n      headers: [X-A]\n",
       "lastcall.yaml:4:16: shutdown.drain.trigger.headers: expected a map of header names to "
       "values, such as {X-Drain: \"1\"}"},
      {"shutdown:\n  drain:\n    trigger:\n      headers:\n        X-A:\n",
       "lastcall.yaml:5:9: shutdown.drain.trigger.headers: header names and values must be single "
       "values"},
      {"shutdown:\n  drain:\n    trigger:\n      headers:\n",
       "lastcall.yaml:4:7: shutdown.drain.trigger.headers: missing value (write {} for no "
       "headers)"},
      // Log.
      {"log:\n  format: xml\n",
       "lastcall.yaml:2:11: log.format: unknown log format (valid: text, json) (got \"xml\")"},
      {"log:\n  level: verbose\n",
       "lastcall.yaml:2:10: log.level: unknown log level (valid: trace, debug, info, warn, error) "
       "(got \"verbose\")"},
      // Settings that contradict each other.
      {"shutdown:\n  drain:\n    monitor:\n      kind: prometheus\n",
       "lastcall.yaml:4:7: shutdown.drain.monitor.kind: the prometheus monitor needs "
       "shutdown.drain.monitor.metric (--monitor-metric), such as http_server_active_requests"},
      {"shutdown:\n  drain:\n    monitor:\n      kind: connections\n      ports: []\n",
       "lastcall.yaml:5:7: shutdown.drain.monitor.ports: the connections monitor needs at least "
       "one port in shutdown.drain.monitor.ports (--monitor-port)"},
      {"shutdown:\n  drain:\n    monitor:\n      ports: [8080]\n      multiplexed_ports: "
       "[8080, 9090]\n",
       "lastcall.yaml:5:7: shutdown.drain.monitor.multiplexed_ports: port 9090 is not in "
       "shutdown.drain.monitor.ports (--monitor-port): a multiplexed port must also be watched"},
      {"shutdown:\n  drain:\n    monitor:\n      drained_status: []\n",
       "lastcall.yaml:4:7: shutdown.drain.monitor.drained_status: the status monitor needs at "
       "least one status in shutdown.drain.monitor.drained_status (--drained-status), or it "
       "never sees the app drained"},
      {"shutdown:\n  drain:\n    trigger:\n      url: \"\"\n",
       "lastcall.yaml:4:7: shutdown.drain.trigger.url: the status monitor polls a URL, but "
       "shutdown.drain.monitor.url and shutdown.drain.trigger.url are both empty: set "
       "shutdown.drain.monitor.url (--monitor-url), or use monitor kind connections or none"},
      {"shutdown:\n  drain:\n    trigger: {url: \"\"}\n    monitor: {kind: json, url: \"\"}\n",
       "lastcall.yaml:3:15: shutdown.drain.trigger.url: the json monitor polls a URL, but "
       "shutdown.drain.monitor.url and shutdown.drain.trigger.url are both empty: set "
       "shutdown.drain.monitor.url (--monitor-url), or use monitor kind connections or none"},
      {"shutdown:\n  drain:\n    timeout: 5s\n    monitor:\n      settle: 5s\n",
       "lastcall.yaml:5:7: shutdown.drain.monitor.settle: settle 5s is not shorter than "
       "shutdown.drain.timeout 5s: the app could never count as drained"},
      {"control: 0.0.0.0:9902\n",
       "lastcall.yaml:1:1: control: a TCP control address beyond loopback needs token_file "
       "(--token-file): /prestop takes the pod out of service, so it must not be reachable from "
       "outside the pod without a token; use 127.0.0.1, or a unix socket (got \"0.0.0.0:9902\")"},
      {"control: :9902\n",
       "lastcall.yaml:1:1: control: a TCP control address beyond loopback needs token_file "
       "(--token-file): /prestop takes the pod out of service, so it must not be reachable from "
       "outside the pod without a token; use 127.0.0.1, or a unix socket (got \":9902\")"},
      {"control: 127.0.0.1:9901\n",
       "lastcall.yaml:1:1: control: control and listen are the same address; give /prestop its "
       "own (with a token, /prestop is also served on listen) (got \"127.0.0.1:9901\")"},
      {"listen: unix:///run/l.sock\ncontrol: unix:///run/l.sock\n",
       "lastcall.yaml:2:1: control: control and listen are the same address; give /prestop its "
       "own (with a token, /prestop is also served on listen) (got \"unix:///run/l.sock\")"},
  };
  for (const ErrorCase& c : cases) {
    CAPTURE(c.input);
    CHECK(ErrorOf(Yaml(c.input)) == c.want);
  }
}

TEST_CASE("YAML syntax errors carry yaml-cpp's line and column") {
  CHECK(ErrorOf(Yaml("shutdown:\n  lb_delay: [5s\n")) ==
        "lastcall.yaml:3:1: YAML syntax error: end of sequence flow not found");
  CHECK(ErrorOf(Yaml("a: b: c\n")) == "lastcall.yaml:1:5: YAML syntax error: illegal map value");
  ConfigSources no_path;
  no_path.yaml_text = "{a: 1";
  CHECK(ErrorOf(no_path) == "config:1:1: YAML syntax error: end of map flow not found");
}

TEST_CASE("a control character in YAML is named at its own line and column") {
  using namespace std::string_literals;
  // yaml-cpp takes a NUL for an escape or the end of input and reports some other place.
  CHECK(ErrorOf(Yaml("listen: \":9901\"\nshutdown:\n  lb_delay: 5\0s\n"s)) ==
        "lastcall.yaml:3:14: a control character " + Quote("\0"s) +
            " (YAML text allows only tab, line feed and carriage return)");
  CHECK(ErrorOf(Yaml("a: 1\r\n\x1b[31m: 2\n")).rfind("lastcall.yaml:2:1: a control character", 0) ==
        0);
  CHECK(ErrorOf(Yaml("shutdown:\n\tlb_delay: 5s\n")).find("control character") ==
        std::string::npos);  // a tab is YAML's own business
  // A C1 control (U+0080, valid UTF-8) is no YAML character either; NEL (U+0085) is.
  CHECK(ErrorOf(Yaml("listen: \"\xc2\x80:9901\"\n")) ==
        "lastcall.yaml:1:10: a control character " + Quote("\xc2\x80") +
            " (YAML text allows only tab, line feed and carriage return)");
}

TEST_CASE("bytes that are not UTF-8 are named at their place; UTF-8 text is fine") {
  // Found by fuzz/config_fuzzer.cc: yaml-cpp took the byte 0xD5 into the trigger URL, and
  // `lastcall check` printed it escaped, which reads back as another value.
  CHECK(ErrorOf(Yaml("shutdown:\n  drain:\n    trigger:\n      url: http://127.0.0.1:9/a?b\xd5"
                     "c\n")) ==
        "lastcall.yaml:4:34: a byte that is not UTF-8 " + Quote("\xd5") + " (YAML text is UTF-8)");
  CHECK(ErrorOf(Yaml("# caf\xc3\n")).find("not UTF-8") != std::string::npos);       // cut short
  CHECK(ErrorOf(Yaml("# \xed\xa0\x80\n")).find("not UTF-8") != std::string::npos);  // surrogate
  const LoadedConfig loaded = LoadConfig(Yaml("# caf\xc3\xa9 \xe2\x9c\x93\nlisten: \":9901\"\n"));
  CHECK(loaded.config.listen.text == ":9901");
}

std::string ToYaml(const Config& config);  // below

TEST_CASE("flags and the environment refuse what YAML refuses, naming the flag or the variable") {
  using namespace std::string_literals;
  const std::string rule = " (values are UTF-8 text without control characters, as in YAML)";
  CHECK(ErrorOf(Flags({{"token-file", "/run/t\xff"}})) ==
        "flag --token-file: a byte that is not UTF-8 " + Quote("\xff") + " at byte 7" + rule);
  CHECK(ErrorOf(Env({{"LASTCALL_DRAIN_URL", "http://127.0.0.1:9/\x1b[31m"}})) ==
        "environment LASTCALL_DRAIN_URL: a control character " + Quote("\x1b") + " at byte 20" +
            rule);
  // A C1 control and DEL too; every value of a repeated flag and every list item.
  CHECK(Contains(ErrorOf(Flags({{"drain-header", "X-A: 1"}, {"drain-header", "X-B: \xc2\x9b"}})),
                 "flag --drain-header: a control character " + Quote("\xc2\x9b") + " at byte 6"));
  CHECK(Contains(ErrorOf(Env({{"LASTCALL_SIGNALS", "TERM,\x7f"}})),
                 "environment LASTCALL_SIGNALS: a control character"));
  CHECK(Contains(ErrorOf(Flags({{"listen",
                                 ":99\0"
                                 "01"s}})),
                 "flag --listen: a control character"));
  // What YAML takes, flags take: UTF-8, tab, NEL.
  CHECK(ErrorOf(Flags({{"token-file", "/run/caf\xc3\xa9\xc2\x85\t"}})) == "");
}

TEST_CASE("check prints what flags and the environment set so that it reads back the same") {
  // NEL (U+0085) is a YAML character; Quote wrote its two bytes as \xc2\x85, which a YAML reader
  // takes for the two characters U+00C2 U+0085.
  ConfigSources sources = Flags({{"token-file", "/run/a\xc2\x85z \xe2\x80\xa8 caf\xc3\xa9\t"},
                                 {"drain-header", "X-One: \xc2\x85\""}});
  sources.env = {{"LASTCALL_MONITOR_FIELD", "/st\xc2\x85tus"}};
  const Config first = LoadConfig(sources).config;
  const std::string yaml = ToYaml(first);
  CAPTURE(yaml);
  const Config second = LoadConfig(Yaml(yaml)).config;
  CHECK(second.token_file == first.token_file);
  CHECK(second.shutdown.drain.trigger.headers == first.shutdown.drain.trigger.headers);
  CHECK(second.shutdown.drain.monitor.field == "/st\xc2\x85tus");
  for (const ConfigKey& key : ConfigKeys()) {
    CAPTURE(key.key);
    CHECK(FormatConfigValue(second, key.key) == FormatConfigValue(first, key.key));
  }
}

TEST_CASE("a stray ',' at the top of a document is a syntax error, not a hang (yaml-cpp 0.7 bug)") {
  // Found by fuzz/config_fuzzer.cc: yaml-cpp 0.7's LoadAll loops forever on these, allocating.
  CHECK(ErrorOf(Yaml(",")) == "lastcall.yaml:1:1: YAML syntax error: unexpected \",\"");
  CHECK(ErrorOf(Yaml("&anchor ,")) == "lastcall.yaml:1:9: YAML syntax error: unexpected \",\"");
  CHECK(ErrorOf(Yaml("listen: :9901\n---\nlog: {level: warn}\n---\n,\n")) ==
        "lastcall.yaml:5:1: YAML syntax error: unexpected \",\"");
  CHECK(ErrorOf(Yaml(",,,,defaults: &d {{interval: 100ms}\n")) ==
        "lastcall.yaml:1:1: YAML syntax error: unexpected \",\"");
}

TEST_CASE("URL and address errors keep the parser's reason and show the value") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"shutdown:\n  drain:\n    trigger:\n      url: https://127.0.0.1/drain\n",
       "lastcall.yaml:4:12: shutdown.drain.trigger.url: "},
      {"shutdown:\n  drain:\n    monitor:\n      url: 127.0.0.1:8080\n",
       "lastcall.yaml:4:12: shutdown.drain.monitor.url: "},
      {"readiness:\n  upstream: localhost\n", "lastcall.yaml:2:13: readiness.upstream: "},
      {"listen: nowhere\n", "lastcall.yaml:1:9: listen: "},
      {"control: unix://relative.sock\n", "lastcall.yaml:1:10: control: "},
  };
  for (const auto& one_case : cases) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& yaml = one_case.first;
    const auto& prefix = one_case.second;
    CAPTURE(yaml);
    std::string error = ErrorOf(Yaml(yaml));
    CHECK(error.rfind(prefix, 0) == 0);
    CHECK(error.size() > prefix.size() + 10);  // the parser's reason follows
    CHECK(Contains(error, "(got \""));
  }
  CHECK(Contains(ErrorOf(Yaml("listen: 9901\n")), "(did you mean \":9901\"?) (got \"9901\")"));
  CHECK(ErrorOf(Yaml("listen: \"\"\n")) ==
        "lastcall.yaml:1:9: listen: must not be empty (got \"\")");
}

TEST_CASE("every problem is reported at once") {
  try {
    LoadConfig(Yaml("shutdown:\n  lb_delay: 5\n  exit_delay: x\nlog:\n  levle: info\n"));
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    REQUIRE(e.problems().size() == 3);
    CHECK(Contains(e.problems()[0], "shutdown.lb_delay"));
    CHECK(Contains(e.problems()[1], "shutdown.exit_delay"));
    CHECK(Contains(e.problems()[2], "log.levle: unknown key (did you mean level?)"));
    CHECK(std::string(e.what()) ==
          e.problems()[0] + "\n" + e.problems()[1] + "\n" + e.problems()[2]);
  }
}

TEST_CASE("values that are valid in combination load") {
  const std::vector<std::string> valid = {
      "shutdown:\n  drain:\n    trigger: {url: \"\"}\n    monitor: {kind: none}\n",
      "shutdown:\n  drain:\n    trigger: {url: \"\"}\n    monitor: {kind: connections}\n",
      "shutdown:\n  drain:\n    trigger: {url: \"\"}\n    monitor:\n      url: "
      "http://127.0.0.1:8080/inflight\n",
      "shutdown:\n  drain:\n    monitor: {kind: prometheus, metric: envoy_http_rq_active}\n",
      "control: 0.0.0.0:9902\ntoken_file: /etc/lastcall/token\n",
      "control: 127.0.0.1:9902\n",
      "control: \"[::1]:9902\"\n",
      "listen: 127.0.0.1:0\ncontrol: 127.0.0.1:0\n",  // port 0: tests pick free ports
      "shutdown:\n  drain:\n    monitor: {kind: none, settle: 1h}\n",
      "shutdown:\n  recover_after: auto\n",
      "shutdown:\n  signals: [TERM, SIGTERM, sigterm]\n",
      "shutdown:\n  drain:\n    trigger:\n      headers: {}\n",
      "shutdown:\n  drain:\n    monitor:\n      count_close_wait: yes\n",
  };
  for (const std::string& yaml : valid) {
    CAPTURE(yaml);
    CHECK(ErrorOf(Yaml(yaml)) == "");
  }
  CHECK(LoadConfig(Yaml(valid[10])).config.shutdown.signals == std::vector<int>{SIGTERM});
  CHECK(LoadConfig(Yaml(valid[9])).config.shutdown.recover_after == Millis{-1});
}

TEST_CASE("environment variables: values, lists, headers and errors") {
  LoadedConfig loaded = LoadConfig(Env({
      {"LASTCALL_LB_DELAY", "3s"},
      {"LASTCALL_MONITOR_PORT", "8080, 9090"},
      {"LASTCALL_SIGNALS", "TERM,usr1"},
      {"LASTCALL_DRAIN_HEADER", "X-A: 1\nX-B: two words\n"},
      {"LASTCALL_SKIP_LB_DELAY_WHEN_APP_GONE", "false"},
      {"LASTCALL_CONFIG", "/etc/lastcall.yaml"},  // the file's path: cli.cc reads it
      {"LASTCALL_PRESTOP_TIMEOUT", "10s"},        // prestop's, in a shared environment
      {"LASTCALL_QUIET", "1"},
      {"PATH", "/bin"},
      {"lastcall_lb_delay", "9s"},
  }));
  const Config& c = loaded.config;
  CHECK(c.shutdown.lb_delay == LbDelay::Fixed{seconds{3}});
  CHECK(c.shutdown.drain.monitor.ports == std::vector<int>{8080, 9090});
  CHECK(c.shutdown.signals == std::vector<int>{SIGTERM, SIGUSR1});
  using Header = std::pair<std::string, std::string>;
  CHECK(c.shutdown.drain.trigger.headers ==
        std::vector<Header>{{"X-A", "1"}, {"X-B", "two words"}});
  CHECK_FALSE(c.shutdown.skip_lb_delay_when_app_gone);
  CHECK(loaded.sources.at("shutdown.lb_delay") == ValueSource::kEnv);
  CHECK(loaded.origins.at("shutdown.lb_delay") == "LASTCALL_LB_DELAY");

  // A trailing newline, as a value read from a ConfigMap file has, is trimmed like a flag's.
  const Config trimmed =
      LoadConfig(Env({{"LASTCALL_LB_DELAY", "4s\n"}, {"LASTCALL_MONITOR", " json \n"}})).config;
  CHECK(trimmed.shutdown.lb_delay == LbDelay::Fixed{seconds{4}});
  CHECK(trimmed.shutdown.drain.monitor.kind == MonitorKind::kJson);

  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"LASTCALL_LB_DELAY", "five"}},
       "environment LASTCALL_LB_DELAY: expected a number before \"five\" (durations look like "
       "5s, 250ms or 1m30s) (got \"five\")"},
      {{{"LASTCALL_LB_DELAY", ""}},
       "environment LASTCALL_LB_DELAY: empty duration: write a number and a unit, such as 5s, "
       "250ms or 1m30s (got \"\")"},
      {{{"LASTCALL_LB_DELY", "5s"}},
       "environment LASTCALL_LB_DELY: unknown variable (did you mean LASTCALL_LB_DELAY?)"},
      {{{"LASTCALL_DRAINTIMEOUT", "5s"}},
       "environment LASTCALL_DRAINTIMEOUT: unknown variable (did you mean "
       "LASTCALL_DRAIN_TIMEOUT?)"},
      {{{"LASTCALL_MONITOR_PORT", "8080,x"}},
       "environment LASTCALL_MONITOR_PORT: expected a whole number: a port is a number from 1 to "
       "65535 (got \"x\")"},
      {{{"LASTCALL_SIGNALS", "TERM,KILL"}},
       "environment LASTCALL_SIGNALS: SIGKILL cannot be caught, so it cannot start a graceful "
       "shutdown (got \"KILL\")"},
      {{{"LASTCALL_SIGNALS", ""}},
       "environment LASTCALL_SIGNALS: at least one signal must start the sequence (the kubelet "
       "sends SIGTERM)"},
      {{{"LASTCALL_DRAIN_HEADER", "X-A 1"}},
       "environment LASTCALL_DRAIN_HEADER: expected a header as \"Name: value\" (got \"X-A 1\")"},
      {{{"LASTCALL_DRAIN_HEADER", "X-A: 1\nContent-Length: 5"}},
       "environment LASTCALL_DRAIN_HEADER: header Content-Length is set by lastcall's HTTP "
       "client (got \"Content-Length: 5\")"},
      {{{"LASTCALL_DRAIN_URL", ""}},
       "environment LASTCALL_DRAIN_URL: the status monitor polls a URL, but "
       "shutdown.drain.monitor.url and shutdown.drain.trigger.url are both empty: set "
       "shutdown.drain.monitor.url (--monitor-url), or use monitor kind connections or none"},
      {{{"LASTCALL_MONITOR", "prometheus"}},
       "environment LASTCALL_MONITOR: the prometheus monitor needs shutdown.drain.monitor.metric "
       "(--monitor-metric), such as http_server_active_requests"},
      {{{"LASTCALL_SETTLE", "30s"}},
       "environment LASTCALL_SETTLE: settle 30s is not shorter than shutdown.drain.timeout 20s: "
       "the app could never count as drained"},
      {{{"LASTCALL_DRAIN_TIMEOUT", "1s"}, {"LASTCALL_SETTLE", "1s"}},
       "environment LASTCALL_SETTLE: settle 1s is not shorter than shutdown.drain.timeout 1s: the "
       "app could never count as drained"},
      {{{"LASTCALL_LISTEN", "unix:///var/run/lastcall/control.sock"}},
       "environment LASTCALL_LISTEN: control and listen are the same address; give /prestop its "
       "own (with a token, /prestop is also served on listen) (got "
       "\"unix:///var/run/lastcall/control.sock\")"},
      {{{"LASTCALL_CONTROL", "10.0.0.5:9902"}},
       "environment LASTCALL_CONTROL: a TCP control address beyond loopback needs token_file "
       "(--token-file): /prestop takes the pod out of service, so it must not be reachable from "
       "outside the pod without a token; use 127.0.0.1, or a unix socket (got "
       "\"10.0.0.5:9902\")"},
  };
  for (const auto& one_case : cases) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& env = one_case.first;
    const auto& want = one_case.second;
    CAPTURE(want);
    CHECK(ErrorOf(Env(env)) == want);
  }

  // An unknown name nothing resembles: list what exists.
  std::string error = ErrorOf(Env({{"LASTCALL_BANANA", "1"}}));
  CHECK(error.rfind("environment LASTCALL_BANANA: unknown variable (known: LASTCALL_LISTEN, "
                    "LASTCALL_CONTROL, ",
                    0) == 0);
  CHECK(Contains(error, "LASTCALL_DRAIN_TIMEOUT, "));
  CHECK(Contains(
      error, "LASTCALL_CONFIG, LASTCALL_PRESTOP_TIMEOUT, LASTCALL_QUIET, LASTCALL_EXAMPLE_APP)"));
  CHECK(ErrorOf(Env({{"LASTCALL_EXAMPLE_APP", "/opt/app"}})).empty());
}

TEST_CASE("flags: values, repeats and errors") {
  LoadedConfig loaded = LoadConfig(Flags({
      {"lb-delay", "1s"},
      {"lb-delay", "2s"},  // the last one wins, as with any CLI
      {"monitor-port", "1"},
      {"monitor-port", "2,3"},
      {"drain-header", "X-A: 1"},
      {"drain-header", "X-B:2"},
      {"count-close-wait", "true"},
      {"monitor", "connections"},
  }));
  const Config& c = loaded.config;
  CHECK(c.shutdown.lb_delay == LbDelay::Fixed{seconds{2}});
  CHECK(c.shutdown.drain.monitor.ports == std::vector<int>{1, 2, 3});
  using Header = std::pair<std::string, std::string>;
  CHECK(c.shutdown.drain.trigger.headers == std::vector<Header>{{"X-A", "1"}, {"X-B", "2"}});
  CHECK(c.shutdown.drain.monitor.count_close_wait);
  CHECK(c.max_body_bytes == size_t{4} << 20);  // the default
  CHECK(LoadConfig(Flags({{"max-body", "64KiB"}})).config.max_body_bytes == 64 * 1024);
  CHECK(loaded.sources.at("shutdown.drain.monitor.ports") == ValueSource::kFlag);
  CHECK(loaded.origins.at("shutdown.drain.monitor.ports") == "--monitor-port");

  const std::vector<std::pair<std::vector<FlagValue>, std::string>> cases = {
      {{{"lb-delay", "five"}},
       "flag --lb-delay: expected a number before \"five\" (durations look like 5s, 250ms or "
       "1m30s) (got \"five\")"},
      {{{"lb-delay", "oops"}, {"lb-delay", "5s"}},
       "flag --lb-delay: expected a number before \"oops\" (durations look like 5s, 250ms or "
       "1m30s) (got \"oops\")"},
      {{{"drain-timeout", "0"}}, "flag --drain-timeout: must be greater than 0 (got \"0\")"},
      {{{"monitor-port", "8080"}, {"monitor-port", "65536"}},
       "flag --monitor-port: a port is a number from 1 to 65535 (got \"65536\")"},
      {{{"drained-status", "200,1000"}},
       "flag --drained-status: an HTTP status is a number from 100 to 599 (got \"1000\")"},
      {{{"monitor", "tcp"}},
       "flag --monitor: unknown monitor kind (valid: status, json, prometheus, connections, "
       "none) (got \"tcp\")"},
      {{{"skip-lb-delay-when-app-gone", "nope"}},
       "flag --skip-lb-delay-when-app-gone: expected true or false (got \"nope\")"},
      {{{"drain-header", "NoColon"}},
       "flag --drain-header: expected a header as \"Name: value\" (got \"NoColon\")"},
      {{{"control", "0.0.0.0:9902"}},
       "flag --control: a TCP control address beyond loopback needs token_file (--token-file): "
       "/prestop takes the pod out of service, so it must not be reachable from outside the pod "
       "without a token; use 127.0.0.1, or a unix socket (got \"0.0.0.0:9902\")"},
      {{{"monitor", "json"}, {"drain-url", ""}},
       "flag --drain-url: the json monitor polls a URL, but shutdown.drain.monitor.url and "
       "shutdown.drain.trigger.url are both empty: set shutdown.drain.monitor.url "
       "(--monitor-url), or use monitor kind connections or none"},
      {{{"no-such-flag", "1"}}, "flag --no-such-flag: unknown flag"},
      // Names are not resolved: the error names the flag and the URL at config time.
      {{{"monitor-url", "http://app.default.svc:8080/drain"}},
       "flag --monitor-url: invalid URL \"http://app.default.svc:8080/drain\": host "
       "\"app.default.svc\" must be an IP address or localhost (lastcall does not resolve names: "
       "the app runs in the same pod, use 127.0.0.1) (got \"http://app.default.svc:8080/drain\")"},
      {{{"readiness-upstream", "http://app:8080/healthz"}},
       "flag --readiness-upstream: invalid URL \"http://app:8080/healthz\": host \"app\" must be "
       "an IP address or localhost (lastcall does not resolve names: the app runs in the same "
       "pod, use 127.0.0.1) (got \"http://app:8080/healthz\")"},
      {{{"max-body", "4MB"}},
       "flag --max-body: unknown unit \"MB\" (units: B, KiB, MiB, GiB) (got \"4MB\")"},
      {{{"max-body", "100"}}, "flag --max-body: must be between 1KiB and 1GiB (got \"100\")"},
  };
  for (const auto& one_case : cases) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& flags = one_case.first;
    const auto& want = one_case.second;
    CAPTURE(want);
    CHECK(ErrorOf(Flags(flags)) == want);
  }
}

TEST_CASE("precedence: flags over environment over file over defaults") {
  ConfigSources sources = Yaml(
      "shutdown:\n  lb_delay: 1s\n  exit_delay: 1s\n  grace_period: 1m\n  drain:\n"
      "    monitor:\n      ports: [1, 2]\n");
  sources.env = {
      {"LASTCALL_LB_DELAY", "2s"}, {"LASTCALL_EXIT_DELAY", "2s"}, {"LASTCALL_MONITOR_PORT", "3"}};
  sources.flags = {{"lb-delay", "3s"}, {"monitor-port", "4"}};
  LoadedConfig loaded = LoadConfig(sources);
  const Config& c = loaded.config;
  CHECK(c.shutdown.lb_delay == LbDelay::Fixed{seconds{3}});
  CHECK(c.shutdown.exit_delay == seconds{2});
  CHECK(c.shutdown.grace_period == seconds{60});
  CHECK(c.shutdown.drain.timeout == seconds{20});
  CHECK(c.shutdown.drain.monitor.ports == std::vector<int>{4});  // replaced, not merged
  CHECK(loaded.sources.at("shutdown.lb_delay") == ValueSource::kFlag);
  CHECK(loaded.sources.at("shutdown.exit_delay") == ValueSource::kEnv);
  CHECK(loaded.sources.at("shutdown.grace_period") == ValueSource::kFile);
  CHECK(loaded.sources.at("shutdown.drain.timeout") == ValueSource::kDefault);
  CHECK(loaded.sources.at("shutdown.drain.monitor.ports") == ValueSource::kFlag);
  CHECK(loaded.origins.at("shutdown.lb_delay") == "--lb-delay");
  CHECK(loaded.origins.at("shutdown.exit_delay") == "LASTCALL_EXIT_DELAY");
  CHECK(loaded.origins.at("shutdown.grace_period") == "lastcall.yaml:4:3");
  CHECK(loaded.origins.count("shutdown.drain.timeout") == 0);
}

TEST_CASE("a bad value in a lower-precedence source is still an error") {
  // A typo in the file must not hide behind a flag that happens to override it today.
  ConfigSources sources = Yaml("shutdown:\n  lb_delay: 5\n");
  sources.flags = {{"lb-delay", "3s"}};
  CHECK(Contains(ErrorOf(sources), "lastcall.yaml:2:13: shutdown.lb_delay: missing unit"));
}

TEST_CASE("lb_delay: auto, its bounds, and what the budget counts") {
  LoadedConfig loaded = LoadConfig(
      Yaml("shutdown:\n  lb_delay: auto\n  lb_auto: {min: 2s, max: 12s, quiet: 750ms}\n"));
  const ShutdownConfig& s = loaded.config.shutdown;
  CHECK(s.lb_delay == LbDelay::Auto{seconds{2}, seconds{12}, Millis{750}});
  CHECK(s.lb_delay.is_auto());
  // Every bound of the sequence reads bound(): auto's max.
  CHECK(s.lb_delay.bound() == seconds{12});
  CHECK(s.Budget() == seconds{12} + s.drain.timeout + s.exit_delay);
  CHECK(FormatConfigValue(loaded.config, "shutdown.lb_delay") == "auto");
  CHECK(loaded.warnings.empty());

  // Defaults: 1s, 30s, 1s; "AUTO" in any case; the environment twins.
  LoadedConfig env =
      LoadConfig(Env({{"LASTCALL_LB_DELAY", "AUTO"}, {"LASTCALL_LB_AUTO_QUIET", "2s"}}));
  CHECK(env.config.shutdown.lb_delay == LbDelay::Auto{seconds{1}, seconds{30}, seconds{2}});
  CHECK(env.config.shutdown.lb_delay.bound() == seconds{30});  // auto's max bounds the wait

  // A flag with a duration wins over auto in the file.
  ConfigSources fixed = Yaml("shutdown:\n  lb_delay: auto\n");
  fixed.flags = {{"lb-delay", "3s"}};
  LoadedConfig overridden = LoadConfig(fixed);
  CHECK(overridden.config.shutdown.lb_delay == LbDelay::Fixed{seconds{3}});

  CHECK(ErrorOf(Flags({{"lb-delay", "auto"}, {"lb-auto-min", "40s"}})) ==
        "flag --lb-auto-min: shutdown.lb_auto.min 40s is longer than shutdown.lb_auto.max 30s");
  CHECK(Contains(ErrorOf(Flags({{"lb-auto-quiet", "0s"}})), "must be greater than 0"));
  CHECK(ErrorOf(Flags({{"monitor-count", "requests"}})) != "");
  CHECK(LoadConfig(Flags({{"monitor-count", "in_flight"}})).config.shutdown.drain.monitor.count ==
        ConnectionCount::kInFlight);
  CHECK(LoadConfig(Flags({{"monitor-port", "8443"}, {"multiplexed-port", "8443"}}))
            .config.shutdown.drain.monitor.multiplexed_ports == std::vector<int>{8443});
  CHECK(Contains(ErrorOf(Flags({{"multiplexed-port", "8443"}})), "port 8443 is not in"));
}

TEST_CASE("lb_delay: auto and its lb_auto bounds in any order, from any source") {
  const LbDelay::Auto want{seconds{2}, seconds{12}, Millis{750}};
  // The bounds before `auto` in the file, after it, and apart from it in any order.
  for (const char* yaml :
       {"shutdown:\n  lb_auto: {min: 2s, max: 12s, quiet: 750ms}\n  lb_delay: auto\n",
        "shutdown:\n  lb_delay: auto\n  lb_auto: {min: 2s, max: 12s, quiet: 750ms}\n",
        "shutdown:\n  lb_auto:\n    quiet: 750ms\n    max: 12s\n    min: 2s\n  drain: {timeout: "
        "20s}\n  lb_delay: AUTO\n"}) {
    CAPTURE(yaml);
    CHECK(LoadConfig(Yaml(yaml)).config.shutdown.lb_delay == want);
  }

  // The bounds in the environment, `auto` from a flag; and the other way round.
  ConfigSources env_bounds = Env({{"LASTCALL_LB_AUTO_MIN", "2s"},
                                  {"LASTCALL_LB_AUTO_MAX", "12s"},
                                  {"LASTCALL_LB_AUTO_QUIET", "750ms"}});
  env_bounds.flags = {{"lb-delay", "auto"}};
  CHECK(LoadConfig(env_bounds).config.shutdown.lb_delay == want);
  ConfigSources flag_bounds = Env({{"LASTCALL_LB_DELAY", "auto"}});
  flag_bounds.flags = {{"lb-auto-quiet", "750ms"}, {"lb-auto-max", "12s"}, {"lb-auto-min", "2s"}};
  CHECK(LoadConfig(flag_bounds).config.shutdown.lb_delay == want);

  // A file's fixed lb_delay with bounds, then `auto` from a flag: the file's bounds count.
  ConfigSources file_bounds =
      Yaml("shutdown:\n  lb_delay: 3s\n  lb_auto: {min: 2s, max: 12s, quiet: 750ms}\n");
  file_bounds.flags = {{"lb-delay", "auto"}};
  CHECK(LoadConfig(file_bounds).config.shutdown.lb_delay == want);
  // ... and min > max across sources is found once auto is known, blamed on where min was set.
  ConfigSources crossed = Yaml("shutdown:\n  lb_auto: {min: 40s}\n");
  crossed.flags = {{"lb-delay", "auto"}};
  CHECK(ErrorOf(crossed) ==
        "lastcall.yaml:2:13: shutdown.lb_auto.min: shutdown.lb_auto.min 40s is longer than "
        "shutdown.lb_auto.max 30s");

  // Auto in the file, a fixed flag: the file's bounds are unused, kept for `check` only. Beside a
  // fixed lb_delay they are accepted as they are, min > max included, without a warning.
  ConfigSources overridden =
      Yaml("shutdown:\n  lb_delay: auto\n  lb_auto: {min: 40s, max: 12s, quiet: 750ms}\n");
  overridden.flags = {{"lb-delay", "3s"}};
  const LoadedConfig loaded = LoadConfig(overridden);
  CHECK(loaded.config.shutdown.lb_delay == LbDelay::Fixed{seconds{3}});
  CHECK(loaded.config.shutdown.lb_delay.auto_settings() == nullptr);
  CHECK(loaded.config.shutdown.Budget() == seconds{3} + seconds{20});
  CHECK(loaded.warnings.empty());
  CHECK(loaded.lb_auto_given == LbDelay::Auto{seconds{40}, seconds{12}, Millis{750}});
  CHECK(FormatLoadedValue(loaded, "shutdown.lb_delay") == "3s");
  CHECK(FormatLoadedValue(loaded, "shutdown.lb_auto.min") == "40s");
  CHECK(FormatLoadedValue(loaded, "shutdown.lb_auto.max") == "12s");
  CHECK(FormatLoadedValue(loaded, "shutdown.lb_auto.quiet") == "750ms");
  // A fixed Config alone has no bounds: its lb_auto keys show the defaults.
  CHECK(FormatConfigValue(loaded.config, "shutdown.lb_auto.min") == "1s");
  CHECK(FormatConfigValue(loaded.config, "shutdown.lb_auto.max") == "30s");
}

TEST_CASE("monitor.long_poll: a duration, off by default, for the status monitor only") {
  CHECK(LoadConfig(Flags({})).config.shutdown.drain.monitor.long_poll == Millis{0});
  LoadedConfig loaded =
      LoadConfig(Yaml("shutdown:\n  drain:\n    monitor:\n      long_poll: 5s\n"));
  CHECK(loaded.config.shutdown.drain.monitor.long_poll == seconds{5});
  CHECK(FormatConfigValue(loaded.config, "shutdown.drain.monitor.long_poll") == "5s");
  CHECK(
      LoadConfig(Env({{"LASTCALL_LONG_POLL", "750ms"}})).config.shutdown.drain.monitor.long_poll ==
      Millis{750});
  CHECK(ErrorOf(Yaml("shutdown:\n  drain:\n    monitor:\n      long_poll: 5\n")) ==
        "lastcall.yaml:4:18: shutdown.drain.monitor.long_poll: missing unit after \"5\" (units: h, "
        "m, s, ms) (got \"5\")");
  CHECK(Contains(ErrorOf(Flags({{"long-poll", "soon"}})), "flag --long-poll: "));
  CHECK(
      ErrorOf(Yaml("shutdown:\n  drain:\n    monitor:\n      kind: json\n      long_poll: 5s\n")) ==
      "lastcall.yaml:5:7: shutdown.drain.monitor.long_poll: works with the status monitor only "
      "(the app holds GET ?wait=... until it is drained), not with monitor kind json: remove it "
      "or use kind status");
  CHECK(Contains(ErrorOf(Flags({{"monitor", "connections"}, {"long-poll", "1s"}})),
                 "flag --long-poll: works with the status monitor only"));
}

TEST_CASE("warnings flag valid but doubtful settings") {
  LoadedConfig loaded = LoadConfig(Flags({{"lb-delay", "0s"}, {"poll-interval", "30s"}}));
  REQUIRE(loaded.warnings.size() == 2);
  CHECK(loaded.warnings[0] ==
        "shutdown.drain.monitor.interval 30s is not shorter than shutdown.drain.timeout 20s: the "
        "app is polled once");
  CHECK(Contains(loaded.warnings[1], "shutdown.lb_delay is 0s"));
}

TEST_CASE("ConfigKeys: every key has a flag, an environment twin and help") {
  std::set<std::string> keys, flags, envs;
  for (const ConfigKey& key : ConfigKeys()) {
    CAPTURE(key.key);
    CHECK(keys.insert(key.key).second);
    CHECK(flags.insert(key.flag).second);
    CHECK(envs.insert(key.env).second);
    std::string want_env = "LASTCALL_";
    for (char c : key.flag) want_env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
    CHECK(key.env == want_env);
    CHECK_FALSE(key.help.empty());
    CHECK_FALSE(key.value_name.empty());
    CHECK_FALSE(key.default_text.empty());
    CHECK_FALSE(FormatConfigValue(Config{}, key.key).empty());
  }
  // The keys the product brief names.
  for (const char* key : {"listen",
                          "control",
                          "token_file",
                          "readiness.upstream",
                          "shutdown.signals",
                          "shutdown.lb_delay",
                          "shutdown.drain.trigger.url",
                          "shutdown.drain.trigger.method",
                          "shutdown.drain.trigger.headers",
                          "shutdown.drain.monitor.kind",
                          "shutdown.drain.monitor.url",
                          "shutdown.drain.monitor.field",
                          "shutdown.drain.monitor.metric",
                          "shutdown.drain.monitor.ports",
                          "shutdown.drain.monitor.drained_at",
                          "shutdown.drain.monitor.interval",
                          "shutdown.drain.monitor.settle",
                          "shutdown.drain.timeout",
                          "shutdown.exit_delay",
                          "shutdown.grace_period",
                          "log.format",
                          "log.level",
                          "shutdown.drain.trigger.timeout",
                          "shutdown.drain.monitor.drained_status",
                          "shutdown.drain.monitor.timeout",
                          "shutdown.drain.monitor.refused_means",
                          "shutdown.drain.monitor.count_close_wait",
                          "shutdown.skip_lb_delay_when_app_gone",
                          "shutdown.recover_after",
                          "readiness.interval",
                          "readiness.timeout",
                          "state_file",
                          "max_body"}) {
    CAPTURE(key);
    CHECK(keys.count(key) == 1);
  }
  for (const char* flag : {"listen",          "control",
                           "token-file",      "readiness-upstream",
                           "signals",         "lb-delay",
                           "drain-url",       "drain-method",
                           "drain-header",    "monitor",
                           "monitor-url",     "monitor-field",
                           "monitor-metric",  "monitor-port",
                           "drained-at",      "poll-interval",
                           "settle",          "drain-timeout",
                           "exit-delay",      "grace-period",
                           "log-format",      "log-level",
                           "trigger-timeout", "drained-status",
                           "monitor-timeout", "refused-means",
                           "recover-after",   "readiness-interval",
                           "state-file",      "skip-lb-delay-when-app-gone",
                           "max-body"}) {
    CAPTURE(flag);
    CHECK(flags.count(flag) == 1);
  }
}

// Builds a YAML file from FormatConfigValue's output, nested by the dotted keys.
std::string ToYaml(const Config& config) {
  std::string yaml;
  std::vector<std::string> open;  // sections of the previous key
  for (const ConfigKey& key : ConfigKeys()) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot = key.key.find('.'); dot != std::string::npos; dot = key.key.find('.', start)) {
      parts.push_back(key.key.substr(start, dot - start));
      start = dot + 1;
    }
    size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common]) {
      ++common;
    }
    for (size_t i = common; i < parts.size(); ++i) {
      yaml += std::string(2 * i, ' ') + parts[i] + ":\n";
    }
    open = parts;
    yaml += std::string(2 * parts.size(), ' ') + key.key.substr(start) + ": " +
            FormatConfigValue(config, key.key) + "\n";
  }
  return yaml;
}

TEST_CASE("FormatConfigValue round-trips through LoadConfig") {
  ConfigSources sources = Yaml(R"(
listen: "[::1]:9911"
control: unix:///tmp/lastcall-quoted.sock
token_file: /tmp/with\backslash
max_body: 1536KiB
readiness: {upstream: "http://127.0.0.1:8080/healthz?full=1", interval: 1.5s}
shutdown:
  signals: [HUP, QUIT]
  lb_delay: 1m30.25s
  drain:
    trigger:
      url: ""
      headers: {X-One: "a \"b\" c", X-Two: "tab	inside"}
    monitor: {kind: connections, ports: [1, 65535], drained_at: 0.125, settle: 1ms}
  recover_after: 0s
log: {level: warn}
)");
  Config first = LoadConfig(sources).config;
  std::string yaml = ToYaml(first);
  CAPTURE(yaml);
  Config second = LoadConfig(Yaml(yaml)).config;
  for (const ConfigKey& key : ConfigKeys()) {
    CAPTURE(key.key);
    CHECK(FormatConfigValue(second, key.key) == FormatConfigValue(first, key.key));
  }
  CHECK(second.control.text == "unix:///tmp/lastcall-quoted.sock");
  CHECK(second.control.value.socket_path == "/tmp/lastcall-quoted.sock");
  CHECK(second.shutdown.drain.trigger.headers[0].second == "a \"b\" c");
  // The defaults round-trip too.
  Config defaults = LoadConfig(Yaml(ToYaml(Config{}))).config;
  for (const ConfigKey& key : ConfigKeys()) {
    CHECK(FormatConfigValue(defaults, key.key) == FormatConfigValue(Config{}, key.key));
  }
}

TEST_CASE("FormatConfigValue redacts credential headers on request") {
  Config config;
  config.shutdown.drain.trigger.headers = {
      {"Authorization", "Bearer s3cret"}, {"X-Api-Key", "k"}, {"X-Drain", "1"}};
  CHECK(FormatConfigValue(config, "shutdown.drain.trigger.headers", true) ==
        "{\"Authorization\": \"<redacted>\", \"X-Api-Key\": \"<redacted>\", \"X-Drain\": \"1\"}");
  CHECK(FormatConfigValue(config, "shutdown.drain.trigger.headers") ==
        "{\"Authorization\": \"Bearer s3cret\", \"X-Api-Key\": \"k\", \"X-Drain\": \"1\"}");
}

TEST_CASE("ParseSignalName") {
  const std::vector<std::pair<std::string, int>> good = {
      {"SIGTERM", SIGTERM}, {"TERM", SIGTERM},  {"sigterm", SIGTERM}, {"term", SIGTERM},
      {"SigInt", SIGINT},   {"QUIT", SIGQUIT},  {"hup", SIGHUP},      {"USR1", SIGUSR1},
      {"sigusr2", SIGUSR2}, {" TERM ", SIGTERM}};
  for (const auto& one_case : good) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& in = one_case.first;
    const auto& want = one_case.second;
    CAPTURE(in);
    std::string error;
    CHECK(ParseSignalName(in, &error) == want);
    CHECK(error.empty());
  }
  // The same table names them back: what `check` prints and logs show.
  CHECK(SignalName(SIGTERM) == "SIGTERM");
  CHECK(SignalName(SIGUSR2) == "SIGUSR2");
  CHECK(SignalName(SIGKILL) == "signal " + std::to_string(SIGKILL));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"SIGKILL", "SIGKILL cannot be caught, so it cannot start a graceful shutdown"},
      {"kill", "SIGKILL cannot be caught, so it cannot start a graceful shutdown"},
      {"STOP", "SIGSTOP cannot be caught, so it cannot start a graceful shutdown"},
      {"9",
       "use a signal name, not a number (valid: SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, "
       "SIGUSR2)"},
      {"",
       "not a signal lastcall handles (valid: SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, "
       "SIGUSR2)"},
      {"SIG",
       "not a signal lastcall handles (valid: SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, "
       "SIGUSR2)"},
      {"SIGPIPE",
       "not a signal lastcall handles (valid: SIGTERM, SIGINT, SIGQUIT, SIGHUP, "
       "SIGUSR1, SIGUSR2)"},
  };
  for (const auto& one_case : bad) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& in = one_case.first;
    const auto& want = one_case.second;
    CAPTURE(in);
    std::string error;
    CHECK_FALSE(ParseSignalName(in, &error).has_value());
    CHECK(error == want);
  }
}

// A file in a fresh temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/lastcall-cfg-XXXXXX";
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : "";
    REQUIRE_FALSE(path_.empty());
  }
  ~TempDir() {
    for (const std::string& file : files_) ::unlink(file.c_str());
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string Write(const std::string& name, const std::string& contents, mode_t mode = 0600) {
    std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << contents;
    ::chmod(file.c_str(), mode);
    files_.push_back(file);
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

std::string TokenError(const std::string& path) {
  try {
    ReadTokenFile(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("ReadTokenFile") {
  TempDir dir;
  std::vector<std::string> warnings;
  CHECK(ReadTokenFile(dir.Write("plain", "s3cret"), &warnings) == "s3cret");
  CHECK(ReadTokenFile(dir.Write("newline", "s3cret\n"), &warnings) == "s3cret");
  CHECK(ReadTokenFile(dir.Write("crlf", "s3cret\r\n\n"), &warnings) == "s3cret");
  CHECK(ReadTokenFile(dir.Write("max", std::string(kMaxTokenBytes, 'a') + "\n"), &warnings) ==
        std::string(kMaxTokenBytes, 'a'));
  CHECK(warnings.empty());

  std::string missing = dir.path() + "/missing";
  CHECK(TokenError(missing) ==
        "token_file " + missing + ": cannot read: No such file or directory");
  CHECK(TokenError(dir.path()) == "token_file " + dir.path() + ": is a directory");
  std::string empty = dir.Write("empty", "");
  CHECK(TokenError(empty) == "token_file " + empty + ": is empty");
  std::string blank = dir.Write("blank", "\n \n");
  CHECK(TokenError(blank) == "token_file " + blank + ": is empty");
  std::string large = dir.Write("large", std::string(kMaxTokenBytes + 1, 'a'));
  CHECK(TokenError(large) == "token_file " + large + ": longer than 4 KiB; is it the right file?");
  std::string huge = dir.Write("huge", std::string(100'000, 'a'));
  CHECK(TokenError(huge) == "token_file " + huge + ": longer than 4 KiB; is it the right file?");
  std::string two_lines = dir.Write("two-lines", "abc\ndef\n");
  CHECK(TokenError(two_lines) == "token_file " + two_lines +
                                     ": contains control characters (a token is one line of "
                                     "text)");

  std::string shared = dir.Write("shared", "s3cret\n", 0644);
  CHECK(ReadTokenFile(shared, &warnings) == "s3cret");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "token_file " + shared +
                           ": readable by every user of the container; mount the secret with "
                           "defaultMode: 0400");
  CHECK(ReadTokenFile(shared) == "s3cret");  // warnings are optional
}

TEST_CASE("ReadConfigFile") {
  TempDir dir;
  std::string file = dir.Write("lastcall.yaml", "shutdown:\n  lb_delay: 5s\n");
  CHECK(ReadConfigFile(file) == "shutdown:\n  lb_delay: 5s\n");
  CHECK(ReadConfigFile(dir.Write("empty.yaml", "")) == "");
  std::string missing = dir.path() + "/nope.yaml";
  try {
    ReadConfigFile(missing);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) ==
          "config file " + missing + ": cannot read: No such file or directory");
  }
  CHECK_THROWS_WITH_AS(ReadConfigFile(dir.path()),
                       ("config file " + dir.path() + ": is a directory").c_str(), ConfigError);
}

TEST_CASE("mangled files and values give a ConfigError, never a crash or another exception") {
  const std::string base = R"(listen: 127.0.0.1:9911
shutdown:
  signals: [TERM, INT]
  lb_delay: 1m30s
  drain:
    trigger: {url: "http://127.0.0.1:8080/drain", headers: {X-A: "1"}}
    monitor:
      kind: json
      ports: [8080, 9090]
      drained_at: 2.5
log: {level: info}
)";
  const std::string alphabet = "{}[]:,-&*!|>'\"%@`#? \n\t0123456789.smhabcxyz~/";
  uint32_t state = 12345;  // a fixed-seed LCG: the same inputs on every run
  auto next = [&state](uint32_t bound) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % bound;
  };
  int accepted = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string text = base;
    for (uint32_t edits = 1 + next(4); edits > 0; --edits) {
      size_t at = next(static_cast<uint32_t>(text.size()));
      char c = alphabet[next(static_cast<uint32_t>(alphabet.size()))];
      switch (next(3)) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(at, 1, c);
          break;
        default:
          text.erase(at, 1 + next(8));
      }
    }
    ConfigSources sources = Yaml(text);
    if (next(4) == 0) sources.env = {{"LASTCALL_LB_DELAY", text.substr(0, next(12))}};
    try {
      LoadConfig(sources);
      ++accepted;
    } catch (const ConfigError& e) {
      CHECK_FALSE(std::string(e.what()).empty());
    } catch (const std::exception& e) {
      FAIL("unexpected exception: " << e.what() << " for:\n" << text);
    }
  }
  MESSAGE(accepted << " of 2000 mangled inputs were still valid");
  CHECK(accepted > 0);     // some mutations keep the file valid ...
  CHECK(accepted < 2000);  // ... and the others reached validation
}

}  // namespace
}  // namespace lastcall

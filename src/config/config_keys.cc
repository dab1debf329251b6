#include "config/config_keys.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "base/byte_size.h"
#include "base/duration.h"
#include "base/json_field.h"
#include "base/net_util.h"
#include "base/prometheus_text.h"
#include "base/signals.h"
#include "base/text.h"
#include "base/url.h"

namespace lastcall {
namespace {

// ---- value parsers: each returns "" or the problem -----------------------------------------

enum class Zero { kAllowed, kForbidden };

std::string SetDuration(Millis* out, std::string_view text, Zero zero) {
  std::string error;
  std::optional<Millis> duration = ParseDuration(text, &error);
  if (!duration) return error;
  if (zero == Zero::kForbidden && duration->count() == 0) return "must be greater than 0";
  *out = *duration;
  return "";
}

std::string SetByteSize(size_t* out, std::string_view text) {
  std::string error;
  std::optional<size_t> size = ParseByteSize(text, &error);
  if (!size) return error;
  *out = *size;
  return "";
}

// "" unsets the URL: each key says what that means (no trigger, the trigger URL, no gating).
std::string SetUrl(std::optional<Parsed<Url>>* out, std::string_view text) {
  if (text.empty()) {
    out->reset();
    return "";
  }
  std::string error;
  std::optional<Url> url = ParseUrl(text, &error);
  if (!url) return error;
  *out = Parsed<Url>{std::move(*url), std::string(text)};
  return "";
}

// The mesh proxy runs in the pod: a quit request to any other host would stop someone else's.
std::string SetProxyQuitUrl(std::optional<Parsed<Url>>* out, std::string_view text) {
  std::optional<Parsed<Url>> url;
  if (std::string problem = SetUrl(&url, text); !problem.empty()) return problem;
  if (url) {
    ListenAddress where;
    where.is_unix = url->value.scheme == Url::Scheme::kUnix;
    where.host = url->value.host;
    if (!where.IsLoopback()) {
      return "must be on loopback (127.0.0.1, [::1], localhost) or a unix socket: the mesh proxy "
             "runs in the pod, such as http://127.0.0.1:15020/quitquitquit (Istio) or "
             "http://127.0.0.1:4191/shutdown (Linkerd)";
    }
  }
  *out = std::move(url);
  return "";
}

// The text a URL key was written as; "" when unset.
std::string UrlText(const std::optional<Parsed<Url>>& url) { return url ? url->text : ""; }

std::string SetAddress(Parsed<ListenAddress>* out, std::string_view text) {
  if (text.empty()) return "must not be empty";
  std::string error;
  std::optional<ListenAddress> address = ParseListenAddress(text, &error);
  if (!address) {
    bool digits_only =
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits_only) error += " (did you mean \":" + std::string(text) + "\"?)";
    return error;
  }
  *out = Parsed<ListenAddress>{std::move(*address), std::string(text)};
  return "";
}

std::string SetBool(bool* out, std::string_view text) {
  std::string lower = ToLowerAscii(text);
  if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") {
    *out = true;
  } else if (lower == "false" || lower == "no" || lower == "off" || lower == "0") {
    *out = false;
  } else {
    return "expected true or false";
  }
  return "";
}

std::optional<int> ParseInt(std::string_view text, int min, int max, const char* range_problem,
                            std::string* error) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || end != text.data() + text.size() || ec == std::errc::invalid_argument) {
    *error = std::string("expected a whole number: ") + range_problem;
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    *error = range_problem;
    return std::nullopt;
  }
  return value;
}

std::optional<int> ParsePort(std::string_view text, std::string* error) {
  return ParseInt(text, 1, 65535, "a port is a number from 1 to 65535", error);
}

std::optional<int> ParseStatusCode(std::string_view text, std::string* error) {
  return ParseInt(text, 100, 599, "an HTTP status is a number from 100 to 599", error);
}

// Applies parse_one to every item; on the first failure returns the problem and sets *bad.
template <typename T, typename Parse>
std::string SetList(std::vector<T>* out, const std::vector<std::string>& items, size_t* bad,
                    Parse parse_one) {
  std::vector<T> values;
  for (size_t i = 0; i < items.size(); ++i) {
    std::string error;
    std::optional<T> value = parse_one(items[i], &error);
    if (!value) {
      *bad = i;
      return error;
    }
    // Repeats carry no meaning in any list here; dropping them keeps `check` output tidy.
    if (std::find(values.begin(), values.end(), *value) == values.end()) values.push_back(*value);
  }
  *out = std::move(values);
  return "";
}

std::string SetMethod(std::string* out, std::string_view text) {
  if (!IsToken(text)) return "not an HTTP method (letters only, such as POST)";
  std::string upper = ToUpperAscii(text);
  if (upper != text) return "HTTP methods are case-sensitive: write " + upper;
  *out = std::string(text);
  return "";
}

std::string CheckHeader(std::string_view name, std::string_view value) {
  if (!IsToken(name)) return "not a valid header name";
  std::string lower = ToLowerAscii(name);
  if (lower == "host" || lower == "content-length" || lower == "transfer-encoding" ||
      lower == "connection") {
    return "header " + std::string(name) + " is set by lastcall's HTTP client";
  }
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
      return "header values must not contain control characters";
    }
  }
  return "";
}

std::string SetHeaders(Headers* out, const Headers& headers, size_t* bad) {
  for (size_t i = 0; i < headers.size(); ++i) {
    std::string problem = CheckHeader(headers[i].first, headers[i].second);
    if (!problem.empty()) {
      *bad = i;
      return problem;
    }
  }
  *out = headers;
  return "";
}

// "Name: value" (flag and environment form of a header).

std::string SetJsonPointer(std::string* out, std::string_view text) {
  if (text.empty() || text.front() != '/') {
    return "must be a JSON pointer starting with /, such as /inflight";
  }
  // The same parser the json monitor runs, so what passes here works there.
  std::string error;
  if (!ParseJsonPointer(text, &error)) return "not a valid JSON pointer: " + error;
  *out = std::string(text);
  return "";
}

// The full selector parse the prometheus monitor uses: a bad regex fails at start-up, not
// during a drain.
std::string SetMetric(std::string* out, std::string_view text) {
  if (!text.empty()) {
    std::string error;
    if (!ParseMetricSelector(text, &error)) return "not a metric selector: " + error;
  }
  *out = std::string(text);
  return "";
}

std::string SetDrainedAt(double* out, std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value)) {
    return "expected a number, such as 0 or 2.5";
  }
  if (value < 0) return "must be 0 or more";
  *out = value;
  return "";
}

template <typename Enum>
std::string SetEnum(Enum* out, std::string_view text,
                    const std::vector<std::pair<std::string_view, Enum>>& names,
                    std::string_view what) {
  std::vector<std::string> valid;
  for (const auto& [name, value] : names) {
    if (text == name) {
      *out = value;
      return "";
    }
    valid.emplace_back(name);
  }
  return "unknown " + std::string(what) + " (valid: " + Join(valid, ", ") + ")";
}

const std::vector<std::pair<std::string_view, MonitorKind>> kMonitorKinds = {
    {"status", MonitorKind::kStatus},
    {"json", MonitorKind::kJson},
    {"prometheus", MonitorKind::kPrometheus},
    {"connections", MonitorKind::kConnections},
    {"none", MonitorKind::kNone}};
const std::vector<std::pair<std::string_view, ConnectionCount>> kConnectionCounts = {
    {"connections", ConnectionCount::kConnections}, {"in_flight", ConnectionCount::kInFlight}};
const std::vector<std::pair<std::string_view, RefusedMeans>> kRefusedMeans = {
    {"drained", RefusedMeans::kDrained}, {"error", RefusedMeans::kError}};
const std::vector<std::pair<std::string_view, LogFormat>> kLogFormats = {
    {"text", LogFormat::kText}, {"json", LogFormat::kJson}};
const std::vector<std::pair<std::string_view, LogLevel>> kLogLevels = {
    {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
    {"warn", LogLevel::kWarn},   {"error", LogLevel::kError},
};

template <typename Enum>
std::string EnumName(Enum value, const std::vector<std::pair<std::string_view, Enum>>& names) {
  for (const auto& [name, candidate] : names) {
    if (candidate == value) return std::string(name);
  }
  return "?";
}

// ---- formatting values back to YAML --------------------------------------------------------

// fmt's shortest round-trip form, which the binary carries anyway for logging: std::to_chars on a
// double links libstdc++'s Ryu tables for every floating type, 127 KB of each pod's resident
// memory (docs/architecture.md, "What the binary carries").
std::string FormatNumber(double value) { return fmt::format("{}", value); }

std::string FormatInts(const std::vector<int>& values) {
  std::vector<std::string> parts;
  for (int value : values) parts.push_back(std::to_string(value));
  return "[" + Join(parts, ", ") + "]";
}

bool LooksSecret(std::string_view header_name) {
  std::string lower = ToLowerAscii(header_name);
  if (lower == "authorization" || lower == "proxy-authorization" || lower == "cookie") return true;
  for (std::string_view word : {"token", "secret", "key", "password", "auth"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string FormatHeaders(const Headers& headers, bool redact) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : headers) {
    parts.push_back(Quote(name) + ": " +
                    (redact && LooksSecret(name) ? "\"<redacted>\"" : Quote(value)));
  }
  return "{" + Join(parts, ", ") + "}";
}

// ---- the key table --------------------------------------------------------------------------

ConfigKey Key(std::string key, std::string flag, std::string value_name, std::string default_text,
              std::string help) {
  ConfigKey info;
  info.env = "LASTCALL_" + ToUpperAscii(flag);
  std::replace(info.env.begin(), info.env.end(), '-', '_');
  info.key = std::move(key);
  info.flag = std::move(flag);
  info.value_name = std::move(value_name);
  info.default_text = std::move(default_text);
  info.help = std::move(help);
  return info;
}

KeySpec Scalar(ConfigKey info, std::string (*set)(Config&, std::string_view),
               std::string (*format)(const Config&)) {
  KeySpec spec;
  spec.info = std::move(info);
  spec.info.is_bool = spec.info.value_name == "BOOL";
  spec.set_scalar = set;
  spec.format = format;
  return spec;
}

// A key of shutdown.lb_delay: it sets the loader's LbDelayDraft, not the Config.
KeySpec LbDelayScalar(ConfigKey info, std::string (*set)(LbDelayDraft&, std::string_view),
                      std::string (*format)(const Config&)) {
  KeySpec spec;
  spec.info = std::move(info);
  spec.set_lb_delay = set;
  spec.format = format;
  return spec;
}

// lb_auto.* of a Config: auto's settings, or their defaults when lb_delay is fixed (a fixed delay
// has none; LoadedConfig keeps what the sources set).
LbDelay::Auto LbAutoOf(const Config& c) {
  const LbDelay::Auto* settings = c.shutdown.lb_delay.auto_settings();
  return settings != nullptr ? *settings : LbDelay::Auto{};
}

KeySpec List(ConfigKey info,
             std::string (*set)(Config&, const std::vector<std::string>&, size_t* bad),
             std::string (*format)(const Config&)) {
  KeySpec spec;
  spec.info = std::move(info);
  spec.info.repeatable = true;
  spec.shape = Shape::kList;
  spec.set_list = set;
  spec.format = format;
  return spec;
}

std::vector<KeySpec> BuildKeySpecs() {
  std::vector<KeySpec> specs;
  specs.push_back(Scalar(
      Key("listen", "listen", "ADDRESS", "\":9901\"",
          "address serving /readyz, /livez, /metrics and /status"),
      [](Config& c, std::string_view t) { return SetAddress(&c.listen, t); },
      [](const Config& c) { return Quote(c.listen.text); }));
  specs.push_back(Scalar(
      Key("control", "control", "ADDRESS", "\"unix:///var/run/lastcall/control.sock\"",
          "address of the /prestop endpoint: unix:///path.sock or 127.0.0.1:PORT"),
      [](Config& c, std::string_view t) { return SetAddress(&c.control, t); },
      [](const Config& c) { return Quote(c.control.text); }));
  specs.push_back(Scalar(
      Key("token_file", "token-file", "FILE", "none",
          "file with the bearer token /prestop requires (needed when control is TCP beyond "
          "loopback; also serves /prestop on listen)"),
      [](Config& c, std::string_view t) {
        c.token_file = std::string(t);
        return std::string();
      },
      [](const Config& c) { return Quote(c.token_file); }));
  specs.push_back(Scalar(
      Key("state_file", "state-file", "FILE",
          "lastcall-state/state.json beside a unix control socket",
          "where the sequence's result survives a restart of lastcall"),
      [](Config& c, std::string_view t) {
        c.state_file = std::string(t);
        return std::string();
      },
      [](const Config& c) { return Quote(c.state_file); }));
  specs.push_back(Scalar(
      Key("max_body", "max-body", "SIZE", "4MiB",
          "the largest answer body read from the app (monitors, trigger, readiness upstream); "
          "a longer one is an error"),
      [](Config& c, std::string_view t) { return SetByteSize(&c.max_body_bytes, t); },
      [](const Config& c) { return FormatByteSize(c.max_body_bytes); }));
  specs.push_back(Scalar(
      Key("readiness.upstream", "readiness-upstream", "URL", "none",
          "the app's health URL: /readyz is 200 only while the app is healthy too"),
      [](Config& c, std::string_view t) { return SetUrl(&c.readiness.upstream, t); },
      [](const Config& c) { return Quote(UrlText(c.readiness.upstream)); }));
  specs.push_back(Scalar(
      Key("readiness.interval", "readiness-interval", "DURATION", "1s",
          "how often the upstream is checked (answers are cached in between)"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.readiness.interval, t, Zero::kForbidden);
      },
      [](const Config& c) { return FormatDuration(c.readiness.interval); }));
  specs.push_back(Scalar(
      Key("readiness.timeout", "readiness-timeout", "DURATION", "500ms",
          "time limit of one upstream check"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.readiness.timeout, t, Zero::kForbidden);
      },
      [](const Config& c) { return FormatDuration(c.readiness.timeout); }));
  specs.push_back(List(
      Key("shutdown.signals", "signals", "SIGNAL", "SIGTERM,SIGINT",
          "signals that start the sequence (comma-separated or repeated)"),
      [](Config& c, const std::vector<std::string>& items, size_t* bad) {
        std::string problem = SetList(&c.shutdown.signals, items, bad, ParseSignalName);
        if (problem.empty() && c.shutdown.signals.empty()) {
          problem = "at least one signal must start the sequence (the kubelet sends SIGTERM)";
        }
        return problem;
      },
      [](const Config& c) {
        std::vector<std::string> names;
        for (int signo : c.shutdown.signals) names.push_back(SignalName(signo));
        return "[" + Join(names, ", ") + "]";
      }));
  specs.push_back(LbDelayScalar(
      Key("shutdown.lb_delay", "lb-delay", "DURATION|auto", "5s",
          "once unready, how long load balancers need to stop routing to the pod; auto: until "
          "traffic to the app's ports stops (see shutdown.lb_auto)"),
      [](LbDelayDraft& d, std::string_view t) {
        d.is_auto = ToLowerAscii(t) == "auto";
        if (d.is_auto) return std::string();
        return SetDuration(&d.fixed.delay, t, Zero::kAllowed);
      },
      [](const Config& c) {
        return c.shutdown.lb_delay.is_auto() ? std::string("auto")
                                             : FormatDuration(c.shutdown.lb_delay.bound());
      }));
  specs.push_back(LbDelayScalar(
      Key("shutdown.lb_auto.min", "lb-auto-min", "DURATION", "1s",
          "lb_delay auto: the shortest wait, whatever the traffic"),
      [](LbDelayDraft& d, std::string_view t) {
        return SetDuration(&d.auto_settings.min, t, Zero::kAllowed);
      },
      [](const Config& c) { return FormatDuration(LbAutoOf(c).min); }));
  specs.push_back(LbDelayScalar(
      Key("shutdown.lb_auto.max", "lb-auto-max", "DURATION", "30s",
          "lb_delay auto: the longest wait (the timing budget counts this)"),
      [](LbDelayDraft& d, std::string_view t) {
        return SetDuration(&d.auto_settings.max, t, Zero::kForbidden);
      },
      [](const Config& c) { return FormatDuration(LbAutoOf(c).max); }));
  specs.push_back(LbDelayScalar(
      Key("shutdown.lb_auto.quiet", "lb-auto-quiet", "DURATION", "1s",
          "lb_delay auto: the wait ends once no new connection or request reached the app's "
          "ports (shutdown.drain.monitor.ports) for this long"),
      [](LbDelayDraft& d, std::string_view t) {
        return SetDuration(&d.auto_settings.quiet, t, Zero::kForbidden);
      },
      [](const Config& c) { return FormatDuration(LbAutoOf(c).quiet); }));
  specs.push_back(LbDelayScalar(
      Key("shutdown.lb_auto.endpoint_wait", "lb-auto-endpoint-wait", "DURATION", "2s",
          "lb_delay auto, with Kubernetes API access: the wait also lasts until every "
          "EndpointSlice that held the pod stopped routing to it (then quiet); the watch of the "
          "slices has this long from unready to start, else the wait goes on without it"),
      [](LbDelayDraft& d, std::string_view t) {
        return SetDuration(&d.auto_settings.endpoint_wait, t, Zero::kAllowed);
      },
      [](const Config& c) { return FormatDuration(LbAutoOf(c).endpoint_wait); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.trigger.url", "drain-url", "URL", "\"http://127.0.0.1:8080/drain\"",
          "the app's drain endpoint, called when draining starts; \"\" calls nothing"),
      [](Config& c, std::string_view t) { return SetUrl(&c.shutdown.drain.trigger.url, t); },
      [](const Config& c) { return Quote(UrlText(c.shutdown.drain.trigger.url)); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.trigger.method", "drain-method", "METHOD", "POST",
          "HTTP method of the drain call"),
      [](Config& c, std::string_view t) { return SetMethod(&c.shutdown.drain.trigger.method, t); },
      [](const Config& c) { return c.shutdown.drain.trigger.method; }));
  {
    KeySpec headers;
    headers.info = Key("shutdown.drain.trigger.headers", "drain-header", "'NAME: VALUE'", "none",
                       "header sent with the drain call (repeatable; in the environment, one "
                       "per line)");
    headers.info.repeatable = true;
    headers.shape = Shape::kHeaders;
    headers.set_headers = [](Config& c, const Headers& h, size_t* bad) {
      return SetHeaders(&c.shutdown.drain.trigger.headers, h, bad);
    };
    headers.format = [](const Config& c) {
      return FormatHeaders(c.shutdown.drain.trigger.headers, false);
    };
    specs.push_back(std::move(headers));
  }
  specs.push_back(Scalar(
      Key("shutdown.drain.trigger.timeout", "trigger-timeout", "DURATION", "2s",
          "time limit of one drain call (failed calls are retried until the drain timeout)"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.shutdown.drain.trigger.timeout, t, Zero::kForbidden);
      },
      [](const Config& c) { return FormatDuration(c.shutdown.drain.trigger.timeout); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.kind", "monitor", "KIND", "status",
          "how to tell the app is drained: status, json, prometheus, connections or none (none "
          "polls nothing: it waits the whole drain timeout, then reports drained)"),
      [](Config& c, std::string_view t) {
        return SetEnum(&c.shutdown.drain.monitor.kind, t, kMonitorKinds, "monitor kind");
      },
      [](const Config& c) { return EnumName(c.shutdown.drain.monitor.kind, kMonitorKinds); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.url", "monitor-url", "URL", "the drain URL",
          "status, json, prometheus: the URL the monitor polls"),
      [](Config& c, std::string_view t) { return SetUrl(&c.shutdown.drain.monitor.url, t); },
      [](const Config& c) { return Quote(UrlText(c.shutdown.drain.monitor.url)); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.field", "monitor-field", "POINTER", "/inflight",
          "json: JSON pointer to the number of requests in flight"),
      [](Config& c, std::string_view t) {
        return SetJsonPointer(&c.shutdown.drain.monitor.field, t);
      },
      [](const Config& c) { return Quote(c.shutdown.drain.monitor.field); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.metric", "monitor-metric", "SELECTOR", "none",
          "prometheus: the metric to sum, e.g. http_server_active_requests{route=\"/api\"}"),
      [](Config& c, std::string_view t) { return SetMetric(&c.shutdown.drain.monitor.metric, t); },
      [](const Config& c) { return Quote(c.shutdown.drain.monitor.metric); }));
  specs.push_back(List(
      Key("shutdown.drain.monitor.ports", "monitor-port", "PORT", "8080",
          "connections: local port whose established connections count (repeatable)"),
      [](Config& c, const std::vector<std::string>& items, size_t* bad) {
        return SetList(&c.shutdown.drain.monitor.ports, items, bad, ParsePort);
      },
      [](const Config& c) { return FormatInts(c.shutdown.drain.monitor.ports); }));
  specs.push_back(List(
      Key("shutdown.drain.monitor.drained_status", "drained-status", "STATUS", "200",
          "status: HTTP status that means drained (repeatable)"),
      [](Config& c, const std::vector<std::string>& items, size_t* bad) {
        return SetList(&c.shutdown.drain.monitor.drained_status, items, bad, ParseStatusCode);
      },
      [](const Config& c) { return FormatInts(c.shutdown.drain.monitor.drained_status); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.drained_at", "drained-at", "NUMBER", "0",
          "json, prometheus, connections: drained at or below this value"),
      [](Config& c, std::string_view t) {
        return SetDrainedAt(&c.shutdown.drain.monitor.drained_at, t);
      },
      [](const Config& c) { return FormatNumber(c.shutdown.drain.monitor.drained_at); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.interval", "poll-interval", "DURATION", "100ms",
          "time between polls"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.shutdown.drain.monitor.interval, t, Zero::kForbidden);
      },
      [](const Config& c) { return FormatDuration(c.shutdown.drain.monitor.interval); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.settle", "settle", "DURATION", "0s",
          "how long drained must hold before it counts"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.shutdown.drain.monitor.settle, t, Zero::kAllowed);
      },
      [](const Config& c) { return FormatDuration(c.shutdown.drain.monitor.settle); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.timeout", "monitor-timeout", "DURATION", "1s",
          "time limit of one poll"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.shutdown.drain.monitor.timeout, t, Zero::kForbidden);
      },
      [](const Config& c) { return FormatDuration(c.shutdown.drain.monitor.timeout); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.long_poll", "long-poll", "DURATION", "0s (off)",
          "status: long-poll, GET URL?wait=DURATION: the app answers once drained or when the "
          "wait ends; the next poll follows at once (docs/monitors.md)"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.shutdown.drain.monitor.long_poll, t, Zero::kAllowed);
      },
      [](const Config& c) { return FormatDuration(c.shutdown.drain.monitor.long_poll); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.refused_means", "refused-means", "drained|error", "drained",
          "what a refused poll means when nothing listens on the app's port in any address "
          "family (the app is gone); a refusal while something listens in another family is "
          "always an error"),
      [](Config& c, std::string_view t) {
        return SetEnum(&c.shutdown.drain.monitor.refused_means, t, kRefusedMeans, "refused_means");
      },
      [](const Config& c) {
        return EnumName(c.shutdown.drain.monitor.refused_means, kRefusedMeans);
      }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.count_close_wait", "count-close-wait", "BOOL", "false",
          "connections: also count CLOSE_WAIT sockets"),
      [](Config& c, std::string_view t) {
        return SetBool(&c.shutdown.drain.monitor.count_close_wait, t);
      },
      [](const Config& c) {
        return std::string(c.shutdown.drain.monitor.count_close_wait ? "true" : "false");
      }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.count", "monitor-count", "connections|in_flight", "connections",
          "connections: count every connection, or only those with a request in flight"),
      [](Config& c, std::string_view t) {
        return SetEnum(&c.shutdown.drain.monitor.count, t, kConnectionCounts, "count");
      },
      [](const Config& c) { return EnumName(c.shutdown.drain.monitor.count, kConnectionCounts); }));
  specs.push_back(List(
      Key("shutdown.drain.monitor.multiplexed_ports", "multiplexed-port", "PORT", "none",
          "connections, count in_flight: a port of shutdown.drain.monitor.ports whose "
          "connections multiplex requests (HTTP/2, gRPC): every open one counts as in flight "
          "(repeatable)"),
      [](Config& c, const std::vector<std::string>& items, size_t* bad) {
        return SetList(&c.shutdown.drain.monitor.multiplexed_ports, items, bad, ParsePort);
      },
      [](const Config& c) { return FormatInts(c.shutdown.drain.monitor.multiplexed_ports); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.timeout", "drain-timeout", "DURATION", "20s",
          "the longest draining may take before lastcall gives up"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.shutdown.drain.timeout, t, Zero::kForbidden);
      },
      [](const Config& c) { return FormatDuration(c.shutdown.drain.timeout); }));
  specs.push_back(Scalar(
      Key("shutdown.exit_delay", "exit-delay", "DURATION", "0s",
          "wait after the sequence ends, before exiting"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.shutdown.exit_delay, t, Zero::kAllowed);
      },
      [](const Config& c) { return FormatDuration(c.shutdown.exit_delay); }));
  specs.push_back(Scalar(
      Key("shutdown.grace_period", "grace-period", "DURATION", "30s",
          "the pod's terminationGracePeriodSeconds (for the timing budget)"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.shutdown.grace_period, t, Zero::kForbidden);
      },
      [](const Config& c) { return FormatDuration(c.shutdown.grace_period); }));
  specs.push_back(Scalar(
      Key("shutdown.skip_lb_delay_when_app_gone", "skip-lb-delay-when-app-gone", "BOOL", "true",
          "end lb_delay early when a signal-started sequence finds the app gone (nothing listens "
          "on its port in any address family)"),
      [](Config& c, std::string_view t) {
        return SetBool(&c.shutdown.skip_lb_delay_when_app_gone, t);
      },
      [](const Config& c) {
        return std::string(c.shutdown.skip_lb_delay_when_app_gone ? "true" : "false");
      }));
  specs.push_back(Scalar(
      Key("shutdown.recover_after", "recover-after", "DURATION", "auto (grace_period + 2s)",
          "become ready again this long after a preStop-started sequence that no signal "
          "followed; 0 never"),
      [](Config& c, std::string_view t) {
        if (t == "auto") {
          c.shutdown.recover_after = Millis{-1};
          return std::string();
        }
        return SetDuration(&c.shutdown.recover_after, t, Zero::kAllowed);
      },
      [](const Config& c) {
        return c.shutdown.recover_after.count() < 0 ? std::string("auto")
                                                    : FormatDuration(c.shutdown.recover_after);
      }));
  specs.push_back(Scalar(
      Key("shutdown.proxy_quit.url", "proxy-quit-url", "URL", "none",
          "as lastcall exits after the sequence, ask the pod's mesh proxy to quit here: "
          "http://127.0.0.1:15020/quitquitquit (Istio), http://127.0.0.1:4191/shutdown "
          "(Linkerd); \"\" asks nobody"),
      [](Config& c, std::string_view t) { return SetProxyQuitUrl(&c.shutdown.proxy_quit.url, t); },
      [](const Config& c) { return Quote(UrlText(c.shutdown.proxy_quit.url)); }));
  specs.push_back(Scalar(
      Key("shutdown.proxy_quit.method", "proxy-quit-method", "METHOD", "POST",
          "HTTP method of the proxy's quit request"),
      [](Config& c, std::string_view t) { return SetMethod(&c.shutdown.proxy_quit.method, t); },
      [](const Config& c) { return c.shutdown.proxy_quit.method; }));
  specs.push_back(Scalar(
      Key("shutdown.proxy_quit.timeout", "proxy-quit-timeout", "DURATION", "1s",
          "the quit request's deadline (connect, send and answer); at most 1s, so the exit is "
          "never held longer"),
      [](Config& c, std::string_view t) {
        Millis timeout{0};
        std::string problem = SetDuration(&timeout, t, Zero::kForbidden);
        if (problem.empty() && timeout > ProxyQuitConfig::kMaxTimeout) {
          problem = "must be at most " + FormatDuration(ProxyQuitConfig::kMaxTimeout) +
                    ": the request runs as lastcall exits, inside the budget's margin";
        }
        if (problem.empty()) c.shutdown.proxy_quit.timeout = timeout;
        return problem;
      },
      [](const Config& c) { return FormatDuration(c.shutdown.proxy_quit.timeout); }));
  specs.push_back(Scalar(
      Key("kube_api.enabled", "kube-api", "BOOL", "true",
          "in a cluster (KUBERNETES_SERVICE_HOST, the service account's token), report each "
          "termination's outcome as a Kubernetes Event on the pod and watch the EndpointSlices "
          "that hold it (lb_delay auto waits for them); false never calls the API"),
      [](Config& c, std::string_view t) { return SetBool(&c.kube_api.enabled, t); },
      [](const Config& c) { return std::string(c.kube_api.enabled ? "true" : "false"); }));
  specs.push_back(Scalar(
      Key("kube_api.token_file", "kube-token-file", "FILE",
          "/var/run/secrets/kubernetes.io/serviceaccount/token",
          "the service account token for the API server (re-read whenever the file changes)"),
      [](Config& c, std::string_view t) {
        c.kube_api.token_file = std::string(t);
        return std::string();
      },
      [](const Config& c) { return Quote(c.kube_api.token_file); }));
  specs.push_back(Scalar(
      Key("kube_api.ca_file", "kube-ca-file", "FILE",
          "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
          "the CA bundle the API server's certificate is verified against"),
      [](Config& c, std::string_view t) {
        c.kube_api.ca_file = std::string(t);
        return std::string();
      },
      [](const Config& c) { return Quote(c.kube_api.ca_file); }));
  specs.push_back(Scalar(
      Key("log.format", "log-format", "text|json", "text", "log line format"),
      [](Config& c, std::string_view t) {
        return SetEnum(&c.log.format, t, kLogFormats, "log format");
      },
      [](const Config& c) { return EnumName(c.log.format, kLogFormats); }));
  specs.push_back(Scalar(
      Key("log.level", "log-level", "LEVEL", "info", "trace, debug, info, warn or error"),
      [](Config& c, std::string_view t) {
        return SetEnum(&c.log.level, t, kLogLevels, "log level");
      },
      [](const Config& c) { return EnumName(c.log.level, kLogLevels); }));
  return specs;
}

}  // namespace

const std::vector<KeySpec>& KeySpecs() {
  static const std::vector<KeySpec> specs = BuildKeySpecs();
  return specs;
}

const KeySpec* FindSpec(std::string_view key) {
  for (const KeySpec& spec : KeySpecs()) {
    if (spec.info.key == key) return &spec;
  }
  return nullptr;
}

// The names that may appear directly under `section` ("" for the top level), in table order.
std::vector<std::string> ChildrenOf(const std::string& section) {
  std::vector<std::string> children;
  std::string prefix = section.empty() ? "" : section + ".";
  for (const KeySpec& spec : KeySpecs()) {
    const std::string& key = spec.info.key;
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    std::string child = key.substr(prefix.size(), key.find('.', prefix.size()) - prefix.size());
    if (std::find(children.begin(), children.end(), child) == children.end()) {
      children.push_back(child);
    }
  }
  return children;
}

bool IsSection(const std::string& name) {
  std::string prefix = name + ".";
  return std::any_of(KeySpecs().begin(), KeySpecs().end(), [&](const KeySpec& spec) {
    return spec.info.key.compare(0, prefix.size(), prefix) == 0;
  });
}

// "shutdown.drain.timeout" -> "shutdown: {drain: {timeout: ...}}"
std::string NestedForm(const std::string& dotted) {
  std::string out;
  size_t depth = 0;
  size_t start = 0;
  for (size_t dot = dotted.find('.'); dot != std::string::npos; dot = dotted.find('.', start)) {
    out += dotted.substr(start, dot - start) + ": {";
    ++depth;
    start = dot + 1;
  }
  return out + dotted.substr(start) + ": ..." + std::string(depth, '}');
}

std::optional<std::pair<std::string, std::string>> SplitHeader(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::make_pair(std::string(Trim(text.substr(0, colon))),
                        std::string(Trim(text.substr(colon + 1))));
}

std::string MonitorKindName(MonitorKind kind) { return EnumName(kind, kMonitorKinds); }

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    for (const KeySpec& spec : KeySpecs()) out.push_back(spec.info);
    return out;
  }();
  return keys;
}

std::string FormatConfigValue(const Config& config, std::string_view key, bool redact_secrets) {
  const KeySpec* spec = FindSpec(key);
  if (spec == nullptr) return "";
  if (spec->shape == Shape::kHeaders) {
    return FormatHeaders(config.shutdown.drain.trigger.headers, redact_secrets);
  }
  return spec->format(config);
}

std::string_view ToString(ValueSource source) {
  switch (source) {
    case ValueSource::kDefault:
      return "default";
    case ValueSource::kFile:
      return "file";
    case ValueSource::kEnv:
      return "env";
    case ValueSource::kFlag:
      return "flag";
  }
  return "?";
}

}  // namespace lastcall

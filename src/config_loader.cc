#include "config_loader.h"

#include <sys/stat.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>

#include "duration.h"
#include "http_client.h"
#include "json_field.h"
#include "prometheus_text.h"
#include "small_file.h"
#include "token_file.h"

namespace lastcall {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// ---- small string helpers -------------------------------------------------------------------

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) out += separator;
    out += parts[i];
  }
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

// yaml-cpp 0.7 (Debian 12) loops forever in YAML::LoadAll, allocating as it goes, on a token that
// no node takes, such as a ',' where a document's root should start ("," alone, "&a ,"): each turn
// yields an empty document at the same place (jbeder/yaml-cpp#1040, fixed upstream in 2024). This
// walks the documents without building them and reports the mark of such a stuck document, so
// that LoadAll is only called on text it can finish. Throws what yaml-cpp's parser throws.
std::optional<YAML::Mark> FindStuckYamlDocument(const std::string& text) {
  class DocumentStarts final : public YAML::EventHandler {
   public:
    void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
    std::vector<YAML::Mark> starts;
  };
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentStarts documents;
  // Every document that is not stuck consumes at least one token, so this ends.
  while (parser.HandleNextDocument(documents)) {
    const size_t n = documents.starts.size();
    if (n >= 2 && documents.starts[n - 1].pos == documents.starts[n - 2].pos) {
      return documents.starts[n - 1];
    }
  }
  return std::nullopt;
}

char ToLowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char ToUpperAscii(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ToLowerAscii(c);
  return out;
}

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ToUpperAscii(c);
  return out;
}

// Splits on `separator`, trimming each part. An empty or blank text is an empty list.
std::vector<std::string> Split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  if (Trim(text).empty()) return parts;
  while (true) {
    size_t at = text.find(separator);
    parts.emplace_back(Trim(text.substr(0, at)));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return parts;
}

// A YAML double-quoted scalar (also valid JSON for printable ASCII): what FormatConfigValue
// emits and what error messages show as (got "...").
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          constexpr char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[byte >> 4];
          out += kHex[byte & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

std::string Got(std::string_view value) {
  constexpr size_t kMaxShown = 120;
  if (value.size() > kMaxShown) {
    return " (got " + Quote(value.substr(0, kMaxShown)) + "... " + std::to_string(value.size()) +
           " bytes)";
  }
  return " (got " + Quote(value) + ")";
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("lb_dealy").
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// Case, "_" and "-" do not matter when guessing what was meant: lbDelay, lb-delay -> lb_delay.
std::string Fold(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c != '_' && c != '-') out += ToLowerAscii(c);
  }
  return out;
}

// The candidate closest to `name`, if close enough to be a plausible typo.
std::optional<std::string> Closest(std::string_view name,
                                   const std::vector<std::string>& candidates,
                                   std::string_view strip_prefix = "") {
  std::string folded = Fold(name.substr(std::min(strip_prefix.size(), name.size())));
  constexpr size_t kMaxGuessable = 64;  // longer is no typo, and the distance table grows as n*m
  if (folded.size() > kMaxGuessable) return std::nullopt;
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(1, folded.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    std::string_view tail = candidate;
    tail.remove_prefix(std::min(strip_prefix.size(), tail.size()));
    size_t distance = EditDistance(folded, Fold(tail));
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

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

std::string SetUrl(std::string* out, std::string_view text, std::string_view empty_means) {
  if (text.empty()) {
    if (empty_means.empty()) return "must not be empty";
    out->clear();
    return "";
  }
  std::string error;
  if (!ParseUrl(text, &error)) return error;
  *out = std::string(text);
  return "";
}

std::string SetAddress(std::string* out, std::string_view text) {
  if (text.empty()) return "must not be empty";
  std::string error;
  if (!ParseListenAddress(text, &error)) {
    bool digits_only =
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits_only) error += " (did you mean \":" + std::string(text) + "\"?)";
    return error;
  }
  *out = std::string(text);
  return "";
}

std::string SetBool(bool* out, std::string_view text) {
  std::string lower = Lower(text);
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

std::optional<int> ParseStatus(std::string_view text, std::string* error) {
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

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsTokenChar);
}

std::string SetMethod(std::string* out, std::string_view text) {
  if (!IsToken(text)) return "not an HTTP method (letters only, such as POST)";
  std::string upper = Upper(text);
  if (upper != text) return "HTTP methods are case-sensitive: write " + upper;
  *out = std::string(text);
  return "";
}

std::string CheckHeader(std::string_view name, std::string_view value) {
  if (!IsToken(name)) return "not a valid header name";
  std::string lower = Lower(name);
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
std::optional<std::pair<std::string, std::string>> SplitHeader(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::make_pair(std::string(Trim(text.substr(0, colon))),
                        std::string(Trim(text.substr(colon + 1))));
}

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
const std::vector<std::pair<std::string_view, RefusedMeans>> kRefusedMeans = {
    {"drained", RefusedMeans::kDrained}, {"error", RefusedMeans::kError}};
const std::vector<std::pair<std::string_view, LogFormat>> kLogFormats = {
    {"text", LogFormat::kText}, {"json", LogFormat::kJson}};
const std::vector<std::pair<std::string_view, std::string>> kLogLevels = {
    {"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"warn", "warn"}, {"error", "error"}};

template <typename Enum>
std::string EnumName(Enum value, const std::vector<std::pair<std::string_view, Enum>>& names) {
  for (const auto& [name, candidate] : names) {
    if (candidate == value) return std::string(name);
  }
  return "?";
}

// ---- formatting values back to YAML --------------------------------------------------------

std::string FormatNumber(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : "0";
}

std::string FormatInts(const std::vector<int>& values) {
  std::vector<std::string> parts;
  for (int value : values) parts.push_back(std::to_string(value));
  return "[" + Join(parts, ", ") + "]";
}

bool LooksSecret(std::string_view header_name) {
  std::string lower = Lower(header_name);
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

enum class Shape { kScalar, kList, kHeaders };

struct KeySpec {
  ConfigKey info;
  Shape shape = Shape::kScalar;
  std::string (*set_scalar)(Config&, std::string_view) = nullptr;
  std::string (*set_list)(Config&, const std::vector<std::string>&, size_t* bad) = nullptr;
  std::string (*set_headers)(Config&, const Headers&, size_t* bad) = nullptr;
  std::string (*format)(const Config&) = nullptr;
};

ConfigKey Key(std::string key, std::string flag, std::string value_name, std::string default_text,
              std::string help) {
  ConfigKey info;
  info.env = "LASTCALL_" + Upper(flag);
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
      [](const Config& c) { return Quote(c.listen); }));
  specs.push_back(Scalar(
      Key("control", "control", "ADDRESS", "\"unix:///var/run/lastcall/control.sock\"",
          "address of the /prestop endpoint: unix:///path.sock or 127.0.0.1:PORT"),
      [](Config& c, std::string_view t) { return SetAddress(&c.control, t); },
      [](const Config& c) { return Quote(c.control); }));
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
      Key("state_file", "state-file", "FILE", "state.json beside a unix control socket",
          "where the sequence's result survives a restart of lastcall"),
      [](Config& c, std::string_view t) {
        c.state_file = std::string(t);
        return std::string();
      },
      [](const Config& c) { return Quote(c.state_file); }));
  specs.push_back(Scalar(
      Key("readiness.upstream", "readiness-upstream", "URL", "none",
          "the app's health URL: /readyz is 200 only while the app is healthy too"),
      [](Config& c, std::string_view t) { return SetUrl(&c.readiness.upstream, t, "none"); },
      [](const Config& c) { return Quote(c.readiness.upstream); }));
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
        std::string problem = SetList(&c.shutdown.signals, items, bad, NormalizeSignalName);
        if (problem.empty() && c.shutdown.signals.empty()) {
          problem = "at least one signal must start the sequence (the kubelet sends SIGTERM)";
        }
        return problem;
      },
      [](const Config& c) { return "[" + Join(c.shutdown.signals, ", ") + "]"; }));
  specs.push_back(Scalar(
      Key("shutdown.lb_delay", "lb-delay", "DURATION", "5s",
          "once unready, how long load balancers need to stop routing to the pod"),
      [](Config& c, std::string_view t) {
        return SetDuration(&c.shutdown.lb_delay, t, Zero::kAllowed);
      },
      [](const Config& c) { return FormatDuration(c.shutdown.lb_delay); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.trigger.url", "drain-url", "URL", "\"http://127.0.0.1:8080/drain\"",
          "the app's drain endpoint, called when draining starts; \"\" calls nothing"),
      [](Config& c, std::string_view t) {
        return SetUrl(&c.shutdown.drain.trigger.url, t, "no trigger");
      },
      [](const Config& c) { return Quote(c.shutdown.drain.trigger.url); }));
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
          "how to tell the app is drained: status, json, prometheus, connections or none"),
      [](Config& c, std::string_view t) {
        return SetEnum(&c.shutdown.drain.monitor.kind, t, kMonitorKinds, "monitor kind");
      },
      [](const Config& c) { return EnumName(c.shutdown.drain.monitor.kind, kMonitorKinds); }));
  specs.push_back(Scalar(
      Key("shutdown.drain.monitor.url", "monitor-url", "URL", "the drain URL",
          "status, json, prometheus: the URL the monitor polls"),
      [](Config& c, std::string_view t) {
        return SetUrl(&c.shutdown.drain.monitor.url, t, "the trigger URL");
      },
      [](const Config& c) { return Quote(c.shutdown.drain.monitor.url); }));
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
        return SetList(&c.shutdown.drain.monitor.drained_status, items, bad, ParseStatus);
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
      Key("shutdown.drain.monitor.refused_means", "refused-means", "drained|error", "drained",
          "what a refused connection while polling means (nobody listens any more)"),
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
          "end lb_delay early when a signal-started sequence finds the app gone"),
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
      [](const Config& c) { return c.log.level; }));
  return specs;
}

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

// ---- the loader -----------------------------------------------------------------------------

struct Origin {
  ValueSource source = ValueSource::kDefault;
  std::string where;  // message prefix: "f.yaml:3:13: shutdown.lb_delay", "flag --lb-delay", ...
  std::string place;  // for `check`: "f.yaml:3:13", "LASTCALL_LB_DELAY", "--lb-delay"
};

class Loader {
 public:
  explicit Loader(const ConfigSources& sources) : sources_(sources) {
    for (const KeySpec& spec : KeySpecs()) origins_[spec.info.key] = Origin{};
  }

  LoadedConfig Load() {
    ApplyYaml();
    ApplyEnv();
    ApplyFlags();
    // Combinations are only meaningful once every single value is valid.
    if (problems_.empty()) CheckCombinations();
    if (!problems_.empty()) throw ConfigError(problems_);
    LoadedConfig loaded;
    loaded.config = config_;
    for (const auto& [key, origin] : origins_) {
      loaded.sources[key] = origin.source;
      if (origin.source != ValueSource::kDefault) loaded.origins[key] = origin.place;
    }
    loaded.warnings = Warnings();
    return loaded;
  }

 private:
  std::string FileName() const {
    return sources_.yaml_path.empty() ? "config" : sources_.yaml_path;
  }

  std::string YamlPlace(const YAML::Mark& mark) const {
    return FileName() + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }

  void Problem(const std::string& where, std::string_view problem,
               std::optional<std::string_view> got = std::nullopt) {
    std::string message = where + ": " + std::string(problem);
    if (got) message += Got(*got);
    problems_.push_back(std::move(message));
  }

  bool IsSet(const std::string& key) const {
    return origins_.at(key).source != ValueSource::kDefault;
  }

  // The message prefix for a problem with a key's current value: where it was set.
  std::string WhereIs(const std::string& key) const {
    const Origin& origin = origins_.at(key);
    return origin.source == ValueSource::kDefault ? key + " (default)" : origin.where;
  }

  // ---- YAML ----

  void ApplyYaml() {
    std::vector<YAML::Node> documents;
    try {
      if (const std::optional<YAML::Mark> stuck = FindStuckYamlDocument(sources_.yaml_text)) {
        const auto at = static_cast<size_t>(stuck->pos);
        const std::string token = at < sources_.yaml_text.size()
                                      ? Quote(sources_.yaml_text.substr(at, 1))
                                      : "end of file";
        Problem(YamlPlace(*stuck), "YAML syntax error: unexpected " + token);
        return;
      }
      documents = YAML::LoadAll(sources_.yaml_text);
    } catch (const YAML::ParserException& e) {
      Problem(YamlPlace(e.mark), "YAML syntax error: " + e.msg);
      return;
    } catch (const YAML::Exception& e) {
      Problem(FileName(), std::string("cannot read YAML: ") + e.what());
      return;
    }
    if (documents.empty()) return;
    if (documents.size() > 1) {
      Problem(YamlPlace(documents[1].Mark()),
              "a second YAML document: the config file holds one document (remove ---)");
      return;
    }
    const YAML::Node& root = documents[0];
    if (root.IsNull()) return;
    if (!root.IsMap()) {
      Problem(YamlPlace(root.Mark()),
              "the config file must be a map of settings, such as \"shutdown: {lb_delay: 5s}\"");
      return;
    }
    WalkMap(root, "");
  }

  void WalkMap(const YAML::Node& map, const std::string& section) {
    std::map<std::string, YAML::Mark> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      // Copies: the iterator hands out a temporary pair, and Nodes are cheap handles.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      std::string here = section.empty() ? "" : section + ".";
      if (!key.IsScalar()) {
        Problem(YamlPlace(key.Mark()) + ": " + (section.empty() ? "(top level)" : section),
                "keys must be plain names");
        continue;
      }
      std::string name = key.Scalar();
      std::string full = here + name;
      std::string where = YamlPlace(key.Mark()) + ": " + full;
      auto [previous, inserted] = seen.emplace(name, key.Mark());
      if (!inserted) {
        Problem(where, "duplicate key (first set at line " +
                           std::to_string(previous->second.line + 1) + ")");
        continue;
      }
      if (name.find('.') != std::string::npos) {
        Problem(where, UnknownKeyProblem(section, name));
      } else if (const KeySpec* spec = FindSpec(full)) {
        ApplyYamlValue(*spec, key, value);
      } else if (IsSection(full)) {
        if (value.IsNull()) continue;  // a section whose settings are all commented out
        if (!value.IsMap()) {
          Problem(
              where, "expected a map of settings (" + Join(ChildrenOf(full), ", ") + ")",
              value.IsScalar() ? std::optional<std::string_view>(value.Scalar()) : std::nullopt);
          continue;
        }
        WalkMap(value, full);
      } else {
        Problem(where, UnknownKeyProblem(section, name));
      }
    }
  }

  static std::string UnknownKeyProblem(const std::string& section, const std::string& name) {
    std::string here = section.empty() ? "" : section + ".";
    // "shutdown.lb_delay: 5s" at the top level: YAML does not expand dots.
    if (name.find('.') != std::string::npos && (FindSpec(here + name) || IsSection(here + name))) {
      return "unknown key: YAML does not expand dots; nest it as " + NestedForm(name);
    }
    std::vector<std::string> children = ChildrenOf(section);
    if (std::optional<std::string> near = Closest(name, children)) {
      return "unknown key (did you mean " + *near + "?)";
    }
    // The right name in the wrong section: suggest the full path.
    std::vector<std::string> elsewhere;
    for (const KeySpec& spec : KeySpecs()) {
      const std::string& key = spec.info.key;
      size_t dot = key.rfind('.');
      if (Fold(dot == std::string::npos ? key : key.substr(dot + 1)) == Fold(name)) {
        elsewhere.push_back(key);
      }
    }
    if (elsewhere.size() == 1) {
      return "unknown key here (did you mean " + elsewhere[0] + "? it belongs in section " +
             elsewhere[0].substr(0, elsewhere[0].rfind('.')) + ")";
    }
    if (elsewhere.size() > 1) {
      return "unknown key here (did you mean one of " + Join(elsewhere, ", ") + "?)";
    }
    return "unknown key (valid here: " + Join(children, ", ") + ")";
  }

  void ApplyYamlValue(const KeySpec& spec, const YAML::Node& key, const YAML::Node& value) {
    const std::string& name = spec.info.key;
    auto where_at = [&](const YAML::Mark& mark) { return YamlPlace(mark) + ": " + name; };
    std::string key_where = where_at(key.Mark());
    if (value.IsNull()) {
      // String keys are the ones whose values format quoted.
      std::string hint = spec.shape == Shape::kList      ? " (write [] for an empty list)"
                         : spec.shape == Shape::kHeaders ? " (write {} for no headers)"
                         : spec.format(Config{}).front() == '"'
                             ? " (write \"\" for an empty string)"
                             : "";
      Problem(key_where, "missing value" + hint);
      return;
    }
    std::string problem;
    std::string where = where_at(value.Mark());
    std::optional<std::string> got;
    switch (spec.shape) {
      case Shape::kScalar: {
        if (!value.IsScalar()) {
          Problem(where, std::string("expected a single value, not a ") +
                             (value.IsMap() ? "map" : "list"));
          return;
        }
        problem = spec.set_scalar(config_, value.Scalar());
        got = value.Scalar();
        break;
      }
      case Shape::kList: {
        if (!value.IsSequence()) {
          Problem(
              where, "expected a list, such as " + spec.format(Config{}),
              value.IsScalar() ? std::optional<std::string_view>(value.Scalar()) : std::nullopt);
          return;
        }
        std::vector<std::string> items;
        std::vector<YAML::Mark> marks;
        for (const YAML::Node& item : value) {
          if (!item.IsScalar()) {
            Problem(where_at(item.Mark()), "list items must be single values");
            return;
          }
          items.push_back(item.Scalar());
          marks.push_back(item.Mark());
        }
        size_t bad = 0;
        problem = spec.set_list(config_, items, &bad);
        if (!problem.empty() && bad < items.size()) {
          where = where_at(marks[bad]);
          got = items[bad];
        }
        break;
      }
      case Shape::kHeaders: {
        if (!value.IsMap()) {
          Problem(where, "expected a map of header names to values, such as {X-Drain: \"1\"}");
          return;
        }
        Headers headers;
        std::vector<YAML::Mark> marks;
        for (auto it = value.begin(); it != value.end(); ++it) {
          const YAML::Node header_name = it->first;
          const YAML::Node header_value = it->second;
          if (!header_name.IsScalar() || !header_value.IsScalar()) {
            Problem(where_at(header_name.Mark()), "header names and values must be single values");
            return;
          }
          headers.emplace_back(header_name.Scalar(), header_value.Scalar());
          marks.push_back(header_name.Mark());
        }
        size_t bad = 0;
        problem = spec.set_headers(config_, headers, &bad);
        if (!problem.empty() && bad < headers.size()) {
          where = where_at(marks[bad]);
          got = headers[bad].first + ": " + headers[bad].second;
        }
        break;
      }
    }
    if (!problem.empty()) {
      Problem(where, problem, got ? std::optional<std::string_view>(*got) : std::nullopt);
      return;
    }
    origins_[name] = Origin{ValueSource::kFile, key_where, YamlPlace(key.Mark())};
  }

  // ---- environment ----

  void ApplyEnv() {
    for (const auto& [name, value] : sources_.env) {
      if (name.compare(0, 9, "LASTCALL_") != 0) continue;
      if (name == kConfigFileEnv || name == kPrestopTimeoutEnv || name == kQuietEnv ||
          name == kExampleAppEnv) {
        continue;
      }
      std::string where = "environment " + name;
      const KeySpec* spec = nullptr;
      for (const KeySpec& candidate : KeySpecs()) {
        if (candidate.info.env == name) spec = &candidate;
      }
      if (spec == nullptr) {
        std::vector<std::string> known;
        for (const KeySpec& candidate : KeySpecs()) known.push_back(candidate.info.env);
        known.emplace_back(kConfigFileEnv);
        known.emplace_back(kPrestopTimeoutEnv);
        known.emplace_back(kQuietEnv);
        known.emplace_back(kExampleAppEnv);
        std::optional<std::string> near = Closest(name, known, "LASTCALL_");
        Problem(where, near ? "unknown variable (did you mean " + *near + "?)"
                            : "unknown variable (known: " + Join(known, ", ") + ")");
        continue;
      }
      switch (spec->shape) {
        case Shape::kScalar:
          ApplyScalarText(*spec, {value}, ValueSource::kEnv, where, name);
          break;
        case Shape::kList:
          ApplyListText(*spec, Split(value, ','), ValueSource::kEnv, where, name);
          break;
        case Shape::kHeaders: {
          std::vector<std::string> lines;
          for (std::string& line : Split(value, '\n')) {
            if (!line.empty()) lines.push_back(std::move(line));
          }
          ApplyHeaderText(*spec, lines, ValueSource::kEnv, where, name);
          break;
        }
      }
    }
  }

  // ---- flags ----

  void ApplyFlags() {
    std::vector<std::string> order;
    std::map<std::string, std::vector<std::string>> values;
    for (const FlagValue& flag : sources_.flags) {
      if (values.find(flag.name) == values.end()) order.push_back(flag.name);
      values[flag.name].push_back(flag.value);
    }
    for (const std::string& name : order) {
      std::string where = "flag --" + name;
      const KeySpec* spec = nullptr;
      for (const KeySpec& candidate : KeySpecs()) {
        if (candidate.info.flag == name) spec = &candidate;
      }
      if (spec == nullptr) {
        Problem(where, "unknown flag");
        continue;
      }
      const std::vector<std::string>& given = values[name];
      switch (spec->shape) {
        case Shape::kScalar:
          ApplyScalarText(*spec, given, ValueSource::kFlag, where, "--" + name);
          break;
        case Shape::kList: {
          std::vector<std::string> items;
          for (const std::string& value : given) {
            for (std::string& item : Split(value, ',')) items.push_back(std::move(item));
          }
          ApplyListText(*spec, items, ValueSource::kFlag, where, "--" + name);
          break;
        }
        case Shape::kHeaders:
          ApplyHeaderText(*spec, given, ValueSource::kFlag, where, "--" + name);
          break;
      }
    }
  }

  // Environment and flag values arrive as text. A repeated scalar flag: the last one wins, but
  // every one must be valid.
  void ApplyScalarText(const KeySpec& spec, const std::vector<std::string>& values,
                       ValueSource source, const std::string& where, const std::string& place) {
    bool ok = true;
    for (const std::string& value : values) {
      std::string problem = spec.set_scalar(config_, value);
      if (!problem.empty()) {
        Problem(where, problem, value);
        ok = false;
      }
    }
    if (ok) origins_[spec.info.key] = Origin{source, where, place};
  }

  void ApplyListText(const KeySpec& spec, const std::vector<std::string>& items, ValueSource source,
                     const std::string& where, const std::string& place) {
    size_t bad = 0;
    std::string problem = spec.set_list(config_, items, &bad);
    if (!problem.empty()) {
      Problem(where, problem,
              bad < items.size() ? std::optional<std::string_view>(items[bad]) : std::nullopt);
      return;
    }
    origins_[spec.info.key] = Origin{source, where, place};
  }

  void ApplyHeaderText(const KeySpec& spec, const std::vector<std::string>& texts,
                       ValueSource source, const std::string& where, const std::string& place) {
    Headers headers;
    for (const std::string& text : texts) {
      std::optional<std::pair<std::string, std::string>> header = SplitHeader(text);
      if (!header) {
        Problem(where, "expected a header as \"Name: value\"", text);
        return;
      }
      headers.push_back(std::move(*header));
    }
    size_t bad = 0;
    std::string problem = spec.set_headers(config_, headers, &bad);
    if (!problem.empty()) {
      Problem(where, problem, texts[bad]);
      return;
    }
    origins_[spec.info.key] = Origin{source, where, place};
  }

  // ---- settings that contradict each other ----

  void CheckCombinations() {
    const MonitorConfig& monitor = config_.shutdown.drain.monitor;
    const std::string kind = EnumName(monitor.kind, kMonitorKinds);
    bool polls_url = monitor.kind == MonitorKind::kStatus || monitor.kind == MonitorKind::kJson ||
                     monitor.kind == MonitorKind::kPrometheus;
    if (polls_url && config_.EffectiveMonitorUrl().empty()) {
      // Blame the setting that emptied the URL when there is one: it is what the user changed.
      std::string blamed = IsSet("shutdown.drain.trigger.url") ? "shutdown.drain.trigger.url"
                                                               : "shutdown.drain.monitor.kind";
      Problem(WhereIs(blamed), "the " + kind +
                                   " monitor polls a URL, but shutdown.drain.monitor.url and "
                                   "shutdown.drain.trigger.url are both empty: set "
                                   "shutdown.drain.monitor.url (--monitor-url), or use monitor "
                                   "kind connections or none");
    }
    if (monitor.kind == MonitorKind::kPrometheus && monitor.metric.empty()) {
      Problem(WhereIs("shutdown.drain.monitor.kind"),
              "the prometheus monitor needs shutdown.drain.monitor.metric (--monitor-metric), "
              "such as http_server_active_requests");
    }
    if (monitor.kind == MonitorKind::kConnections && monitor.ports.empty()) {
      Problem(WhereIs("shutdown.drain.monitor.ports"),
              "the connections monitor needs at least one port in shutdown.drain.monitor.ports "
              "(--monitor-port)");
    }
    if (monitor.kind == MonitorKind::kStatus && monitor.drained_status.empty()) {
      Problem(WhereIs("shutdown.drain.monitor.drained_status"),
              "the status monitor needs at least one status in "
              "shutdown.drain.monitor.drained_status (--drained-status), or it never sees "
              "the app drained");
    }
    if (monitor.kind != MonitorKind::kNone && monitor.settle >= config_.shutdown.drain.timeout) {
      Problem(WhereIs("shutdown.drain.monitor.settle"),
              "settle " + FormatDuration(monitor.settle) +
                  " is not shorter than shutdown.drain.timeout " +
                  FormatDuration(config_.shutdown.drain.timeout) +
                  ": the app could never count as drained");
    }

    std::string error;
    std::optional<ListenAddress> control = ParseListenAddress(config_.control, &error);
    std::optional<ListenAddress> listen = ParseListenAddress(config_.listen, &error);
    if (control && !control->IsLoopback() && config_.token_file.empty()) {
      Problem(WhereIs("control"),
              "a TCP control address beyond loopback needs token_file (--token-file): /prestop "
              "takes the pod out of service, so it must not be reachable from outside the pod "
              "without a token; use 127.0.0.1, or a unix socket",
              config_.control);
    }
    if (control && listen && SameAddress(*control, *listen)) {
      bool blame_control = IsSet("control");
      Problem(WhereIs(blame_control ? "control" : "listen"),
              "control and listen are the same address; give /prestop its own (with a token, "
              "/prestop is also served on listen)",
              blame_control ? config_.control : config_.listen);
    }
  }

  static bool SameAddress(const ListenAddress& a, const ListenAddress& b) {
    if (a.is_unix || b.is_unix) return a.is_unix && b.is_unix && a.socket_path == b.socket_path;
    if (a.port == 0 || a.port != b.port) return false;
    auto any = [](const std::string& host) {
      return host.empty() || host == "0.0.0.0" || host == "::";
    };
    return a.host == b.host || any(a.host) || any(b.host);
  }

  std::vector<std::string> Warnings() const {
    std::vector<std::string> warnings;
    const ShutdownConfig& shutdown = config_.shutdown;
    if (shutdown.drain.monitor.kind != MonitorKind::kNone &&
        shutdown.drain.monitor.interval >= shutdown.drain.timeout) {
      warnings.push_back("shutdown.drain.monitor.interval " +
                         FormatDuration(shutdown.drain.monitor.interval) +
                         " is not shorter than shutdown.drain.timeout " +
                         FormatDuration(shutdown.drain.timeout) + ": the app is polled once");
    }
    if (shutdown.lb_delay.count() == 0) {
      warnings.push_back(
          "shutdown.lb_delay is 0s: load balancers keep routing to the pod for a few seconds "
          "after it turns unready, and those requests may be refused");
    }
    return warnings;
  }

  const ConfigSources& sources_;
  Config config_;
  std::map<std::string, Origin> origins_;
  std::vector<std::string> problems_;
};

}  // namespace

ConfigError::ConfigError(std::string problem)
    : ConfigError(std::vector<std::string>{std::move(problem)}) {}

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(Join(problems, "\n")), problems_(std::move(problems)) {}

LoadedConfig LoadConfig(const ConfigSources& sources) { return Loader(sources).Load(); }

std::string ReadConfigFile(const std::string& path) {
  constexpr size_t kMaxConfigBytes = 1 << 20;
  SmallFile file = ReadSmallFile(path, kMaxConfigBytes);
  if (!file.ok()) throw ConfigError("config file " + path + ": " + file.reason);
  return std::move(file.text);
}

std::string ReadTokenFile(const std::string& path, std::vector<std::string>* warnings) {
  const std::string where = "token_file " + path + ": ";
  std::string error;
  std::optional<std::string> token = ReadToken(path, &error);
  if (!token) throw ConfigError(where + error);
  struct stat info {};
  if (warnings != nullptr && ::stat(path.c_str(), &info) == 0 && (info.st_mode & S_IROTH) != 0) {
    warnings->push_back(where +
                        "readable by every user of the container; mount the secret with "
                        "defaultMode: 0400");
  }
  return std::move(*token);
}

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

std::optional<std::string> SuggestClosest(std::string_view name,
                                          const std::vector<std::string>& candidates) {
  return Closest(name, candidates);
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

std::optional<std::string> NormalizeSignalName(std::string_view name, std::string* error) {
  static constexpr std::string_view kValid = "SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2";
  std::string upper = Upper(Trim(name));
  if (upper.compare(0, 3, "SIG") == 0) upper.erase(0, 3);
  for (std::string_view valid : {"TERM", "INT", "QUIT", "HUP", "USR1", "USR2"}) {
    if (upper == valid) return "SIG" + upper;
  }
  if (upper == "KILL" || upper == "STOP") {
    *error = "SIG" + upper + " cannot be caught, so it cannot start a graceful shutdown";
  } else if (!upper.empty() &&
             std::all_of(upper.begin(), upper.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *error = "use a signal name, not a number (valid: " + std::string(kValid) + ")";
  } else {
    *error = "not a signal lastcall handles (valid: " + std::string(kValid) + ")";
  }
  return std::nullopt;
}

}  // namespace lastcall

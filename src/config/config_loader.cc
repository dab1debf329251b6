#include "config/config_loader.h"

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

#include "base/duration.h"
#include "base/net_util.h"
#include "base/small_file.h"
#include "base/text.h"
#include "base/token_file.h"
#include "base/url.h"

namespace lastcall {
namespace {

// The first place in `text` that YAML forbids, with its line and column (0-based, as yaml-cpp's
// marks; the column counts bytes) and what is there: a C0 control but tab, LF and CR; DEL; a C1
// control but NEL; or bytes that are not UTF-8 (a YAML stream is Unicode). yaml-cpp reads such
// bytes without a word, and `lastcall check` could then not print the value so that it reads
// back the same (it escapes them).
struct ForbiddenText {
  YAML::Mark mark;
  std::string what;
};
std::optional<ForbiddenText> FindForbiddenCharacter(std::string_view text) {
  const std::optional<TextFlaw> flaw = FindTextFlaw(text);
  if (!flaw) return std::nullopt;
  YAML::Mark mark;
  mark.pos = static_cast<int>(flaw->offset);
  mark.line = mark.column = 0;
  for (size_t i = 0; i < flaw->offset; ++i) {
    if (text[i] == '\n') {
      ++mark.line;
      mark.column = 0;
    } else {
      ++mark.column;
    }
  }
  const std::string_view bad = text.substr(flaw->offset, flaw->length);
  if (flaw->not_utf8) {
    return ForbiddenText{mark, "a byte that is not UTF-8 " + Quote(bad) + " (YAML text is UTF-8)"};
  }
  return ForbiddenText{mark, "a control character " + Quote(bad) +
                                 " (YAML text allows only tab, line feed and carriage return)"};
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

std::string Got(std::string_view value) {
  constexpr size_t kMaxShown = 120;
  if (value.size() > kMaxShown) {
    return " (got " + Quote(value.substr(0, kMaxShown)) + "... " + std::to_string(value.size()) +
           " bytes)";
  }
  return " (got " + Quote(value) + ")";
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
    // Every source is read: whether lb_delay is fixed or auto is known, whatever the order.
    config_.shutdown.lb_delay = lb_delay_.Build();
    // Combinations are only meaningful once every single value is valid.
    if (problems_.empty()) CheckCombinations();
    if (!problems_.empty()) throw ConfigError(problems_);
    LoadedConfig loaded;
    loaded.config = config_;
    loaded.lb_auto_given = lb_delay_.auto_settings;
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
    // Values reach messages raw in places (a parser's own words about them); none may carry a
    // terminal escape or invalid UTF-8 to the user's screen.
    problems_.push_back(EscapeForDisplay(message));
  }

  std::string SetScalar(const KeySpec& spec, std::string_view text) {
    return spec.set_lb_delay != nullptr ? spec.set_lb_delay(lb_delay_, text)
                                        : spec.set_scalar(config_, text);
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
    // YAML allows no control character but tab, line feed and carriage return, and only UTF-8;
    // yaml-cpp reads a NUL as an end of input or an escape and reports some later place, and
    // takes other bytes silently, so name the place here.
    if (const std::optional<ForbiddenText> bad = FindForbiddenCharacter(sources_.yaml_text)) {
      Problem(YamlPlace(bad->mark), bad->what);
      return;
    }
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
    if (std::optional<std::string> near = SuggestClosest(name, children)) {
      return "unknown key (did you mean " + *near + "?)";
    }
    // The right name in the wrong section: suggest the full path.
    std::vector<std::string> elsewhere;
    for (const KeySpec& spec : KeySpecs()) {
      const std::string& key = spec.info.key;
      size_t dot = key.rfind('.');
      if (FoldName(dot == std::string::npos ? key : key.substr(dot + 1)) == FoldName(name)) {
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
        problem = SetScalar(spec, value.Scalar());
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
      if (!AcceptableText(where, value)) continue;
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
        std::optional<std::string> near = SuggestClosest(name, known, "LASTCALL_");
        Problem(where, near ? "unknown variable (did you mean " + *near + "?)"
                            : "unknown variable (known: " + Join(known, ", ") + ")");
        continue;
      }
      switch (spec->shape) {
        case Shape::kScalar:
          // A value from a ConfigMap file ends with a newline; surrounding blanks are no part of
          // any value, as with flags and list items.
          ApplyScalarText(*spec, {std::string(Trim(value))}, ValueSource::kEnv, where, name);
          break;
        case Shape::kList:
          ApplyListText(*spec, SplitAndTrim(value, ','), ValueSource::kEnv, where, name);
          break;
        case Shape::kHeaders: {
          std::vector<std::string> lines;
          for (std::string& line : SplitAndTrim(value, '\n')) {
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
      if (!std::all_of(given.begin(), given.end(),
                       [&](const std::string& value) { return AcceptableText(where, value); })) {
        continue;
      }
      switch (spec->shape) {
        case Shape::kScalar:
          ApplyScalarText(*spec, given, ValueSource::kFlag, where, "--" + name);
          break;
        case Shape::kList: {
          std::vector<std::string> items;
          for (const std::string& value : given) {
            for (std::string& item : SplitAndTrim(value, ',')) items.push_back(std::move(item));
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

  // Flags and the environment hold what a YAML file could: no bytes that are not UTF-8, no
  // control character YAML refuses. Anything else could not be written to a config file, and
  // `check` could not print it so that it reads back as the same value.
  bool AcceptableText(const std::string& where, std::string_view value) {
    const std::string flaw = DescribeTextFlaw(value);
    if (flaw.empty()) return true;
    Problem(where, flaw + " (values are UTF-8 text without control characters, as in YAML)");
    return false;
  }

  // Environment and flag values arrive as text. A repeated scalar flag: the last one wins, but
  // every one must be valid.
  void ApplyScalarText(const KeySpec& spec, const std::vector<std::string>& values,
                       ValueSource source, const std::string& where, const std::string& place) {
    bool ok = true;
    for (const std::string& value : values) {
      std::string problem = SetScalar(spec, value);
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
    const std::string kind = MonitorKindName(monitor.kind);
    bool polls_url = monitor.kind == MonitorKind::kStatus || monitor.kind == MonitorKind::kJson ||
                     monitor.kind == MonitorKind::kPrometheus;
    if (polls_url && !config_.EffectiveMonitorUrl()) {
      // Blame the setting that emptied the URL when there is one: it is what the user changed.
      std::string blamed = IsSet("shutdown.drain.trigger.url") ? "shutdown.drain.trigger.url"
                                                               : "shutdown.drain.monitor.kind";
      Problem(WhereIs(blamed), "the " + kind +
                                   " monitor polls a URL, but shutdown.drain.monitor.url and "
                                   "shutdown.drain.trigger.url are both empty: set "
                                   "shutdown.drain.monitor.url (--monitor-url), or use monitor "
                                   "kind connections or none");
    }
    // lb_auto.* beside a fixed lb_delay are accepted and unused, as a later source may say auto.
    const LbDelay::Auto* lb_auto = config_.shutdown.lb_delay.auto_settings();
    if (lb_auto != nullptr && lb_auto->min > lb_auto->max) {
      Problem(
          WhereIs(IsSet("shutdown.lb_auto.min") ? "shutdown.lb_auto.min" : "shutdown.lb_auto.max"),
          "shutdown.lb_auto.min " + FormatDuration(lb_auto->min) +
              " is longer than shutdown.lb_auto.max " + FormatDuration(lb_auto->max));
    }
    if (lb_auto != nullptr && monitor.ports.empty()) {
      Problem(WhereIs("shutdown.drain.monitor.ports"),
              "lb_delay auto watches the app's ports, shutdown.drain.monitor.ports "
              "(--monitor-port): give at least one");
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
    for (int port : monitor.multiplexed_ports) {
      if (std::find(monitor.ports.begin(), monitor.ports.end(), port) == monitor.ports.end()) {
        Problem(WhereIs("shutdown.drain.monitor.multiplexed_ports"),
                "port " + std::to_string(port) +
                    " is not in shutdown.drain.monitor.ports (--monitor-port): a multiplexed "
                    "port must also be watched");
        break;
      }
    }
    if (monitor.kind == MonitorKind::kStatus && monitor.drained_status.empty()) {
      Problem(WhereIs("shutdown.drain.monitor.drained_status"),
              "the status monitor needs at least one status in "
              "shutdown.drain.monitor.drained_status (--drained-status), or it never sees "
              "the app drained");
    }
    if (monitor.long_poll.count() > 0 && monitor.kind != MonitorKind::kStatus) {
      Problem(WhereIs("shutdown.drain.monitor.long_poll"),
              "works with the status monitor only (the app holds GET ?wait=... until it is "
              "drained), not with monitor kind " +
                  kind + ": remove it or use kind status");
    }
    if (monitor.kind != MonitorKind::kNone && monitor.settle >= config_.shutdown.drain.timeout) {
      Problem(WhereIs("shutdown.drain.monitor.settle"),
              "settle " + FormatDuration(monitor.settle) +
                  " is not shorter than shutdown.drain.timeout " +
                  FormatDuration(config_.shutdown.drain.timeout) +
                  ": the app could never count as drained");
    }

    const ListenAddress& control = config_.control.value;
    const ListenAddress& listen = config_.listen.value;
    if (!control.IsLoopback() && config_.token_file.empty()) {
      Problem(WhereIs("control"),
              "a TCP control address beyond loopback needs token_file (--token-file): /prestop "
              "takes the pod out of service, so it must not be reachable from outside the pod "
              "without a token; use 127.0.0.1, or a unix socket",
              config_.control.text);
    }
    if (SameAddress(control, listen)) {
      bool blame_control = IsSet("control");
      Problem(WhereIs(blame_control ? "control" : "listen"),
              "control and listen are the same address; give /prestop its own (with a token, "
              "/prestop is also served on listen)",
              blame_control ? config_.control.text : config_.listen.text);
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
    if (!shutdown.lb_delay.is_auto() && shutdown.lb_delay.bound().count() == 0) {
      warnings.push_back(
          "shutdown.lb_delay is 0s: load balancers keep routing to the pod for a few seconds "
          "after it turns unready, and those requests may be refused");
    }
    return warnings;
  }

  const ConfigSources& sources_;
  Config config_;  // every key but those of lb_delay, which wait in lb_delay_
  LbDelayDraft lb_delay_;
  std::map<std::string, Origin> origins_;
  std::vector<std::string> problems_;
};

}  // namespace

ConfigError::ConfigError(std::string problem)
    : ConfigError(std::vector<std::string>{std::move(problem)}) {}

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(Join(problems, "\n")), problems_(std::move(problems)) {}

LoadedConfig LoadConfig(const ConfigSources& sources) { return Loader(sources).Load(); }

std::string FormatLoadedValue(const LoadedConfig& loaded, std::string_view key,
                              bool redact_secrets) {
  if (key.rfind("shutdown.lb_auto.", 0) != 0 || loaded.config.shutdown.lb_delay.is_auto()) {
    return FormatConfigValue(loaded.config, key, redact_secrets);
  }
  Config shown = loaded.config;
  shown.shutdown.lb_delay.value = loaded.lb_auto_given;
  return FormatConfigValue(shown, key, redact_secrets);
}

void ReadConfigSources(ConfigSources* sources) {
  if (!sources->yaml_path.empty()) sources->yaml_text = ReadConfigFile(sources->yaml_path);
}

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

}  // namespace lastcall

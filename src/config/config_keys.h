#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

// The configuration's keys, one table: each key's YAML path, flag, environment twin, help, and
// how its value is parsed into the Config and formatted back. The loader (config_loader.h) merges
// the sources through it; the CLI builds its flags and help from it; `check` prints with it.
namespace lastcall {

// One configuration key as the CLI and `check` present it.
struct ConfigKey {
  std::string key;           // dotted YAML path: "shutdown.drain.timeout"
  std::string flag;          // long flag without dashes: "drain-timeout"
  std::string env;           // its environment twin: "LASTCALL_DRAIN_TIMEOUT"
  std::string value_name;    // for help: "DURATION", "URL", "PORT", ...
  std::string help;          // one sentence
  std::string default_text;  // the default as help shows it: "5s", "none", "the trigger URL"
  bool repeatable = false;   // lists and headers: the flag may be given many times
  bool is_bool = false;      // the flag may be given without a value (meaning true)
};

// Every key, in the order of the YAML file's layout (sections contiguous).
const std::vector<ConfigKey>& ConfigKeys();

// The value of `key` in `config`, as YAML that LoadConfig reads back to the same value: durations
// as "1m30s", strings double-quoted, lists as "[a, b]", headers as a flow map. With
// `redact_secrets`, values of headers that look like credentials are replaced by "<redacted>".
// REQUIRES: key is one of ConfigKeys().
std::string FormatConfigValue(const Config& config, std::string_view key,
                              bool redact_secrets = false);

std::string_view ToString(ValueSource source);

// ---- the table as the loader uses it ------------------------------------------------------------

using Headers = std::vector<std::pair<std::string, std::string>>;

enum class Shape { kScalar, kList, kHeaders };

// shutdown.lb_delay and shutdown.lb_auto.* as the sources give them. `lb_delay: auto` and its
// bounds may come in any order (YAML key order; a file, then the environment, then flags), and a
// later source may turn auto back into a fixed delay, so the loader keeps them here while it
// reads and builds ShutdownConfig::lb_delay once, at the end.
struct LbDelayDraft {
  bool is_auto = false;
  LbDelay::Fixed fixed;
  LbDelay::Auto auto_settings;  // kept while lb_delay is fixed: a later `auto` takes them

  LbDelay Build() const { return is_auto ? LbDelay{auto_settings} : LbDelay{fixed}; }
};

struct KeySpec {
  ConfigKey info;
  Shape shape = Shape::kScalar;
  // Exactly one setter of `shape`; a scalar key of shutdown.lb_delay sets the draft instead.
  std::string (*set_scalar)(Config&, std::string_view) = nullptr;
  std::string (*set_lb_delay)(LbDelayDraft&, std::string_view) = nullptr;
  std::string (*set_list)(Config&, const std::vector<std::string>&, size_t* bad) = nullptr;
  std::string (*set_headers)(Config&, const Headers&, size_t* bad) = nullptr;
  std::string (*format)(const Config&) = nullptr;
};

// Every key's spec, in ConfigKeys() order.
const std::vector<KeySpec>& KeySpecs();
// The spec of the dotted `key`, or nullptr.
const KeySpec* FindSpec(std::string_view key);
// The names that may appear directly under `section` ("" for the top level), in table order.
std::vector<std::string> ChildrenOf(const std::string& section);
// True when `name` is a section (a prefix of keys), not a key.
bool IsSection(const std::string& name);
// "shutdown.drain.timeout" -> "shutdown: {drain: {timeout: ...}}"
std::string NestedForm(const std::string& dotted);
// "Name: value" -> {"Name", "value"}, trimmed; nullopt without a colon.
std::optional<std::pair<std::string, std::string>> SplitHeader(std::string_view text);
// The YAML name of a monitor kind ("status", "json", ...).
std::string MonitorKindName(MonitorKind kind);

}  // namespace lastcall

// LoadConfig over arbitrary YAML text. Its contract: a Config, or a ConfigError listing the
// problems. Any other exception (yaml-cpp's, std::out_of_range, ...) escaping it would reach
// main's catch-all instead of a clear message, so it is a bug: libFuzzer reports it as a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config_loader.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::fuzz::Require;
  lastcall::ConfigSources sources;
  sources.yaml_text.assign(reinterpret_cast<const char*>(data), size);
  sources.yaml_path = "fuzz.yaml";
  lastcall::LoadedConfig loaded;
  try {
    loaded = lastcall::LoadConfig(sources);
  } catch (const lastcall::ConfigError& e) {
    Require(!e.problems().empty(), "a ConfigError names at least one problem");
    return 0;
  }
  // What `lastcall check` prints must read back to the same value, key by key (the keys the
  // input set: the defaults are table-tested, and reloading each costs executions).
  for (const lastcall::ConfigKey& key : lastcall::ConfigKeys()) {
    if (loaded.sources.at(key.key) != lastcall::ValueSource::kFile) continue;
    const std::string value = lastcall::FormatConfigValue(loaded.config, key.key);
    std::string yaml;
    std::string indent;
    size_t start = 0;
    for (;;) {
      const size_t dot = key.key.find('.', start);
      if (dot == std::string::npos) break;
      yaml += indent + key.key.substr(start, dot - start) + ":\n";
      indent += "  ";
      start = dot + 1;
    }
    yaml += indent + key.key.substr(start) + ": " + value + "\n";
    lastcall::ConfigSources single;
    single.yaml_text = yaml;
    single.yaml_path = "roundtrip.yaml";
    try {
      const lastcall::LoadedConfig again = lastcall::LoadConfig(single);
      Require(lastcall::FormatConfigValue(again.config, key.key) == value,
              "FormatConfigValue -> LoadConfig keeps the value");
    } catch (const lastcall::ConfigError&) {
      // A value valid beside its siblings can be invalid alone (a token file that TCP control
      // requires, a monitor URL a kind needs): only the reread value is checked, when it loads.
    }
  }
  return 0;
}

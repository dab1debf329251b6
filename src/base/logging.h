#pragma once

#include <atomic>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/phase.h"

// Structured logging to stderr. Text: `2026-11-24T23:59:01.123Z info  [draining] msg k=v`.
// JSON: one object per line {"time","level","msg","phase", ...fields}. The phase comes from a
// process-wide source set once at wiring time, so every line carries it without callers passing it.
namespace lastcall {

enum class LogFormat { kText, kJson };
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

// A field value is kept as text plus whether it is a JSON number/bool (written unquoted).
struct LogField {
  std::string key;
  std::string value;
  bool raw = false;  // number or bool: unquoted in JSON
  LogField(std::string k, std::string_view v) : key(std::move(k)), value(v) {}
  LogField(std::string k, const char* v) : key(std::move(k)), value(v) {}
  LogField(std::string k, const std::string& v) : key(std::move(k)), value(v) {}
  LogField(std::string k, bool v) : key(std::move(k)), value(v ? "true" : "false"), raw(true) {}
  LogField(std::string k, int v) : key(std::move(k)), value(std::to_string(v)), raw(true) {}
  LogField(std::string k, long v) : key(std::move(k)), value(std::to_string(v)), raw(true) {}
  LogField(std::string k, long long v) : key(std::move(k)), value(std::to_string(v)), raw(true) {}
  LogField(std::string k, unsigned long v)
      : key(std::move(k)), value(std::to_string(v)), raw(true) {}
  LogField(std::string k, double v);
};
using LogFields = std::vector<LogField>;

// Configures the process logger (stderr): lines below `level` are dropped.
void InitLogging(LogFormat format, LogLevel level);
// Where whole lines go instead of stderr (each without its newline), for tests; an empty function
// restores stderr. Lines are handed over one at a time, in order, under the logger's lock.
using LogSink = std::function<void(std::string_view line)>;
void SetLogSink(LogSink sink);
// Where log lines read the current phase from. `source` must outlive logging.
void SetLogPhaseSource(const std::atomic<Phase>* source);

void Log(LogLevel level, std::string_view msg, const LogFields& fields = {});
inline void LogInfo(std::string_view msg, const LogFields& fields = {}) {
  Log(LogLevel::kInfo, msg, fields);
}
inline void LogWarn(std::string_view msg, const LogFields& fields = {}) {
  Log(LogLevel::kWarn, msg, fields);
}
inline void LogError(std::string_view msg, const LogFields& fields = {}) {
  Log(LogLevel::kError, msg, fields);
}
inline void LogDebug(std::string_view msg, const LogFields& fields = {}) {
  Log(LogLevel::kDebug, msg, fields);
}

// Pure formatters, exposed for tests.
std::string FormatTextLine(std::string_view time, LogLevel level, Phase phase, std::string_view msg,
                           const LogFields& fields);
std::string FormatJsonLine(std::string_view time, LogLevel level, Phase phase, std::string_view msg,
                           const LogFields& fields);

}  // namespace lastcall

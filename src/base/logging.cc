#include "base/logging.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/last_resort.h"
#include "base/text.h"

namespace lastcall {
namespace {

std::atomic<const std::atomic<Phase>*> g_phase_source{nullptr};
std::atomic<LogFormat> g_format{LogFormat::kText};
std::atomic<LogLevel> g_level{LogLevel::kInfo};
// One line at a time, whole: lines from several threads never interleave. Not spdlog: lastcall
// formats every line itself, and a logger library's pattern formatter links the C library's time
// zone code (tzset, and sscanf with it), which every pod would keep resident.
std::mutex g_write_mu;
LogSink g_sink;  // GUARDED_BY(g_write_mu): empty means stderr

void WriteLine(std::string line) {
  std::lock_guard lock(g_write_mu);
  if (g_sink) {
    g_sink(line);
    return;
  }
  line += '\n';  // one write for the whole line
  WriteToStderr(line);
}

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// Text values with spaces or quotes are quoted so that lines stay machine-splittable.
std::string QuoteIfNeeded(const std::string& value) {
  if (!value.empty() && value.find_first_of(" \t\"=\n") == std::string::npos) return value;
  return nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

LogField::LogField(std::string k, double v) : key(std::move(k)), raw(true) {
  if (std::isfinite(v)) {
    value = fmt::format("{}", v);
  } else {
    value = std::isnan(v) ? "\"NaN\"" : (v > 0 ? "\"+Inf\"" : "\"-Inf\"");
  }
}

std::string FormatTextLine(std::string_view time, LogLevel level, Phase phase, std::string_view msg,
                           const LogFields& fields) {
  std::string line = fmt::format("{} {:<5} [{}] {}", time, LevelName(level), ToString(phase), msg);
  for (const auto& field : fields) {
    line += ' ';
    line += field.key;
    line += '=';
    line += field.raw ? field.value : QuoteIfNeeded(field.value);
  }
  return line;
}

std::string FormatJsonLine(std::string_view time, LogLevel level, Phase phase, std::string_view msg,
                           const LogFields& fields) {
  nlohmann::ordered_json line;
  line["time"] = time;
  line["level"] = LevelName(level);
  line["msg"] = msg;
  line["phase"] = ToString(phase);
  for (const auto& field : fields) {
    if (field.raw) {
      auto parsed = nlohmann::ordered_json::parse(field.value, nullptr, false);
      line[field.key] = parsed.is_discarded() ? nlohmann::ordered_json(field.value) : parsed;
    } else {
      line[field.key] = field.value;
    }
  }
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void InitLogging(LogFormat format, LogLevel level) {
  g_level = level;
  g_format = format;
}

void SetLogSink(LogSink sink) {
  std::lock_guard lock(g_write_mu);
  g_sink = std::move(sink);
}

void SetLogPhaseSource(const std::atomic<Phase>* source) { g_phase_source = source; }

void Log(LogLevel level, std::string_view msg, const LogFields& fields) {
  if (level < g_level.load()) return;
  const auto* source = g_phase_source.load();
  const Phase phase = source != nullptr ? source->load() : Phase::kServing;
  const std::string time = FormatUtcTimestamp(std::chrono::system_clock::now());
  WriteLine(g_format == LogFormat::kJson ? FormatJsonLine(time, level, phase, msg, fields)
                                         : FormatTextLine(time, level, phase, msg, fields));
}

}  // namespace lastcall

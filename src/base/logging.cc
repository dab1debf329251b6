#include "base/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/text.h"

namespace lastcall {
namespace {

std::atomic<const std::atomic<Phase>*> g_phase_source{nullptr};
std::atomic<LogFormat> g_format{LogFormat::kText};

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

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
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
  auto logger = spdlog::get("lastcall");
  if (!logger) {
    logger = std::make_shared<spdlog::logger>("lastcall",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%v");
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  logger->set_level(ToSpdlog(level));
  g_format = format;
}

void SetLogPhaseSource(const std::atomic<Phase>* source) { g_phase_source = source; }

void Log(LogLevel level, std::string_view msg, const LogFields& fields) {
  auto logger = spdlog::default_logger_raw();
  if (!logger->should_log(ToSpdlog(level))) return;
  const auto* source = g_phase_source.load();
  const Phase phase = source != nullptr ? source->load() : Phase::kServing;
  const std::string time = FormatUtcTimestamp(std::chrono::system_clock::now());
  const std::string line = g_format == LogFormat::kJson
                               ? FormatJsonLine(time, level, phase, msg, fields)
                               : FormatTextLine(time, level, phase, msg, fields);
  logger->log(ToSpdlog(level), "{}", line);
}

}  // namespace lastcall

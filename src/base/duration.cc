#include "base/duration.h"

#include <cstdint>

#include "base/text.h"

namespace lastcall {
namespace {

constexpr std::string_view kExamples = "such as 5s, 250ms or 1m30s";

// Milliseconds per unit, or 0 when the unit is not one lastcall accepts.
int64_t UnitMillis(std::string_view unit) {
  if (unit == "h") return 3'600'000;
  if (unit == "m") return 60'000;
  if (unit == "s") return 1'000;
  if (unit == "ms") return 1;
  return 0;
}

bool IsSubMillisecondUnit(std::string_view unit) {
  // "\u00b5s" (micro sign) and "\u03bcs" (Greek mu) are both what people type for microseconds.
  return unit == "us" || unit == "ns" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs";
}

// Any number with more significant digits than this exceeds kMaxDuration in every unit, and
// 10^12 * 3'600'000 still fits in int64_t, so terms are computed without overflow checks.
constexpr size_t kMaxSignificantDigits = 12;

int64_t DigitsValue(std::string_view digits) {
  int64_t value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value;
}

std::string TooLong() {
  return "longer than " + FormatDuration(kMaxDuration) +
         ", the maximum: no shutdown step should take that long";
}

bool Fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

// Parses one <number><unit> term at the front of *rest and adds it to *total.
bool ParseTerm(std::string_view* rest, int64_t* total, std::string* error) {
  std::string_view text = *rest;
  size_t pos = 0;
  while (pos < text.size() && IsDigit(text[pos])) ++pos;
  std::string_view whole = text.substr(0, pos);
  std::string_view fraction;
  if (pos < text.size() && text[pos] == '.') {
    size_t start = ++pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    fraction = text.substr(start, pos - start);
  }
  std::string_view number = text.substr(0, pos);
  if (whole.empty() && fraction.empty()) {
    if (IsBlank(text.front())) return Fail(error, "spaces are not allowed inside a duration");
    if (text.front() == '-') return Fail(error, "negative durations are not allowed");
    return Fail(error, "expected a number before \"" + std::string(text) + "\" (durations look " +
                           "like 5s, 250ms or 1m30s)");
  }

  size_t unit_start = pos;
  while (pos < text.size() && !IsDigit(text[pos]) && text[pos] != '.' && !IsBlank(text[pos])) {
    ++pos;
  }
  std::string_view unit = text.substr(unit_start, pos - unit_start);
  if (unit.empty()) {
    return Fail(error, "missing unit after \"" + std::string(number) + "\" (units: h, m, s, ms)");
  }
  if (IsSubMillisecondUnit(unit)) {
    return Fail(error, "unit \"" + std::string(unit) +
                           "\" is finer than lastcall's millisecond resolution: use ms");
  }
  int64_t unit_millis = UnitMillis(unit);
  if (unit_millis == 0) {
    return Fail(error, "unknown unit \"" + std::string(unit) + "\" (units: h, m, s, ms)");
  }

  while (!whole.empty() && whole.front() == '0') whole.remove_prefix(1);
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (whole.size() > kMaxSignificantDigits) return Fail(error, TooLong());
  // A fraction of more than 7 significant digits never gives whole milliseconds in any unit
  // (3'600'000 = 2^7 * 3^2 * 5^5), so kMaxSignificantDigits is a safe cut-off here too.
  if (fraction.size() > kMaxSignificantDigits) {
    return Fail(error, "finer than a millisecond: lastcall has millisecond resolution");
  }
  int64_t fraction_scale = 1;
  for (size_t i = 0; i < fraction.size(); ++i) fraction_scale *= 10;
  int64_t fraction_millis = DigitsValue(fraction) * unit_millis;
  if (fraction_millis % fraction_scale != 0) {
    return Fail(error, "finer than a millisecond: lastcall has millisecond resolution");
  }
  *total += DigitsValue(whole) * unit_millis + fraction_millis / fraction_scale;
  if (*total > kMaxDuration.count()) return Fail(error, TooLong());
  rest->remove_prefix(pos);
  return true;
}

}  // namespace

std::optional<Millis> ParseDuration(std::string_view text, std::string* error) {
  text = TrimSpace(text);
  if (text.empty()) {
    Fail(error, "empty duration: write a number and a unit, " + std::string(kExamples));
    return std::nullopt;
  }
  if (text.front() == '-') {
    Fail(error, "negative durations are not allowed");
    return std::nullopt;
  }
  if (text.front() == '+') {
    text.remove_prefix(1);
    if (text.empty()) {
      Fail(error, "expected a number after \"+\"");
      return std::nullopt;
    }
  }
  // Go's one exception to "every number needs a unit": zero is zero in any unit.
  if (text == "0") return Millis{0};
  int64_t total = 0;
  while (!text.empty()) {
    if (!ParseTerm(&text, &total, error)) return std::nullopt;
  }
  return Millis{total};
}

std::string FormatDuration(Millis duration) {
  int64_t millis = duration.count();
  if (millis < 0) return "-" + FormatDuration(Millis{-millis});
  if (millis == 0) return "0s";
  if (millis < 1000) return std::to_string(millis) + "ms";
  std::string out;
  int64_t hours = millis / 3'600'000;
  int64_t minutes = millis / 60'000 % 60;
  int64_t seconds = millis / 1000 % 60;
  int64_t rest = millis % 1000;
  if (hours != 0) out += std::to_string(hours) + "h";
  if (minutes != 0) out += std::to_string(minutes) + "m";
  if (seconds != 0 || rest != 0) {
    out += std::to_string(seconds);
    if (rest != 0) {
      std::string digits = std::to_string(rest);
      digits.insert(0, 3 - digits.size(), '0');
      while (digits.back() == '0') digits.pop_back();
      out += "." + digits;
    }
    out += "s";
  }
  return out;
}

}  // namespace lastcall

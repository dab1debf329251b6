#include "base/byte_size.h"

#include <array>
#include <utility>

#include "base/text.h"

namespace lastcall {
namespace {

struct Unit {
  std::string_view name;
  size_t factor;
};
constexpr std::array<Unit, 7> kUnits{{{"B", 1},
                                      {"KiB", size_t{1} << 10},
                                      {"Ki", size_t{1} << 10},
                                      {"MiB", size_t{1} << 20},
                                      {"Mi", size_t{1} << 20},
                                      {"GiB", size_t{1} << 30},
                                      {"Gi", size_t{1} << 30}}};

}  // namespace

std::optional<size_t> ParseByteSize(std::string_view text, std::string* error) {
  text = TrimSpace(text);
  if (text.empty()) {
    *error = "empty (expected a size such as 4MiB)";
    return std::nullopt;
  }
  size_t digits = 0;
  size_t value = 0;
  bool overflow = false;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    value = value * 10 + static_cast<size_t>(text[digits] - '0');
    overflow = overflow || value > kMaxByteSize;
    if (overflow) value = kMaxByteSize + 1;  // saturate: the range check below reports it
    ++digits;
  }
  if (digits == 0) {
    *error = "expected a number of bytes, optionally with a unit (B, KiB, MiB, GiB)";
    return std::nullopt;
  }
  const std::string_view unit_text = TrimSpace(text.substr(digits));
  size_t factor = 1;
  if (!unit_text.empty()) {
    factor = 0;
    for (const Unit& unit : kUnits) {
      if (unit.name == unit_text) factor = unit.factor;
    }
    if (factor == 0) {
      *error = "unknown unit \"" + std::string(unit_text) + "\" (units: B, KiB, MiB, GiB)";
      return std::nullopt;
    }
  }
  if (overflow || value > kMaxByteSize / factor || value * factor > kMaxByteSize ||
      value * factor < kMinByteSize) {
    *error = "must be between 1KiB and 1GiB";
    return std::nullopt;
  }
  return value * factor;
}

std::string FormatByteSize(size_t bytes) {
  for (const auto& [name, factor] : {std::pair<std::string_view, size_t>{"GiB", size_t{1} << 30},
                                     {"MiB", size_t{1} << 20},
                                     {"KiB", size_t{1} << 10}}) {
    if (bytes >= factor && bytes % factor == 0) {
      return std::to_string(bytes / factor) + std::string(name);
    }
  }
  return std::to_string(bytes) + "B";
}

}  // namespace lastcall

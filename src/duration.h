#pragma once
// TEMPORARY stub until the config branch lands.
#include <optional>
#include <string>
#include <string_view>

#include "config.h"

namespace lastcall {
std::optional<Millis> ParseDuration(std::string_view text, std::string* error);
std::string FormatDuration(Millis d);
}  // namespace lastcall

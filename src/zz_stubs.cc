// TEMPORARY stubs until the config and http branches land.
#include <fmt/format.h>

#include "duration.h"
#include "http_client.h"

namespace lastcall {
std::optional<Millis> ParseDuration(std::string_view, std::string*) { return std::nullopt; }
std::string FormatDuration(Millis d) { return fmt::format("{}ms", d.count()); }
}  // namespace lastcall

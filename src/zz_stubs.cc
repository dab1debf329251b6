// TEMPORARY stubs until the config and http branches land.
#include <fmt/format.h>

#include "duration.h"
#include "http_client.h"

namespace lastcall {
std::optional<Millis> ParseDuration(std::string_view, std::string*) { return std::nullopt; }
std::string FormatDuration(Millis d) { return fmt::format("{}ms", d.count()); }
std::optional<Url> ParseUrl(std::string_view text, std::string*) {
  Url url;
  url.target = std::string(text);
  return url;
}
}  // namespace lastcall
namespace lastcall {
std::string_view ToString(HttpError) { return "error"; }
}  // namespace lastcall

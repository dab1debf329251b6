// TEMPORARY: a minimal ParseUrl/ParseListenAddress so config tests link before http_client.cc
// lands from the http helper. DELETE before merging.
#include <charconv>

#include "http_client.h"

namespace lastcall {
namespace {
bool ParsePortText(std::string_view text, uint16_t* port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}
bool SplitHostPort(std::string_view text, std::string* host, uint16_t* port, std::string* error) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    *error = "missing port";
    return false;
  }
  std::string_view h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  *host = std::string(h);
  if (!ParsePortText(text.substr(colon + 1), port)) {
    *error = "invalid port";
    return false;
  }
  return true;
}
}  // namespace

std::string Url::ToString() const { return "stub"; }

std::optional<Url> ParseUrl(std::string_view text, std::string* error) {
  Url url;
  if (text.substr(0, 7) == "unix://") {
    url.scheme = Url::Scheme::kUnix;
    url.socket_path = std::string(text.substr(7));
    if (url.socket_path.empty() || url.socket_path[0] != '/') {
      *error = "unix socket path must be absolute";
      return std::nullopt;
    }
    return url;
  }
  if (text.substr(0, 7) != "http://") {
    *error = "scheme is not supported: use http:// or unix://";
    return std::nullopt;
  }
  text.remove_prefix(7);
  size_t slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  if (slash != std::string_view::npos) url.target = std::string(text.substr(slash));
  if (!SplitHostPort(authority, &url.host, &url.port, error)) return std::nullopt;
  if (url.host.empty()) {
    *error = "missing host";
    return std::nullopt;
  }
  return url;
}

bool ListenAddress::IsLoopback() const {
  return is_unix || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}
std::string ListenAddress::ToString() const { return "stub"; }

std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error) {
  ListenAddress address;
  if (text.substr(0, 7) == "unix://") {
    address.is_unix = true;
    address.socket_path = std::string(text.substr(7));
    if (address.socket_path.empty() || address.socket_path[0] != '/') {
      *error = "unix socket path must be absolute";
      return std::nullopt;
    }
    return address;
  }
  if (!SplitHostPort(text, &address.host, &address.port, error)) return std::nullopt;
  return address;
}

}  // namespace lastcall

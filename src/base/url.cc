// ParseUrl and ParseListenAddress: pure parsers over strings, so they are table-tested with exact
// error messages (url_test.cc) and safe to fuzz.
#include "base/url.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "base/net_util.h"

namespace lastcall {
namespace {

// sun_path holds the path and its terminating NUL.
constexpr size_t kMaxSocketPathBytes = sizeof(sockaddr_un::sun_path) - 1;

// Quotes user input for an error message; control bytes become \xNN so a log line stays one line.
std::string QuoteHex(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '"' || c == '\\') {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

bool IsIpv4Literal(const std::string& host) {
  in_addr address{};
  return inet_pton(AF_INET, host.c_str(), &address) == 1;
}

bool IsIpv6Literal(const std::string& host) {
  in6_addr address{};
  return inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

// Returns "" when `digits` is a port in [min_port, 65535], else the problem.
std::string ParsePort(std::string_view digits, unsigned min_port, uint16_t* port) {
  if (digits.empty()) return "missing port after ':'";
  unsigned long value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return "port " + QuoteHex(digits) + " is not a number";
    // Saturate instead of overflowing on absurdly long digit strings.
    if (value <= 65535) value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value < min_port || value > 65535) {
    return "port " + std::string(digits) + " is out of range (" + std::to_string(min_port) +
           "-65535)";
  }
  *port = static_cast<uint16_t>(value);
  return "";
}

// Splits "host:port" or "[v6]:port" (brackets stripped). `port_text` is nullopt when there is no
// ':' after the host. Returns "" or the problem.
std::string SplitHostPort(std::string_view authority, std::string* host,
                          std::optional<std::string_view>* port_text) {
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return "missing ']' after IPv6 address";
    *host = std::string(authority.substr(1, close - 1));
    if (host->empty()) return "missing host";
    if (!IsIpv6Literal(*host)) return QuoteHex(*host) + " is not an IPv6 address";
    std::string_view rest = authority.substr(close + 1);
    if (rest.empty()) return "";
    if (rest.front() != ':') return "unexpected " + QuoteHex(rest) + " after ']'";
    *port_text = rest.substr(1);
    return "";
  }
  size_t colon = authority.find(':');
  if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos) {
    return "IPv6 addresses must be written in brackets, e.g. [::1]:8080";
  }
  *host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos) *port_text = authority.substr(colon + 1);
  return "";
}

bool HasControlOrSpace(std::string_view text) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return true;
  }
  return false;
}

std::string FormatHostPort(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace

std::string ValidateSocketPath(std::string_view path) {
  if (path.empty()) return "missing socket path";
  if (path.find('\0') != std::string_view::npos) return "socket path contains a NUL byte";
  if (path.front() != '/') return "socket path " + QuoteHex(path) + " must be absolute";
  if (path.back() == '/') return "socket path " + QuoteHex(path) + " names a directory";
  if (path.size() > kMaxSocketPathBytes) {
    return "socket path is " + std::to_string(path.size()) + " bytes long, the limit is " +
           std::to_string(kMaxSocketPathBytes);
  }
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") {
      return "socket path " + QuoteHex(path) + " must not contain '..'";
    }
    start = end + 1;
  }
  return "";
}

std::string Url::ToString() const {
  if (scheme == Scheme::kUnix) {
    std::string text = "unix://" + socket_path;
    // unix:// URLs have no path part; show the request target beside the socket for logs.
    if (target != "/") text += " " + target;
    return text;
  }
  return "http://" + FormatHostPort(host, port) + target;
}

std::optional<Url> ParseUrl(std::string_view text, std::string* error) {
  auto fail = [&](const std::string& problem) -> std::optional<Url> {
    *error = "invalid URL " + QuoteHex(text) + ": " + problem;
    return std::nullopt;
  };
  if (text.empty()) return fail("empty");
  if (HasControlOrSpace(text)) return fail("contains a space or control character");
  size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail("missing scheme (expected http:// or unix://)");
  }
  std::string_view scheme = text.substr(0, scheme_end);
  std::string_view rest = text.substr(scheme_end + 3);
  if (text.find('#') != std::string_view::npos) return fail("fragments (#...) are not supported");

  Url url;
  if (EqualsIgnoreCase(scheme, "unix")) {
    std::string problem = ValidateSocketPath(rest);
    if (!problem.empty()) return fail(problem);
    url.scheme = Url::Scheme::kUnix;
    url.socket_path = std::string(rest);
    return url;
  }
  if (EqualsIgnoreCase(scheme, "https")) {
    return fail(
        "scheme https is not supported: lastcall talks to the app inside the pod over loopback, "
        "use http://");
  }
  if (!EqualsIgnoreCase(scheme, "http")) {
    return fail("scheme " + QuoteHex(scheme) + " is not supported (expected http:// or unix://)");
  }

  size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return fail("credentials (user@host) are not supported");
  }
  std::optional<std::string_view> port_text;
  std::string problem = SplitHostPort(authority, &url.host, &port_text);
  if (!problem.empty()) return fail(problem);
  if (url.host.empty()) return fail("missing host");
  if (url.host.find(':') == std::string::npos) {
    for (char c : url.host) {
      if (!IsHostNameChar(c)) return fail("host " + QuoteHex(url.host) + " is not a valid name");
    }
    // Names other than localhost would need the resolver: the static binary has none (no NSS
    // modules in a FROM-scratch image), and getaddrinfo cannot be bounded by a deadline. The
    // app is in the same pod, so an IP literal always names it.
    if (!IsIpv4Literal(url.host) && !EqualsIgnoreCase(url.host, "localhost")) {
      return fail("host " + Quote(url.host) +
                  " must be an IP address or localhost (lastcall does not resolve names: the app "
                  "runs in the same pod, use 127.0.0.1)");
    }
  }
  if (port_text) {
    problem = ParsePort(*port_text, 1, &url.port);
    if (!problem.empty()) return fail(problem);
  }
  if (authority_end != std::string_view::npos) {
    std::string_view target = rest.substr(authority_end);
    url.target = target.front() == '?' ? "/" + std::string(target) : std::string(target);
  }
  return url;
}

bool ListenAddress::IsLoopback() const {
  if (is_unix) return true;
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_V4MAPPED(&v6)) {
    return v6.s6_addr[12] == 127;
  }
  return false;
}

std::string ListenAddress::ToString() const {
  if (is_unix) return "unix://" + socket_path;
  if (host.empty()) return ":" + std::to_string(port);
  return FormatHostPort(host, port);
}

std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error) {
  auto fail = [&](const std::string& problem) -> std::optional<ListenAddress> {
    *error = "invalid listen address " + QuoteHex(text) + ": " + problem;
    return std::nullopt;
  };
  constexpr std::string_view kExpected = "(expected HOST:PORT, :PORT or unix:///path)";
  if (text.empty()) return fail(std::string("empty ") + std::string(kExpected));
  if (HasControlOrSpace(text)) return fail("contains a space or control character");

  ListenAddress address;
  if (text.starts_with("unix://")) {
    std::string_view path = text.substr(7);
    std::string problem = ValidateSocketPath(path);
    if (!problem.empty()) return fail(problem);
    address.is_unix = true;
    address.socket_path = std::string(path);
    return address;
  }
  if (text.find("://") != std::string_view::npos) {
    return fail(std::string("only unix:// may carry a scheme ") + std::string(kExpected));
  }
  std::optional<std::string_view> port_text;
  std::string problem = SplitHostPort(text, &address.host, &port_text);
  if (!problem.empty()) return fail(problem);
  if (!port_text) return fail(std::string("missing port ") + std::string(kExpected));
  if (!address.host.empty() && address.host != "localhost" && !IsIpv4Literal(address.host) &&
      !IsIpv6Literal(address.host)) {
    return fail("host " + QuoteHex(address.host) + " must be an IP address or localhost");
  }
  problem = ParsePort(*port_text, 0, &address.port);
  if (!problem.empty()) return fail(problem);
  return address;
}

}  // namespace lastcall

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// Where lastcall connects (Url) and where it listens (ListenAddress): pure parsers with messages
// that name what is wrong. The HTTP client and server, and the config loader, use them.
namespace lastcall {

// A parsed target: http://host:port/path?query or unix:///path/to.sock (path "/" on the socket).
struct Url {
  enum class Scheme { kHttp, kUnix };
  Scheme scheme = Scheme::kHttp;
  std::string host;  // IP literal or "localhost", brackets stripped for IPv6; empty for unix
  uint16_t port = 80;
  std::string socket_path;   // unix only
  std::string target = "/";  // path and query sent in the request line

  std::string ToString() const;  // for logs; never contains credentials (there are none)
};

// Parses an http:// or unix:// URL. The host must be an IP literal or localhost: names are not
// resolved. Returns nullopt and sets *error to a sentence that names what is wrong ("missing
// port", "scheme https is not supported: ...") on failure. Pure.
std::optional<Url> ParseUrl(std::string_view text, std::string* error);

// Parses a listen address: ":9901", "127.0.0.1:9901", "[::1]:9901", "0.0.0.0:9901",
// "unix:///path.sock". ":PORT" means all interfaces. Pure.
struct ListenAddress {
  bool is_unix = false;
  std::string host;         // "" = all interfaces (dual-stack when possible)
  uint16_t port = 0;        // 0 = pick a free port
  std::string socket_path;  // unix only; must be absolute, no ".." components
  bool IsLoopback() const;  // 127.0.0.0/8, ::1, localhost; unix sockets count as loopback
  std::string ToString() const;
};
std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error);

// Returns "" when `path` is usable as a Unix socket path (absolute, no ".." component, no NUL,
// fits sockaddr_un's 107 bytes), else the problem. Used by both parsers and HttpServer::Listen.
std::string ValidateSocketPath(std::string_view path);

}  // namespace lastcall

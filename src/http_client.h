#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// A small blocking HTTP/1.1 client for lastcall's own outbound calls (drain trigger, monitors,
// readiness upstream, `lastcall prestop`). Why not cpp-httplib: its timeouts are per read, so an
// app that trickles one byte a second would hold a call forever; lastcall must never wait past a
// deadline. Every call here has one absolute deadline for connect + send + receive.
namespace lastcall {

using Deadline = std::chrono::steady_clock::time_point;

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

struct HttpRequest {
  std::string method = "GET";
  Url url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

enum class HttpError {
  kNone,       // a complete response arrived (any status)
  kRefused,    // connection refused / socket file missing: nobody listens
  kTimeout,    // the deadline passed (connect, send or receive)
  kReset,      // the peer closed or reset before a complete response
  kMalformed,  // the answer is not HTTP/1.x, or a header/body exceeds the client's limits
  kOther,      // anything else (name resolution, unreachable network, too many open files)
};
std::string_view ToString(HttpError error);

struct HttpResponse {
  HttpError error = HttpError::kNone;
  std::string error_detail;  // human sentence when error != kNone (includes errno text)
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool ok() const { return error == HttpError::kNone; }
};

// The seam tests fake: the shutdown sequence and monitors take an HttpClient&.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Sends one request on a fresh connection ("Connection: close") and reads the whole answer.
  // Never blocks past `deadline`. Thread-safe.
  virtual HttpResponse Send(const HttpRequest& request, Deadline deadline) = 0;
};

// The real client over POSIX sockets (TCP v4/v6 and Unix domain). Response bodies over
// max_body_bytes (the config's max_body; kMaxBodyBytes by default) and headers over
// kMaxHeaderBytes are kMalformed, found while reading: an app cannot make lastcall buffer
// without bound. Supports Content-Length, chunked, and read-until-close bodies.
// Sends Host, User-Agent (both overridable), Connection: close and, with a body or for
// POST/PUT/PATCH, Content-Length; caller headers named Connection, Content-Length or
// Transfer-Encoding are dropped, and header values with CR/LF/NUL make the call kOther. Hosts
// are IP literals or "localhost" (127.0.0.1, then ::1); names are never resolved (kOther), as
// getaddrinfo cannot be bounded by the deadline.
class PosixHttpClient final : public HttpClient {
 public:
  static constexpr size_t kMaxHeaderBytes = 16 * 1024;
  static constexpr size_t kMaxBodyBytes = 4 * 1024 * 1024;  // Config::max_body_bytes's default
  explicit PosixHttpClient(size_t max_body_bytes = kMaxBodyBytes)
      : max_body_bytes_(max_body_bytes) {}
  HttpResponse Send(const HttpRequest& request, Deadline deadline) override;

 private:
  size_t max_body_bytes_;
};

}  // namespace lastcall

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/url.h"

// A small blocking HTTP/1.1 client for lastcall's own outbound calls (drain trigger, monitors,
// readiness upstream, `lastcall prestop`). Why not cpp-httplib: its timeouts are per read, so an
// app that trickles one byte a second would hold a call forever; lastcall must never wait past a
// deadline. Every call here has one absolute deadline for connect + send + receive.
namespace lastcall {

using Deadline = std::chrono::steady_clock::time_point;

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

// Wraps another client for the threads that have nobody to report an exception to (the drain
// trigger's background thread, the readiness gate): an exception out of `inner` (std::bad_alloc
// under a memory limit) becomes a kOther answer naming it, which the caller treats as a failed
// call (retried, or not ready), instead of ending the process.
class NoThrowHttpClient final : public HttpClient {
 public:
  explicit NoThrowHttpClient(std::shared_ptr<HttpClient> inner) : inner_(std::move(inner)) {}
  HttpResponse Send(const HttpRequest& request, Deadline deadline) override;

 private:
  std::shared_ptr<HttpClient> inner_;
};

}  // namespace lastcall

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/http_message.h"

// A small blocking HTTP/1.1 client for lastcall's own outbound calls (drain trigger, monitors,
// readiness upstream, `lastcall prestop`). Why not cpp-httplib: its timeouts are per read, so an
// app that trickles one byte a second would hold a call forever; lastcall must never wait past a
// deadline. Every call here has one absolute deadline for connect + send + receive.
namespace lastcall {

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
  static constexpr size_t kMaxHeaderBytes = kMaxResponseHeaderBytes;
  static constexpr size_t kMaxBodyBytes = kMaxResponseBodyBytes;
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

#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "http/http_message.h"

// A small, hardened HTTP/1.1 server on one epoll thread, for lastcall's probe and control
// listeners. Why not a thread-per-connection server: a thousand slow or idle connections must not
// delay the kubelet's /readyz, and a blocking /prestop must not hold a thread.
//
// Hardening: a whole request (line + headers + body) must arrive within request_timeout of its
// first byte; idle keep-alive connections close after idle_timeout; at the connection limit (see
// HttpServerOptions::reserved_descriptors) the connection that has been waiting longest without a
// complete request is closed to admit the new one; request line + headers over max_header_bytes
// get 431, bodies over max_body_bytes get 413; a connection serves at most
// max_requests_per_connection requests. A client that half-closes after a request that waits
// (a /prestop) still gets its answer: half-close is not abort. A client that resets or closes
// (a hang-up the kernel reports as such: always on a Unix socket, on TCP a reset) while its
// request waits is closed at once, and the handler hears it (Responder::OnCallerLeft). An
// exception while serving a connection (std::bad_alloc under a memory limit, or the handler's)
// closes that connection with one line on stderr; the server goes on.
namespace lastcall {

struct HttpServerOptions {
  std::string name = "http";  // for logs: "probe" or "control"
  size_t max_connections = 1024;
  // Descriptors this server leaves to the rest of the process (the other listener and its
  // clients, outbound trigger and monitor connections, the state file). The server holds at most
  // ConnectionBudget(RLIMIT_NOFILE, reserved_descriptors) connections (and max_connections), and
  // it treats an accepted descriptor numbered at or above that budget as over the limit too, so a
  // flood of idle connections evicts its own oldest instead of starving everything else of
  // descriptors.
  size_t reserved_descriptors = 64;
  // The descriptor limit that budget is computed from; 0: this process's RLIMIT_NOFILE, after
  // RaiseFileLimit (tests give a small one to reach the budget with a few connections).
  size_t file_limit = 0;
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds idle_timeout{10000};
  size_t max_header_bytes = 8 * 1024;
  size_t max_body_bytes = 4 * 1024;
  size_t max_requests_per_connection = 1000;
  int unix_socket_mode = 0660;  // permissions of a unix socket file
};

struct ServerRequest {
  std::string method;
  std::string target;                          // the request-target exactly as received
  std::string path;                            // decoded path without the query
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // names lower-cased; repeated names joined by ","
  std::string body;
  std::string peer;  // "127.0.0.1:5555", "[::1]:5555", or "unix"
};

struct ServerResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Answers a request exactly once, from any thread, at any later time. Calling it after the
// connection closed (or the server stopped) is harmless. Copyable; calling it is thread-safe.
// Any callable taking a ServerResponse converts to one (tests answer into a variable).
class Responder {
 public:
  // What HttpServer's Responders share with the server: whether the answer was given, and who to
  // tell when the caller leaves first.
  struct Shared;

  Responder() = default;
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Responder> &&
                                                    std::is_invocable_v<F&, ServerResponse>>>
  Responder(F answer)  // NOLINT(google-explicit-constructor): a lambda is a Responder
      : answer_(std::move(answer)) {}
  Responder(std::function<void(ServerResponse)> answer, std::shared_ptr<Shared> shared)
      : answer_(std::move(answer)), shared_(std::move(shared)) {}

  void operator()(ServerResponse response) const {
    if (answer_) answer_(std::move(response));
  }

  // For a handler that keeps the Responder (a waiting /prestop): `hook` runs once, on the server
  // thread, when the connection closes before this Responder answered (the client reset or
  // closed it, or it was evicted), so whatever the handler keeps for the caller can go with it.
  // Not when the server stops. A later call replaces the hook. Call it from the handler, on the
  // server thread; a Responder not made by HttpServer ignores it.
  void OnCallerLeft(std::function<void()> hook) const;

 private:
  std::function<void(ServerResponse)> answer_;
  std::shared_ptr<Shared> shared_;
};
// Called on the server thread. Must not block: answer now through `respond`, or keep `respond`
// and call it later (a waiting /prestop).
using Handler = std::function<void(const ServerRequest&, Responder respond)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (and calls RaiseFileLimit). For a unix socket: creates the parent directory
  // if missing (0750), replaces a stale socket file (one nobody accepts on) but refuses to replace
  // a live one or a non-socket file, and sets unix_socket_mode before listen(). Returns "" on
  // success, else a sentence naming the address and the reason ("127.0.0.1:9901: address already
  // in use"). REQUIRES: called once.
  std::string Listen(const ListenAddress& address);
  // The bound port (useful with port 0). REQUIRES: Listen succeeded and address is TCP.
  uint16_t port() const;

  // Starts the epoll thread. REQUIRES: Listen succeeded.
  void Start();
  // Stops accepting, closes every connection (requests waiting on their Responder get no answer),
  // joins the thread, removes a unix socket file it created (if the file is still that one).
  // Idempotent. REQUIRES: not called from the handler (it runs on the thread Stop joins).
  void Stop();

  // Connections currently open (for metrics and tests).
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Pure request parser used by the server (exposed for tests and fuzzing). Feeds on the bytes
// received so far; returns kIncomplete until a whole request is present. Linear in its input.
// Once the headers are complete, a kIncomplete result carries them in `request` (body empty), so
// a caller can tell from Content-Length how many bytes it still waits for.
//
// It accepts a subset of what strict llhttp accepts (tests/llhttp_differential_test.cc checks
// that; docs/http.md lists the deliberate differences). Lines end with CRLF. The target is in
// origin-form ("/readyz?x=1") or absolute-form ("http://host/readyz", RFC 9112 §3.2.2: its path
// and query are used, the Host header is left as received). Request bodies must use one
// Content-Length: any Transfer-Encoding (chunked) is kBad (400), as are HTTP versions other than
// 1.0/1.1, asterisk- and authority-form targets, obsolete line folding, control characters in
// header values, a repeated Content-Length and malformed %-escapes (or %00) in the target.
// CONNECT and methods outside RFC 9110's and PATCH are kNotImplemented (501); an Expect other than
// 100-continue on HTTP/1.1 is kExpectationFailed (417). A missing Host header is accepted.
// Leading empty lines are skipped and count towards `consumed`.
enum class ParseStatus {
  kComplete,
  kIncomplete,
  kBad,
  kHeadersTooLarge,
  kBodyTooLarge,
  kNotImplemented,
  kExpectationFailed,
};
struct ParsedRequest {
  ParseStatus status = ParseStatus::kIncomplete;
  ServerRequest request;
  size_t consumed = 0;     // bytes of the input this request used (pipelining)
  bool keep_alive = true;  // HTTP/1.1 default; HTTP/1.0 or "Connection: close" -> false
  std::string error;       // for a rejection: what was wrong
  // kIncomplete with complete headers: the input size at which the request will be complete
  // (headers + Content-Length), so a caller need not re-parse before that. 0 otherwise.
  size_t complete_at = 0;
  // An HTTP/1.1 request with "Expect: 100-continue": a server that will read the body should
  // send "100 Continue" once the headers are in (RFC 9110 §10.1.1).
  bool expect_continue = false;
};
ParsedRequest ParseHttpRequest(std::string_view data, size_t max_header_bytes,
                               size_t max_body_bytes);

std::string_view StatusReason(int status);

// Raises this process's RLIMIT_NOFILE soft limit to its hard limit (capped at 2^20), once, so a
// thousand probe connections fit. Returns the soft limit now in force (0 if unknown). Thread-safe;
// HttpServer::Listen calls it.
size_t RaiseFileLimit();

// The highest descriptor count a server may reach with `file_limit` descriptors in all when it
// leaves `reserved` to the rest of the process: file_limit - reserved, or half of file_limit when
// the reserve would take more than half. An unknown limit (0) gives no bound. Pure.
size_t ConnectionBudget(size_t file_limit, size_t reserved);

}  // namespace lastcall

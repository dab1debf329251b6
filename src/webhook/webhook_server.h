#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "base/url.h"
#include "http/http_server.h"

// The HTTPS side of `lastcall webhook` (docs/webhook-server.md): one epoll thread serving
// BearSSL sessions (tls/tls_server_session.h), lastcall's own HTTP/1.1 request parser
// (ParseHttpRequest) over the decrypted bytes, and four routes: POST /mutate (the handler, on a
// small pool of worker threads), GET /healthz, GET /readyz, GET /metrics (on the loop).
//
// Why its own loop and not HttpServer: that server is the sidecar's, and reads plain sockets; a
// TLS transport inside it would put BearSSL into every pod. The loop here is HttpServer's design
// (one thread, no thread per connection, every connection bounded in time) over TLS.
//
// Bounds: a connection whose TLS handshake has not finished within handshake_timeout of its
// accept is closed; a request (headers and body) must arrive within request_timeout of its first
// byte; an idle keep-alive connection closes after idle_timeout; request heads above
// max_header_bytes get 431, bodies above max_body_bytes 413 (before the body is read), both
// closing the connection. At max_connections, the oldest connection that is not in the middle of
// a request (idle, or still handshaking) is closed for the new one; when every one is busy, the
// new one is closed at once. A connection costs no TLS buffers until its first byte arrives.
// Plain HTTP on the port is answered with a plain-text 400 saying the port speaks TLS, then
// closed; other bytes that are not TLS are closed without an answer.
//
// Certificates: loaded at start (LoadIdentity), then the two files are stat'ed every
// reload_interval (following symlinks: a Secret volume swaps its ..data link) and loaded again
// when either changed; new handshakes get the new identity, connections already open keep theirs.
// A pair that does not load (half written, the key of another certificate) is logged once and
// counted, and the old identity goes on serving.
namespace lastcall {

struct WebhookServerOptions {
  std::string cert_file;
  std::string key_file;
  size_t max_connections = 1024;
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 3 * 1024 * 1024;
  std::chrono::milliseconds reload_interval{1000};
  // Threads that run the handler for POST /mutate, so that a large pod does not hold up the
  // loop (every other connection's handshake and answers). 0: the loop runs it.
  size_t workers = 2;
};

// Answers POST /mutate. Runs on a worker thread (WebhookServerOptions::workers), several at
// once: it must be thread-safe (the admission logic is pure). An exception is a 500.
using MutateHandler = std::function<ServerResponse(const ServerRequest&)>;
// Extra Prometheus text appended to /metrics (the admission outcomes); called on the server
// thread.
using MetricsSource = std::function<std::string()>;

class WebhookServer {
 public:
  WebhookServer(WebhookServerOptions options, MutateHandler mutate, MetricsSource extra_metrics);
  ~WebhookServer();  // Stop()s
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Reads and checks the certificate and key files. The error names the file and what is wrong.
  // REQUIRES: before Start().
  Status LoadIdentity();
  // Binds and listens (raising RLIMIT_NOFILE). "" on success, else a sentence naming the address.
  std::string Listen(const ListenAddress& address);
  uint16_t port() const;
  // Starts the server thread. REQUIRES: LoadIdentity and Listen succeeded.
  void Start();
  // The start of a shutdown: /readyz answers 503 and every answer carries "Connection: close", so
  // the API server's next request opens a connection to another replica while this one still
  // answers. Thread-safe.
  void BeginShutdown();
  // Closes the listener and every connection, joins the thread. Idempotent.
  void Stop();

  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lastcall

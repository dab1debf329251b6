#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "base/status.h"
#include "tls/pem.h"

// A blocking TLS 1.2 client connection over BearSSL (docs/architecture.md, "TLS: BearSSL"), for
// the Kubernetes API client. Every step (connect, handshake, write, read) runs under the caller's
// absolute deadline: the socket is non-blocking and each wait is a poll() with the time left, so
// a server that stalls or trickles one byte a second costs at most the deadline, never a
// per-read timeout that restarts with each byte.
//
// The server's chain is verified against the given trust anchors (br_x509_minimal: issuer,
// validity dates, key usage) and its leaf against `server_name` (SNI and the host-name check).
// Failures are Status values whose message names host:port and what failed in words: "connect
// to 10.96.0.1:443: Connection refused", "10.96.0.1:443: TLS handshake: the server's certificate
// has expired". A certificate or protocol the client refuses is kUntrusted (retrying cannot
// help); a connection that failed or a deadline that passed is kUnavailable.
//
// `stop`: a request ends the step at once (kUnavailable, "...: stopped"; the socket is shut down,
// which wakes the wait, and the connection is of no more use), so a thread that holds a
// connection to a silent server can still be joined at once (the EndpointSlice watch at the
// exit).
namespace lastcall::tls {

using Deadline = std::chrono::steady_clock::time_point;

// What BearSSL's error code means, in words ("the server's certificate is not signed by a trusted
// CA (unknown issuer)"). Pure.
std::string DescribeBearSslError(int code);

class TlsClient {
 public:
  // Connects to `host` (an IPv4 or IPv6 literal, without brackets: names are never resolved, as
  // getaddrinfo cannot be bounded by a deadline) and completes the handshake, verifying the
  // server as `server_name` against `anchors`. `anchors` is only read during the handshake.
  static Expected<std::unique_ptr<TlsClient>> Connect(const std::string& host, uint16_t port,
                                                      const std::string& server_name,
                                                      const TrustAnchors& anchors,
                                                      Deadline deadline, std::stop_token stop = {});

  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;
  ~TlsClient();

  // Sends all of `bytes` and flushes them to the socket.
  Status Write(std::string_view bytes, Deadline deadline, std::stop_token stop = {});

  // Reads what arrives next into `buffer` (at most `size` bytes; at least one unless the peer
  // closed). 0: the peer closed the connection (a close_notify or a plain close after it; a TCP
  // close without close_notify is an error only when no bytes were promised, which the HTTP
  // framing above decides).
  Expected<size_t> Read(char* buffer, size_t size, Deadline deadline, std::stop_token stop = {});

  // "10.96.0.1:443", "[fd00::1]:443".
  const std::string& peer() const { return peer_; }

 private:
  struct Engine;
  TlsClient();
  // Runs the engine until it can accept application data (`want_send`) or has some to give
  // (`want_recv`), moving records between it and the socket; `what` names the step for errors.
  Status Pump(bool want_send, bool want_recv, Deadline deadline, const std::stop_token& stop,
              std::string_view what);
  Status EngineFailure(std::string_view what) const;

  std::unique_ptr<Engine> engine_;
  int fd_ = -1;
  std::string peer_;
  std::string server_name_;
  bool peer_closed_ = false;
};

}  // namespace lastcall::tls

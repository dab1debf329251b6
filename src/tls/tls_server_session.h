#pragma once
#include <bearssl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "tls/pem.h"

// One server-side TLS 1.2 connection on BearSSL's engine, over a non-blocking socket, for an event
// loop: Pump() moves bytes between the socket and the engine until neither side can go on without
// waiting, and says whether the loop should wait for the socket to become writable. It knows
// nothing of what the bytes mean (the webhook's HTTP sits on top).
//
// Only TLS 1.2 (BearSSL has no 1.3) and only forward-secret AEAD suites: ECDHE with AES-128-GCM,
// AES-256-GCM or ChaCha20-Poly1305, signed with the identity's key (ECDSA or RSA). A client that
// offers none of them fails the handshake.
//
// Memory: the engine's context (about 4 KiB) and its buffers (16.3 KiB in, 4.1 KiB out) live in
// one allocation made by the constructor, freed by the destructor; a server makes a session only
// once the client's first byte arrives, so a connection that never speaks costs none of it. The
// session holds its identity by shared_ptr: a certificate reload gives new sessions the new one
// while this one keeps the one it started with.
namespace lastcall::tls {

enum class TlsState {
  kHandshaking,  // the handshake has not finished
  kOpen,         // application data flows
  kClosed,       // closed: cleanly (close_notify, or the peer's end of stream) or on an error
};

class TlsServerSession {
 public:
  explicit TlsServerSession(std::shared_ptr<const ServerIdentity> identity);
  ~TlsServerSession();
  TlsServerSession(const TlsServerSession&) = delete;
  TlsServerSession& operator=(const TlsServerSession&) = delete;

  // Reads from and writes to `fd` (non-blocking) until it would block: received application data
  // is appended to received() while it holds fewer than `receive_limit` bytes (beyond it the
  // socket is left unread: back-pressure); queued plaintext is encrypted and sent. Never blocks.
  void Pump(int fd, size_t receive_limit);

  TlsState state() const { return state_; }
  // The engine's error once closed (BR_ERR_*; 0 for a clean close), or a socket error as
  // kSocketError, or kPeerEof when the peer ended the stream without close_notify.
  int error() const { return error_; }
  static constexpr int kSocketError = -1;
  static constexpr int kPeerEof = -2;
  // The handshake completed at some point (the connection carried TLS, whatever came after).
  bool handshake_done() const { return handshake_done_; }
  // The engine has records to send that the socket did not take yet: wait for EPOLLOUT.
  bool wants_write() const { return wants_write_; }
  // Plaintext queued by Send() or records not yet written to the socket.
  bool has_pending_output() const;

  std::string& received() { return received_; }
  // Queues plaintext; the next Pump() encrypts and sends it (and flushes).
  void Send(std::string_view plaintext) { to_send_.append(plaintext); }
  // Sends close_notify after what is queued; the session reaches kClosed once the peer answers
  // or the caller gives up and closes the socket.
  void Close();

  // Bytes this session allocated (context and buffers), for metrics and tests.
  static size_t AllocatedBytes();

 private:
  struct Engine;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<const ServerIdentity> identity_;
  std::string received_;
  std::string to_send_;
  size_t to_send_offset_ = 0;
  TlsState state_ = TlsState::kHandshaking;
  int error_ = 0;
  bool handshake_done_ = false;
  bool wants_write_ = false;
  bool peer_eof_ = false;
  bool close_requested_ = false;
  bool close_sent_ = false;
};

// A short name for a BearSSL error code, for logs: "BR_ERR_BAD_VERSION", or "error N".
std::string TlsErrorName(int error);

}  // namespace lastcall::tls

// TlsClient: BearSSL's engine driven by hand over a non-blocking socket, so that every wait is a
// poll() bounded by the caller's absolute deadline (br_sslio's callbacks would block).
#include "tls/tls_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <optional>
#include <vector>

#include "base/net_util.h"

namespace lastcall::tls {
namespace {

using std::chrono::steady_clock;

std::string AlertName(int alert) {
  switch (alert) {
    case 0:
      return "close_notify";
    case 10:
      return "unexpected_message";
    case 20:
      return "bad_record_mac";
    case 40:
      return "handshake_failure";
    case 42:
      return "bad_certificate";
    case 43:
      return "unsupported_certificate";
    case 44:
      return "certificate_revoked";
    case 45:
      return "certificate_expired";
    case 46:
      return "certificate_unknown";
    case 47:
      return "illegal_parameter";
    case 48:
      return "unknown_ca";
    case 50:
      return "decode_error";
    case 51:
      return "decrypt_error";
    case 70:
      return "protocol_version";
    case 71:
      return "insufficient_security";
    case 80:
      return "internal_error";
    case 112:
      return "unrecognized_name";
    default:
      return "alert " + std::to_string(alert);
  }
}

enum class Wait { kReady, kTimeout, kStopped };

// Errors and hang-ups count as ready: the next syscall reports them.
// A stop request wakes the poll() by shutting the socket down (ShutDownOnStop).
Wait WaitFor(int fd, short events, Deadline deadline, const std::stop_token& stop) {
  while (true) {
    if (stop.stop_requested()) return Wait::kStopped;
    const auto left = deadline - steady_clock::now();
    if (left <= steady_clock::duration::zero()) return Wait::kTimeout;
    const auto millis = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    pollfd entry{fd, events, 0};
    const int ready =
        poll(&entry, 1, static_cast<int>(std::min<decltype(millis)>(millis, INT_MAX)));
    if (stop.stop_requested()) return Wait::kStopped;
    if (ready > 0) return Wait::kReady;
    if (ready < 0 && errno != EINTR) return Wait::kReady;
  }
}

// Why a wait that did not end ready failed, for an error message: stopped, or `timed_out` (which
// says where the deadline passed).
std::string_view WaitFailure(Wait waited, std::string_view timed_out) {
  return waited == Wait::kStopped ? "stopped" : timed_out;
}

// The input buffer holds one whole record (BearSSL refuses to shrink it: a server may send
// 16 KiB records); lastcall's requests are small, so the output side needs far less than a full
// record's buffer. 4 KiB of plaintext per record plus the largest per-record overhead.
constexpr size_t kInputBufferBytes = BR_SSL_BUFSIZE_INPUT;
constexpr size_t kOutputBufferBytes = 4096 + 5 + 256 + 64;

// What an API server needs and nothing more, in place of br_ssl_client_init_full: TLS 1.2,
// ECDHE with AES-GCM or ChaCha20-Poly1305 (what Go's TLS stack, hence every API server, prefers),
// RSA or ECDSA server keys, certificates signed with SHA-256/384/512. The full profile would also
// link CBC, CCM, 3DES, RSA key exchange, static ECDH, MD5, SHA-1 and the TLS 1.0 PRF: about
// 40 KiB of code that every pod would keep resident (docs/architecture.md, "TLS: BearSSL").
void InitClientProfile(br_ssl_client_context* client, br_x509_minimal_context* x509,
                       const br_x509_trust_anchor* anchors, size_t anchor_count) {
  static constexpr uint16_t kSuites[] = {
      BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
      BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
      BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
      BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
      BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
      BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
  };
  br_ssl_client_zero(client);
  br_ssl_engine_context* eng = &client->eng;
  br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
  br_ssl_engine_set_suites(eng, kSuites, sizeof kSuites / sizeof kSuites[0]);

  br_x509_minimal_init(x509, &br_sha256_vtable, anchors, anchor_count);
  br_x509_minimal_set_hash(x509, br_sha256_ID, &br_sha256_vtable);
  br_x509_minimal_set_hash(x509, br_sha384_ID, &br_sha384_vtable);
  br_x509_minimal_set_hash(x509, br_sha512_ID, &br_sha512_vtable);
  br_x509_minimal_set_rsa(x509, br_rsa_pkcs1_vrfy_get_default());
  br_x509_minimal_set_ecdsa(x509, br_ec_get_default(), br_ecdsa_vrfy_asn1_get_default());
  br_ssl_engine_set_x509(eng, &x509->vtable);

  // The handshake's own hashes and PRFs, the server's ServerKeyExchange signature, the ECDHE
  // curves, the record ciphers.
  br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
  br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
  br_ssl_engine_set_hash(eng, br_sha512_ID, &br_sha512_vtable);
  br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
  br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
  br_ssl_engine_set_rsavrfy(eng, br_rsa_pkcs1_vrfy_get_default());
  br_ssl_engine_set_ecdsa(eng, br_ecdsa_vrfy_asn1_get_default());
  br_ssl_engine_set_ec(eng, br_ec_get_default());
  br_ssl_engine_set_default_aes_gcm(eng);
  br_ssl_engine_set_default_chapol(eng);
}

// While it lives, a stop request shuts `fd` down, which ends any poll() on it at once: no wait
// needs to wake up now and then to look at the token.
class ShutDownOnStop {
 public:
  ShutDownOnStop(const std::stop_token& stop, int fd)
      : callback_(stop, [fd] { shutdown(fd, SHUT_RDWR); }) {}

 private:
  std::stop_callback<std::function<void()>> callback_;
};

}  // namespace

std::string DescribeBearSslError(int code) {
  if (code >= BR_ERR_SEND_FATAL_ALERT) {
    return "lastcall refused the handshake (sent " + AlertName(code - BR_ERR_SEND_FATAL_ALERT) +
           ")";
  }
  if (code >= BR_ERR_RECV_FATAL_ALERT) {
    return "the server refused the handshake (fatal alert " +
           AlertName(code - BR_ERR_RECV_FATAL_ALERT) + ")";
  }
  switch (code) {
    case BR_ERR_OK:
      return "no error";
    case BR_ERR_X509_NOT_TRUSTED:
      return "the server's certificate is not signed by a trusted CA (unknown issuer)";
    case BR_ERR_X509_EXPIRED:
      return "the server's certificate has expired or is not yet valid";
    case BR_ERR_X509_BAD_SERVER_NAME:
      return "the server's certificate is for another host name (wrong host)";
    case BR_ERR_X509_EMPTY_CHAIN:
      return "the server sent no certificate";
    case BR_ERR_X509_BAD_SIGNATURE:
      return "a signature in the server's certificate chain does not verify";
    case BR_ERR_X509_NOT_CA:
      return "a certificate in the server's chain signs others but is not a CA";
    case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
    case BR_ERR_WRONG_KEY_USAGE:
      return "the server's certificate may not be used for TLS (key usage)";
    case BR_ERR_X509_WEAK_PUBLIC_KEY:
      return "the server's certificate has a key too weak to trust";
    case BR_ERR_X509_CRITICAL_EXTENSION:
      return "the server's certificate has a critical extension lastcall does not know";
    case BR_ERR_X509_UNSUPPORTED:
    case BR_ERR_X509_WRONG_KEY_TYPE:
      return "the server's certificate uses an unsupported key or signature algorithm";
    case BR_ERR_X509_TIME_UNKNOWN:
      return "the system clock is unknown, so certificate dates cannot be checked";
    case BR_ERR_X509_DN_MISMATCH:
      return "the server's certificate chain is out of order (issuer names do not match)";
    case BR_ERR_X509_LIMIT_EXCEEDED:
      return "the server's certificate chain is too long";
    case BR_ERR_UNSUPPORTED_VERSION:
    case BR_ERR_BAD_VERSION:
      return "the server does not speak TLS 1.2 (lastcall's only version)";
    case BR_ERR_BAD_CIPHER_SUITE:
      return "the server chose a cipher suite lastcall did not offer";
    case BR_ERR_BAD_MAC:
      return "a record failed its integrity check (corrupted or tampered)";
    case BR_ERR_BAD_SIGNATURE:
      return "the server's handshake signature does not verify";
    case BR_ERR_NO_RANDOM:
      return "no random source to seed TLS";
    case BR_ERR_TOO_LARGE:
    case BR_ERR_BAD_LENGTH:
    case BR_ERR_BAD_FRAGLEN:
      return "the server sent a record of an invalid length";
    case BR_ERR_LIMIT_EXCEEDED:
      return "the server's handshake exceeds BearSSL's limits";
    case BR_ERR_IO:
      return "an I/O error";
    default:
      if (code >= BR_ERR_X509_OK) {
        return "the server's certificate is malformed (BearSSL X.509 error " +
               std::to_string(code) + ")";
      }
      return "protocol error (BearSSL error " + std::to_string(code) + ")";
  }
}

struct TlsClient::Engine {
  br_ssl_client_context client{};
  br_x509_minimal_context x509{};
  std::vector<unsigned char> input = std::vector<unsigned char>(kInputBufferBytes);
  std::vector<unsigned char> output = std::vector<unsigned char>(kOutputBufferBytes);
  br_ssl_engine_context* eng() { return &client.eng; }
};

TlsClient::TlsClient() : engine_(std::make_unique<Engine>()) {}

TlsClient::~TlsClient() {
  if (fd_ >= 0) close(fd_);
}

Expected<std::unique_ptr<TlsClient>> TlsClient::Connect(const std::string& host, uint16_t port,
                                                        const std::string& server_name,
                                                        const TrustAnchors& anchors,
                                                        Deadline deadline, std::stop_token stop) {
  const std::optional<SocketAddress> address = IpSocketAddress(host, port);
  const bool v6 = host.find(':') != std::string::npos;
  const std::string peer = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  if (!address) {
    return Status::Invalid(peer + ": not an IP address (names are not resolved)");
  }
  if (anchors.size() == 0) return Status::Invalid(peer + ": no trust anchors");
  std::unique_ptr<TlsClient> client(new TlsClient());
  client->peer_ = peer;
  client->server_name_ = server_name;

  const int fd = socket(address->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int error = errno;
    return Status::Unavailable("socket for " + peer + ": " + ErrnoText(error));
  }
  client->fd_ = fd;
  const ShutDownOnStop on_stop(stop, fd);
  // BearSSL hands over one record at a time (the handshake's last flight is three): with Nagle,
  // the second waits for the server's delayed ACK, 40 ms on Linux, in every handshake.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, address->get(), address->length) != 0) {
    int error = errno;
    if (error != EINPROGRESS && error != EINTR) {
      return Status::Unavailable("connect to " + peer + ": " + ErrnoText(error));
    }
    if (const Wait waited = WaitFor(fd, POLLOUT, deadline, stop); waited != Wait::kReady) {
      return Status::Unavailable("connect to " + peer + ": " +
                                 std::string(WaitFailure(waited, "the deadline passed")));
    }
    socklen_t length = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error != 0) return Status::Unavailable("connect to " + peer + ": " + ErrnoText(error));
  }

  Engine& engine = *client->engine_;
  InitClientProfile(&engine.client, &engine.x509, anchors.data(), anchors.size());
  // Nothing after the handshake may need the anchors again (the caller's object may go).
  br_ssl_engine_add_flags(engine.eng(), BR_OPT_NO_RENEGOTIATION);
  br_ssl_engine_set_buffers_bidi(engine.eng(), engine.input.data(), engine.input.size(),
                                 engine.output.data(), engine.output.size());
  if (br_ssl_client_reset(&engine.client, server_name.c_str(), 0) == 0) {
    return client->EngineFailure("TLS set-up");
  }
  if (Status handshake = client->Pump(true, false, deadline, stop, "TLS handshake");
      !handshake.ok()) {
    return handshake;
  }
  return client;
}

Status TlsClient::EngineFailure(std::string_view what) const {
  const int code = br_ssl_engine_last_error(&engine_->client.eng);
  // A certificate or a protocol refused is no network hiccup: retrying would find it again.
  const bool untrusted = code != BR_ERR_IO && code != BR_ERR_OK;
  return Status(untrusted ? StatusCode::kUntrusted : StatusCode::kUnavailable,
                peer_ + ": " + std::string(what) + ": " + DescribeBearSslError(code) +
                    (code >= BR_ERR_X509_OK && code < BR_ERR_RECV_FATAL_ALERT
                         ? " (verified as " + server_name_ + ")"
                         : ""));
}

Status TlsClient::Pump(bool want_send, bool want_recv, Deadline deadline,
                       const std::stop_token& stop, std::string_view what) {
  br_ssl_engine_context* eng = engine_->eng();
  while (true) {
    const unsigned state = br_ssl_engine_current_state(eng);
    if ((state & BR_SSL_CLOSED) != 0) {
      if (br_ssl_engine_last_error(eng) == BR_ERR_OK && want_recv) {
        peer_closed_ = true;
        return {};
      }
      if (br_ssl_engine_last_error(eng) == BR_ERR_OK) {
        return Status::Unavailable(peer_ + ": " + std::string(what) +
                                   ": the server closed the connection");
      }
      return EngineFailure(what);
    }
    // Records waiting to go out go first: the peer may be waiting for them.
    if ((state & BR_SSL_SENDREC) != 0) {
      size_t length = 0;
      unsigned char* buffer = br_ssl_engine_sendrec_buf(eng, &length);
      const ssize_t sent = send(fd_, buffer, length, kSendFlags);
      if (sent > 0) {
        br_ssl_engine_sendrec_ack(eng, static_cast<size_t>(sent));
        continue;
      }
      const int error = errno;
      if (sent < 0 && (error == EAGAIN || error == EWOULDBLOCK || error == EINTR)) {
        if (const Wait waited = WaitFor(fd_, POLLOUT, deadline, stop); waited != Wait::kReady) {
          return Status::Unavailable(
              peer_ + ": " + std::string(what) + ": " +
              std::string(WaitFailure(waited, "the deadline passed while sending")));
        }
        continue;
      }
      return Status::Unavailable(peer_ + ": " + std::string(what) + ": send: " + ErrnoText(error));
    }
    if (want_send && (state & BR_SSL_SENDAPP) != 0) return {};
    if (want_recv && (state & BR_SSL_RECVAPP) != 0) return {};
    if ((state & BR_SSL_RECVREC) == 0) {
      return Status::Internal(peer_ + ": " + std::string(what) + ": the TLS engine is stuck");
    }
    size_t length = 0;
    unsigned char* buffer = br_ssl_engine_recvrec_buf(eng, &length);
    const ssize_t received = recv(fd_, buffer, length, 0);
    if (received > 0) {
      br_ssl_engine_recvrec_ack(eng, static_cast<size_t>(received));
      continue;
    }
    if (received == 0) {
      // A TCP close without close_notify. While reading a response, the HTTP framing above
      // decides whether anything was missing; during the handshake it is a plain failure.
      if (want_recv) {
        peer_closed_ = true;
        return {};
      }
      return Status::Unavailable(peer_ + ": " + std::string(what) +
                                 ": the server closed the connection");
    }
    const int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) {
      if (const Wait waited = WaitFor(fd_, POLLIN, deadline, stop); waited != Wait::kReady) {
        return Status::Unavailable(
            peer_ + ": " + std::string(what) + ": " +
            std::string(WaitFailure(waited, "the deadline passed while waiting for the server")));
      }
      continue;
    }
    return Status::Unavailable(peer_ + ": " + std::string(what) + ": recv: " + ErrnoText(error));
  }
}

Status TlsClient::Write(std::string_view bytes, Deadline deadline, std::stop_token stop) {
  const ShutDownOnStop on_stop(stop, fd_);
  br_ssl_engine_context* eng = engine_->eng();
  while (!bytes.empty()) {
    if (Status pumped = Pump(true, false, deadline, stop, "send"); !pumped.ok()) return pumped;
    size_t room = 0;
    unsigned char* buffer = br_ssl_engine_sendapp_buf(eng, &room);
    const size_t n = std::min(room, bytes.size());
    std::memcpy(buffer, bytes.data(), n);
    br_ssl_engine_sendapp_ack(eng, n);
    bytes.remove_prefix(n);
  }
  br_ssl_engine_flush(eng, 0);
  // Pump sends every pending record before it looks at what the caller wants.
  return Pump(true, false, deadline, stop, "send");
}

Expected<size_t> TlsClient::Read(char* buffer, size_t size, Deadline deadline,
                                 std::stop_token stop) {
  if (peer_closed_ || size == 0) return size_t{0};
  const ShutDownOnStop on_stop(stop, fd_);
  if (Status pumped = Pump(false, true, deadline, stop, "receive"); !pumped.ok()) return pumped;
  if (peer_closed_) return size_t{0};
  size_t available = 0;
  unsigned char* data = br_ssl_engine_recvapp_buf(engine_->eng(), &available);
  const size_t n = std::min(available, size);
  std::memcpy(buffer, data, n);
  br_ssl_engine_recvapp_ack(engine_->eng(), n);
  return n;
}

}  // namespace lastcall::tls

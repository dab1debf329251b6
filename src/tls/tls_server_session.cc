#include "tls/tls_server_session.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace lastcall::tls {
namespace {

// The output buffer needs no room for a full 16 KiB record: BearSSL cuts what it sends into
// records that fit, and the webhook's answers are a few KiB. The input buffer must take the
// largest record a client may send.
constexpr size_t kOutputPlaintext = 4096;
constexpr size_t kInputBytes = BR_SSL_BUFSIZE_INPUT;
constexpr size_t kOutputBytes = kOutputPlaintext + (BR_SSL_BUFSIZE_OUTPUT - 16384);

constexpr uint16_t kEcdsaSuites[] = {
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
};
constexpr uint16_t kRsaSuites[] = {
    BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
};

// A pump of one socket never needs more rounds than this: each round moves at least one record or
// one chunk of a socket buffer, and the caller pumps again on the next readiness event.
constexpr int kMaxRounds = 64;

}  // namespace

struct TlsServerSession::Engine {
  br_ssl_server_context context;
  unsigned char buffer[kInputBytes + kOutputBytes];
};

size_t TlsServerSession::AllocatedBytes() { return sizeof(Engine); }

TlsServerSession::TlsServerSession(std::shared_ptr<const ServerIdentity> identity)
    : engine_(std::make_unique<Engine>()), identity_(std::move(identity)) {
  br_ssl_server_context* sc = &engine_->context;
  if (identity_->key_type() == BR_KEYTYPE_EC) {
    br_ssl_server_init_full_ec(sc, identity_->chain(), identity_->chain_size(),
                               static_cast<unsigned>(identity_->leaf_signer_key_type()),
                               identity_->ec_key());
    br_ssl_engine_set_suites(&sc->eng, kEcdsaSuites, std::size(kEcdsaSuites));
  } else {
    br_ssl_server_init_full_rsa(sc, identity_->chain(), identity_->chain_size(),
                                identity_->rsa_key());
    br_ssl_engine_set_suites(&sc->eng, kRsaSuites, std::size(kRsaSuites));
  }
  br_ssl_engine_set_versions(&sc->eng, BR_TLS12, BR_TLS12);
  // Renegotiation buys a client nothing here and costs the server a handshake on demand.
  br_ssl_engine_add_flags(&sc->eng, BR_OPT_NO_RENEGOTIATION | BR_OPT_ENFORCE_SERVER_PREFERENCES);
  br_ssl_engine_set_buffers_bidi(&sc->eng, engine_->buffer, kInputBytes,
                                 engine_->buffer + kInputBytes, kOutputBytes);
  if (br_ssl_server_reset(sc) == 0) {
    state_ = TlsState::kClosed;
    error_ = br_ssl_engine_last_error(&sc->eng);
  }
}

TlsServerSession::~TlsServerSession() = default;

bool TlsServerSession::has_pending_output() const {
  if (to_send_offset_ < to_send_.size() || (close_requested_ && !close_sent_)) return true;
  if (state_ == TlsState::kClosed) return false;
  return (br_ssl_engine_current_state(&engine_->context.eng) & BR_SSL_SENDREC) != 0;
}

void TlsServerSession::Close() { close_requested_ = true; }

void TlsServerSession::Pump(int fd, size_t receive_limit) {
  br_ssl_engine_context* eng = &engine_->context.eng;
  wants_write_ = false;
  for (int round = 0; round < kMaxRounds && state_ != TlsState::kClosed; ++round) {
    const unsigned st = br_ssl_engine_current_state(eng);
    if ((st & BR_SSL_CLOSED) != 0) {
      state_ = TlsState::kClosed;
      error_ = br_ssl_engine_last_error(eng);
      if (error_ == 0 && peer_eof_) error_ = kPeerEof;
      return;
    }
    if ((st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)) != 0) {
      handshake_done_ = true;
      state_ = TlsState::kOpen;
    }
    bool progress = false;
    if ((st & BR_SSL_SENDREC) != 0) {
      size_t length = 0;
      unsigned char* data = br_ssl_engine_sendrec_buf(eng, &length);
      const ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
      if (sent > 0) {
        br_ssl_engine_sendrec_ack(eng, static_cast<size_t>(sent));
        progress = true;
      } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wants_write_ = true;
      } else if (sent < 0 && errno != EINTR) {
        state_ = TlsState::kClosed;
        error_ = kSocketError;
        return;
      }
    }
    if ((st & BR_SSL_RECVAPP) != 0 && received_.size() < receive_limit) {
      size_t length = 0;
      unsigned char* data = br_ssl_engine_recvapp_buf(eng, &length);
      received_.append(reinterpret_cast<const char*>(data), length);
      br_ssl_engine_recvapp_ack(eng, length);
      progress = true;
    }
    if ((st & BR_SSL_SENDAPP) != 0 && to_send_offset_ < to_send_.size()) {
      size_t length = 0;
      unsigned char* data = br_ssl_engine_sendapp_buf(eng, &length);
      const size_t chunk = std::min(length, to_send_.size() - to_send_offset_);
      std::memcpy(data, to_send_.data() + to_send_offset_, chunk);
      br_ssl_engine_sendapp_ack(eng, chunk);
      to_send_offset_ += chunk;
      if (to_send_offset_ == to_send_.size()) {
        to_send_.clear();
        to_send_offset_ = 0;
        // A large answer's capacity is not kept by an idle connection.
        if (to_send_.capacity() > 64 * 1024) std::string().swap(to_send_);
        br_ssl_engine_flush(eng, 0);
      }
      progress = true;
    }
    // close_notify only once what was queued is inside the engine: closing earlier would drop it.
    if (close_requested_ && !close_sent_ && to_send_offset_ == to_send_.size()) {
      close_sent_ = true;
      br_ssl_engine_close(eng);
      progress = true;
    }
    if ((st & BR_SSL_RECVREC) != 0 && !peer_eof_ && !wants_write_) {
      size_t length = 0;
      unsigned char* data = br_ssl_engine_recvrec_buf(eng, &length);
      const ssize_t got = recv(fd, data, length, 0);
      if (got > 0) {
        br_ssl_engine_recvrec_ack(eng, static_cast<size_t>(got));
        progress = true;
      } else if (got == 0) {
        // The peer ended the stream: without close_notify, what it sent is all it will send.
        peer_eof_ = true;
        state_ = TlsState::kClosed;
        error_ = kPeerEof;
        return;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        state_ = TlsState::kClosed;
        error_ = kSocketError;
        return;
      }
    }
    if (!progress) return;
  }
}

std::string TlsErrorName(int error) {
  switch (error) {
    case 0:
      return "closed";
    case TlsServerSession::kSocketError:
      return "socket error";
    case TlsServerSession::kPeerEof:
      return "peer closed the connection";
    case BR_ERR_UNSUPPORTED_VERSION:
      return "unsupported TLS version";
    case BR_ERR_BAD_VERSION:
      return "not TLS (bad record version)";
    case BR_ERR_BAD_LENGTH:
      return "bad record length";
    case BR_ERR_TOO_LARGE:
      return "record too large";
    case BR_ERR_BAD_MAC:
      return "bad record MAC";
    case BR_ERR_UNKNOWN_TYPE:
      return "not TLS (unknown record type)";
    case BR_ERR_UNEXPECTED:
      return "unexpected message";
    case BR_ERR_BAD_HANDSHAKE:
      return "malformed handshake";
    case BR_ERR_BAD_CIPHER_SUITE:
      return "no common cipher suite";
    case BR_ERR_LIMIT_EXCEEDED:
      return "handshake limit exceeded";
    case BR_ERR_BAD_SNI:
      return "bad server name";
    default:
      break;
  }
  if ((error & BR_ERR_RECV_FATAL_ALERT) != 0) {
    return "client sent alert " + std::to_string(error & 0xFF);
  }
  if ((error & BR_ERR_SEND_FATAL_ALERT) != 0) {
    return "sent alert " + std::to_string(error & 0xFF);
  }
  return "TLS error " + std::to_string(error);
}

}  // namespace lastcall::tls

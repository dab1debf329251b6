#pragma once

// A blocking TLS 1.2 client on BearSSL for the webhook's tests: connects to 127.0.0.1, verifies
// the server's chain against a CA bundle and its name against a DNS name (BearSSL's minimal X.509
// engine checks the subjectAltName), then sends HTTP/1.1 requests on the one connection
// (keep-alive) and reads their answers. Independent of the server's code but for the PEM reader.
#include <arpa/inet.h>
#include <bearssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "tls/pem.h"

namespace lastcall::test {

struct TlsAnswer {
  int status = 0;  // 0: no complete answer (the connection failed or closed)
  std::string head;
  std::string body;
};

class TlsTestClient {
 public:
  // Connects and completes the handshake; nullptr (with *error) when either fails.
  static std::unique_ptr<TlsTestClient> Connect(uint16_t port, const std::string& ca_pem,
                                                const std::string& server_name, std::string* error,
                                                int timeout_ms = 5000) {
    auto anchors = tls::TrustAnchors::FromPem(ca_pem, "ca");
    if (!anchors.ok()) {
      *error = anchors.status().message();
      return nullptr;
    }
    std::unique_ptr<TlsTestClient> client(new TlsTestClient(std::move(anchors).value()));
    client->fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(client->fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(client->fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    int one = 1;
    setsockopt(client->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(client->fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      *error = "connect: " + std::string(strerror(errno));
      return nullptr;
    }
    br_ssl_client_init_full(&client->cc_, &client->xc_, client->anchors_.data(),
                            client->anchors_.size());
    br_ssl_engine_set_buffer(&client->cc_.eng, client->buffer_.data(), client->buffer_.size(), 1);
    br_ssl_client_reset(&client->cc_, server_name.c_str(), 0);
    br_sslio_init(&client->io_, &client->cc_.eng, Read, &client->fd_, Write, &client->fd_);
    if (br_sslio_flush(&client->io_) != 0) {
      *error = "handshake failed: BearSSL error " +
               std::to_string(br_ssl_engine_last_error(&client->cc_.eng));
      return nullptr;
    }
    return client;
  }

  ~TlsTestClient() {
    if (fd_ >= 0) close(fd_);
  }
  TlsTestClient(const TlsTestClient&) = delete;
  TlsTestClient& operator=(const TlsTestClient&) = delete;

  // Sends raw bytes through TLS.
  bool SendRaw(const std::string& bytes) {
    return br_sslio_write_all(&io_, bytes.data(), bytes.size()) == 0 && br_sslio_flush(&io_) == 0;
  }

  TlsAnswer Request(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: webhook\r\n";
    if (!body.empty() || method == "POST") {
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    }
    request += "\r\n" + body;
    if (!SendRaw(request)) return {};
    return ReadAnswer();
  }

  // Reads one answer (Content-Length framed).
  TlsAnswer ReadAnswer() {
    TlsAnswer answer;
    size_t end = std::string::npos;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return {};
    }
    answer.head = pending_.substr(0, end);
    size_t length = 0;
    const size_t at = answer.head.find("Content-Length: ");
    if (at != std::string::npos) length = std::stoul(answer.head.substr(at + 16));
    while (pending_.size() < end + 4 + length) {
      if (!Fill()) return {};
    }
    answer.body = pending_.substr(end + 4, length);
    pending_.erase(0, end + 4 + length);
    if (answer.head.size() > 12) answer.status = std::stoi(answer.head.substr(9, 3));
    return answer;
  }

  // True when the server has closed the connection (reads end) within the socket timeout.
  bool ClosedByServer() {
    unsigned char byte = 0;
    return br_sslio_read(&io_, &byte, 1) < 0;
  }

  int fd() const { return fd_; }

 private:
  explicit TlsTestClient(tls::TrustAnchors anchors)
      : anchors_(std::move(anchors)), buffer_(BR_SSL_BUFSIZE_BIDI) {}

  bool Fill() {
    char chunk[4096];
    const int got = br_sslio_read(&io_, chunk, sizeof chunk);
    if (got <= 0) return false;
    pending_.append(chunk, static_cast<size_t>(got));
    return true;
  }

  static int Read(void* context, unsigned char* data, size_t length) {
    const int fd = *static_cast<int*>(context);
    for (;;) {
      const ssize_t got = recv(fd, data, length, 0);
      if (got > 0) return static_cast<int>(got);
      if (got < 0 && errno == EINTR) continue;
      return -1;
    }
  }
  static int Write(void* context, const unsigned char* data, size_t length) {
    const int fd = *static_cast<int*>(context);
    for (;;) {
      const ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
      if (sent > 0) return static_cast<int>(sent);
      if (sent < 0 && errno == EINTR) continue;
      return -1;
    }
  }

  tls::TrustAnchors anchors_;
  std::vector<unsigned char> buffer_;
  br_ssl_client_context cc_{};
  br_x509_minimal_context xc_{};
  br_sslio_context io_{};
  int fd_ = -1;
  std::string pending_;
};

}  // namespace lastcall::test

#pragma once

// A stand-in for the Kubernetes API server over HTTPS, for tests: no API server runs here. Its
// TLS is OpenSSL's (an independent peer for lastcall's BearSSL client), with a CA and a server
// certificate the test makes with the `openssl` CLI (MakeKubeApiCerts). It answers an Event
// create as the API does (201 with the object), and errors with the API's Status objects from
// tests/fixtures/kube_api/ (the Kubernetes API reference's formats); hostile modes never answer,
// trickle one byte a second, or send a 100 MB body. Test-only, header-only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace lastcall::test {

struct KubeApiCerts {
  std::string dir;
  std::string ca_file;    // the CA that signed the server's certificate
  std::string cert_file;  // the server's certificate
  std::string key_file;
};

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A fresh CA (EC P-256) and a server certificate for `dns_name` signed by it, in `dir`. With
// `expired`, the server's certificate expired a day ago.
inline KubeApiCerts MakeKubeApiCerts(const std::string& dir,
                                     const std::string& dns_name = "kubernetes.default.svc",
                                     bool expired = false) {
  KubeApiCerts certs{dir, dir + "/ca.crt", dir + "/server.crt", dir + "/server.key"};
  const std::string quiet = " >/dev/null 2>&1";
  const std::string script =
      "cd '" + dir + "' && " +
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
      "-out ca.crt -days 3650 -subj /CN=kube-api-stand-in-ca" +
      quiet +
      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key "
      "-out server.csr -subj /CN=kube-apiserver" +
      quiet + " && printf 'subjectAltName=DNS:" + dns_name +
      "\\nextendedKeyUsage=serverAuth\\n' > server.ext" +
      " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
      "-out server.crt -extfile server.ext -days " +
      (expired ? "-1" : "365") + quiet;
  if (std::system(script.c_str()) != 0) throw std::runtime_error("openssl failed in " + dir);
  return certs;
}

inline std::string KubeApiFixture(const std::string& name) {
  return ReadWholeFile(std::string(LASTCALL_SOURCE_DIR) + "/tests/fixtures/kube_api/" + name);
}

class KubeApiStandIn {
 public:
  enum class Mode {
    kCreated,      // 201 and the object it was sent (what the API answers a create with)
    kStatus,       // status_ and body_ (a Status object from the fixtures)
    kNeverAnswer,  // reads the request, then says nothing until the client gives up
    kTrickle,      // a 201 head announcing 1000 bytes, then one byte a second
    kHuge,         // 201 with a 100 MB body, as fast as the client takes it
    kBrokenJson,   // 201 with a body that is not JSON
    kNoHandshake,  // accepts TCP but never speaks TLS
  };

  struct Seen {
    std::string method;
    std::string path;
    std::string authorization;
    std::string content_type;
    std::string body;
    std::chrono::steady_clock::time_point at;
    std::chrono::system_clock::time_point wall;
  };

  explicit KubeApiStandIn(const KubeApiCerts& certs, Mode mode = Mode::kCreated) : mode_(mode) {
    // OpenSSL writes with write(2): a client that hung up mid-answer (the point of the hostile
    // modes) must not kill the test process.
    signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (ctx_ == nullptr || SSL_CTX_use_certificate_chain_file(ctx_, certs.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, certs.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("the stand-in cannot load " + certs.cert_file);
    }
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(listener_, 16) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("the stand-in cannot listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~KubeApiStandIn() {
    stop_ = true;
    thread_.join();
    close(listener_);
    SSL_CTX_free(ctx_);
  }

  KubeApiStandIn(const KubeApiStandIn&) = delete;
  KubeApiStandIn& operator=(const KubeApiStandIn&) = delete;

  uint16_t port() const { return port_; }

  void Answer(int status, std::string body) {
    std::lock_guard lock(mu_);
    mode_ = Mode::kStatus;
    status_ = status;
    body_ = std::move(body);
  }
  void SetMode(Mode mode) {
    std::lock_guard lock(mu_);
    mode_ = mode;
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  int handshakes_failed() const { return handshakes_failed_.load(); }

  // The environment `lastcall run` finds in a pod, pointed at this stand-in.
  std::vector<std::string> PodEnv(const KubeApiCerts& certs, const std::string& token_file) const {
    return {"KUBERNETES_SERVICE_HOST=127.0.0.1",
            "KUBERNETES_SERVICE_PORT=" + std::to_string(port_),
            "LASTCALL_KUBE_CA_FILE=" + certs.ca_file,
            "LASTCALL_KUBE_TOKEN_FILE=" + token_file,
            "POD_NAME=shop-7d9f8-x2x4q",
            "POD_NAMESPACE=shop",
            "POD_UID=6f1c2a4e-93b1-4c2e-a0f7-1d2e3f4a5b6c"};
  }

 private:
  // Waits for `fd` to be readable (or closed) for at most 50 ms; false when nothing came.
  static bool Readable(int fd) {
    pollfd entry{fd, POLLIN, 0};
    return poll(&entry, 1, 50) > 0;
  }

  void Serve() {
    while (!stop_) {
      if (!Readable(listener_)) continue;
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      Handle(fd);
      close(fd);
    }
  }

  // Reads and drops whatever the client sends, in short steps so that stop_ ends the wait,
  // until the client closes the connection.
  void WaitClientGone(int fd) {
    char buffer[4096];
    while (!stop_) {
      if (Readable(fd) && recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT) == 0) return;
    }
  }

  void Handle(int fd) {
    Mode mode;
    {
      std::lock_guard lock(mu_);
      mode = mode_;
    }
    if (mode == Mode::kNoHandshake) {
      WaitClientGone(fd);
      return;
    }
    timeval timeout{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {
      ++handshakes_failed_;
      ERR_clear_error();
      SSL_free(ssl);
      return;
    }
    Seen request;
    std::string data;
    char buffer[4096];
    size_t head_end = std::string::npos;
    size_t content_length = 0;
    while (true) {
      const int n = SSL_read(ssl, buffer, sizeof(buffer));
      if (n <= 0) break;
      data.append(buffer, static_cast<size_t>(n));
      if (head_end == std::string::npos) {
        head_end = data.find("\r\n\r\n");
        if (head_end != std::string::npos)
          ParseHead(data.substr(0, head_end), &request, &content_length);
      }
      if (head_end != std::string::npos && data.size() >= head_end + 4 + content_length) break;
    }
    if (head_end == std::string::npos) {
      SSL_free(ssl);
      return;
    }
    request.body = data.substr(head_end + 4, content_length);
    request.at = std::chrono::steady_clock::now();
    request.wall = std::chrono::system_clock::now();
    int status;
    std::string body;
    {
      std::lock_guard lock(mu_);
      seen_.push_back(request);
      status = status_;
      body = body_;
    }
    switch (mode) {
      case Mode::kCreated:
        Write(ssl, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(request.body.size()) + "\r\n\r\n" + request.body);
        break;
      case Mode::kStatus:
        Write(ssl, "HTTP/1.1 " + std::to_string(status) +
                       " Status\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body);
        break;
      case Mode::kBrokenJson:
        Write(ssl,
              "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
              "Content-Length: 9\r\n\r\n{\"kind\":[");
        break;
      case Mode::kNeverAnswer:
        WaitClientGone(fd);
        break;
      case Mode::kTrickle:
        if (Write(ssl, "HTTP/1.1 201 Created\r\nContent-Length: 1000\r\n\r\n")) {
          for (int i = 0; i < 1000 && !stop_; ++i) {
            if (!Write(ssl, "x")) break;
            for (int step = 0; step < 20 && !stop_; ++step) {
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
          }
        }
        break;
      case Mode::kHuge: {
        if (Write(ssl,
                  "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000000\r\n\r\n[")) {
          const std::string chunk(16384, ' ');
          for (size_t sent = 0; sent < 100000000 && !stop_; sent += chunk.size()) {
            if (!Write(ssl, chunk)) break;
          }
        }
        break;
      }
      case Mode::kNoHandshake:
        break;
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
  }

  static bool Write(SSL* ssl, const std::string& bytes) {
    return bytes.empty() || SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size())) > 0;
  }

  static void ParseHead(const std::string& head, Seen* request, size_t* content_length) {
    std::istringstream lines(head);
    std::string line;
    std::getline(lines, line);
    std::istringstream first(line);
    first >> request->method >> request->path;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (name == "content-length") *content_length = std::stoul(value);
      if (name == "authorization") request->authorization = value;
      if (name == "content-type") request->content_type = value;
    }
  }

  SSL_CTX* ctx_ = nullptr;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_failed_{0};
  mutable std::mutex mu_;
  Mode mode_;               // GUARDED_BY(mu_)
  int status_ = 500;        // GUARDED_BY(mu_)
  std::string body_;        // GUARDED_BY(mu_)
  std::vector<Seen> seen_;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace lastcall::test

#pragma once

// A stand-in for the Kubernetes API server over HTTPS, for tests: no API server runs here. Its
// TLS is OpenSSL's (an independent peer for lastcall's BearSSL client), with a CA and a server
// certificate the test makes with the `openssl` CLI (MakeKubeApiCerts). It answers an Event
// create as the API does (201 with the object), and errors with the API's Status objects from
// tests/fixtures/kube_api/ (the Kubernetes API reference's formats); hostile modes never answer,
// trickle one byte a second, or send a 100 MB body. Test-only, header-only.
//
// It also serves the pod namespace's EndpointSlices (discovery.k8s.io/v1) as the API server
// does: the list (an EndpointSliceList, endpointslice_list.json unless the test sets another),
// and the watch (`watch=1`): a 200 with a chunked body of JSON lines that stays open until the
// test closes it, the client goes, or its timeoutSeconds pass. The test scripts the watch: each
// PushWatchLine goes out on the open watch (or the next one) at once, its time recorded
// (watch_lines_sent), so the test knows when the slice changed. The slices have hostile modes of
// their own (SliceMode); a certificate that is expired or another host's affects every route.
// Each connection has its own thread, as a watch holds one while the Event is sent.
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
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kube_api_fixtures.h"

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

// The pod UID a stand-in's pod has unless the test names another (the Event fixtures' pod, not
// the EndpointSlice fixtures' kFixturePodUid).
inline constexpr const char* kStandInPodUid = "6f1c2a4e-93b1-4c2e-a0f7-1d2e3f4a5b6c";

class KubeApiStandIn {
 public:
  // How the Event route (and any path but the EndpointSlices') answers.
  enum class Mode {
    kCreated,      // 201 and the object it was sent (what the API answers a create with)
    kStatus,       // status_ and body_ (a Status object from the fixtures)
    kNeverAnswer,  // reads the request, then says nothing until the client gives up
    kTrickle,      // a 201 head announcing 1000 bytes, then one byte a second
    kHuge,         // 201 with a 100 MB body, as fast as the client takes it
    kBrokenJson,   // 201 with a body that is not JSON
    kNoHandshake,  // accepts TCP but never speaks TLS (every route)
  };
  // How the EndpointSlice list and watch answer.
  enum class SliceMode {
    kServe,         // the list (Content-Length), and the scripted watch
    kServeChunked,  // the same, the list in chunks of 1000 bytes
    kForbidden,     // 403 with status_forbidden.json to the list and the watch
    kNeverAnswer,   // reads the request, then says nothing
    kTrickle,       // a chunked 200 head, then one byte a second
    kHuge,          // the list: a chunked 200 of 100 MB, as fast as the client takes it
    kHugeWatch,     // the list served; the watch: one line of 100 MB
    kBrokenJson,    // the list is not JSON
    kBrokenWatch,   // the list served; the watch sends a line that is not JSON
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
  // A watch line written, and when.
  struct Sent {
    std::string line;
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
    // The stand-in reads its fixtures unchecked: an assertion belongs on the test's thread, not
    // on a handler's, and a test that finds an empty answer fails by its own checks.
    list_body_ = testing::ReadFixture("kube_api/endpointslice_list.json");
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
    cv_.notify_all();
    thread_.join();
    std::vector<std::thread> handlers;
    {
      std::lock_guard lock(mu_);
      handlers.swap(handlers_);
    }
    for (std::thread& handler : handlers) handler.join();
    close(listener_);
    SSL_CTX_free(ctx_);
  }

  KubeApiStandIn(const KubeApiStandIn&) = delete;
  KubeApiStandIn& operator=(const KubeApiStandIn&) = delete;

  uint16_t port() const { return port_; }

  // The Event route answers `status` with `body` from now on.
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
  void SetSliceMode(SliceMode mode) {
    std::lock_guard lock(mu_);
    slice_mode_ = mode;
  }
  // The EndpointSliceList the next lists answer with.
  void SetSliceList(std::string json) {
    std::lock_guard lock(mu_);
    list_body_ = std::move(json);
  }
  // Sends `line` on the open watch, or on the next one when none is open.
  void PushWatchLine(std::string line) {
    std::lock_guard lock(mu_);
    script_.push_back(std::move(line));
    cv_.notify_all();
  }
  // Ends the open watch (or the next one) after what was pushed before, as the API server does
  // at timeoutSeconds: the terminating chunk, then a close.
  void CloseWatch() { PushWatchLine(std::string()); }

  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  // The requests to one route: "events" (anything but the slices), "list" or "watch".
  std::vector<Seen> seen(const std::string& route) const {
    std::vector<Seen> out;
    for (Seen& request : seen()) {
      if (RouteOf(request.method, request.path) == route) out.push_back(std::move(request));
    }
    return out;
  }
  std::vector<Sent> watch_lines_sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }
  // Watches open now.
  int watches_open() const { return watches_open_.load(); }
  int handshakes_failed() const { return handshakes_failed_.load(); }

  // The environment `lastcall run` finds in a pod, pointed at this stand-in.
  std::vector<std::string> PodEnv(const KubeApiCerts& certs, const std::string& token_file,
                                  const std::string& pod_uid = kStandInPodUid) const {
    return {"KUBERNETES_SERVICE_HOST=127.0.0.1",
            "KUBERNETES_SERVICE_PORT=" + std::to_string(port_),
            "LASTCALL_KUBE_CA_FILE=" + certs.ca_file,
            "LASTCALL_KUBE_TOKEN_FILE=" + token_file,
            "POD_NAME=shop-7d9f8-x2x4q",
            "POD_NAMESPACE=shop",
            "POD_UID=" + pod_uid};
  }

  static std::string RouteOf(const std::string& method, const std::string& path) {
    constexpr std::string_view kSlices = "/apis/discovery.k8s.io/v1/namespaces/";
    if (method != "GET" || path.rfind(kSlices, 0) != 0 ||
        path.find("/endpointslices") == std::string::npos) {
      return "events";
    }
    const bool watch = path.find("?watch=1") != std::string::npos ||
                       path.find("&watch=1") != std::string::npos ||
                       path.find("watch=true") != std::string::npos;
    return watch ? "watch" : "list";
  }

 private:
  // At most this many connections over a stand-in's life: a client in a tight loop is a bug the
  // test should see, not a thread explosion.
  static constexpr size_t kMaxConnections = 512;

  // Waits for `fd` to be readable (or closed) for at most 50 ms; false when nothing came.
  static bool Readable(int fd) {
    pollfd entry{fd, POLLIN, 0};
    return poll(&entry, 1, 50) > 0;
  }

  // Whether the client closed its end (checked without blocking; the watch's client sends
  // nothing after its request, so readable means closed).
  static bool ClientGone(int fd) {
    pollfd entry{fd, POLLIN, 0};
    if (poll(&entry, 1, 0) <= 0) return false;
    char byte;
    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0 || (entry.revents & POLLHUP) != 0;
  }

  void Serve() {
    while (!stop_) {
      if (!Readable(listener_)) continue;
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      if (handlers_.size() >= kMaxConnections) {
        close(fd);
        continue;
      }
      handlers_.emplace_back([this, fd] {
        Handle(fd);
        close(fd);
      });
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
    SliceMode slice_mode;
    std::string list_body;
    {
      std::lock_guard lock(mu_);
      seen_.push_back(request);
      status = status_;
      body = body_;
      slice_mode = slice_mode_;
      list_body = list_body_;
    }
    const std::string route = RouteOf(request.method, request.path);
    if (route == "list") {
      AnswerList(ssl, fd, slice_mode, list_body);
    } else if (route == "watch") {
      AnswerWatch(ssl, fd, slice_mode, request.path);
    } else {
      AnswerEvent(ssl, fd, mode, status, body, request);
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
  }

  void AnswerEvent(SSL* ssl, int fd, Mode mode, int status, const std::string& body,
                   const Seen& request) {
    switch (mode) {
      case Mode::kCreated:
        Write(ssl, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(request.body.size()) + "\r\n\r\n" + request.body);
        break;
      case Mode::kStatus:
        WriteStatus(ssl, status, body);
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
        if (Write(ssl, "HTTP/1.1 201 Created\r\nContent-Length: 1000\r\n\r\n")) Trickle(ssl);
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
  }

  // The slice modes that answer the list and the watch alike (403, silence, a trickle): one
  // writer, so that the two routes cannot drift apart. Any other mode writes nothing here.
  void AnswerBothSliceRoutes(SSL* ssl, int fd, SliceMode mode) {
    if (mode == SliceMode::kForbidden) {
      WriteStatus(ssl, 403, testing::ReadFixture("kube_api/status_forbidden.json"));
    } else if (mode == SliceMode::kNeverAnswer) {
      WaitClientGone(fd);
    } else if (mode == SliceMode::kTrickle) {
      if (Write(ssl, kChunkedHead) && Write(ssl, "3e8\r\n")) Trickle(ssl);
    }
  }

  void AnswerList(SSL* ssl, int fd, SliceMode mode, const std::string& list_body) {
    switch (mode) {
      case SliceMode::kServe:
      case SliceMode::kHugeWatch:
      case SliceMode::kBrokenWatch:
        Write(ssl, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(list_body.size()) + "\r\n\r\n" + list_body);
        break;
      case SliceMode::kServeChunked:
        if (Write(ssl, kChunkedHead)) {
          for (size_t at = 0; at < list_body.size(); at += 1000) {
            if (!WriteChunk(ssl, list_body.substr(at, 1000))) return;
          }
          Write(ssl, "0\r\n\r\n");
        }
        break;
      case SliceMode::kForbidden:
      case SliceMode::kNeverAnswer:
      case SliceMode::kTrickle:
        AnswerBothSliceRoutes(ssl, fd, mode);
        break;
      case SliceMode::kHuge:
        if (Write(ssl, kChunkedHead) &&
            WriteChunk(ssl, R"({"kind":"EndpointSliceList","metadata":{},"items":[)")) {
          Flood(ssl);
        }
        break;
      case SliceMode::kBrokenJson:
        Write(ssl,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              "Content-Length: 20\r\n\r\n{\"kind\":\"EndpointSl");
        break;
    }
  }

  void AnswerWatch(SSL* ssl, int fd, SliceMode mode, const std::string& path) {
    switch (mode) {
      case SliceMode::kServe:
      case SliceMode::kServeChunked:
        if (Write(ssl, kChunkedHead)) StreamScript(ssl, fd, path);
        break;
      case SliceMode::kForbidden:
      case SliceMode::kNeverAnswer:
      case SliceMode::kTrickle:
        AnswerBothSliceRoutes(ssl, fd, mode);
        break;
      case SliceMode::kHuge:
      case SliceMode::kBrokenJson:
        // The list failed: a client that watches anyway gets nothing.
        WaitClientGone(fd);
        break;
      case SliceMode::kHugeWatch:
        if (Write(ssl, kChunkedHead) && WriteChunk(ssl, R"({"type":"ADDED","object":{"x":")")) {
          Flood(ssl);
        }
        break;
      case SliceMode::kBrokenWatch:
        if (Write(ssl, kChunkedHead)) WriteChunk(ssl, "{\"type\":\"MODIFIED\",\"object\":{]\n");
        WaitClientGone(fd);
        break;
    }
  }

  // The scripted watch: lines pushed by the test, each as one chunk, until the script closes it,
  // the client goes, or the request's timeoutSeconds pass.
  void StreamScript(SSL* ssl, int fd, const std::string& path) {
    long timeout_s = 60;
    if (const size_t at = path.find("timeoutSeconds="); at != std::string::npos) {
      timeout_s = std::strtol(path.c_str() + at + 15, nullptr, 10);
    }
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    ++watches_open_;
    while (!stop_ && std::chrono::steady_clock::now() < end && !ClientGone(fd)) {
      std::string line;
      {
        std::unique_lock lock(mu_);
        if (script_.empty()) {
          cv_.wait_for(lock, std::chrono::milliseconds(20));
          continue;
        }
        line = std::move(script_.front());
        script_.pop_front();
      }
      if (line.empty()) break;  // CloseWatch
      const bool written = WriteChunk(ssl, line + "\n");
      {
        std::lock_guard lock(mu_);
        sent_.push_back({line, std::chrono::steady_clock::now(), std::chrono::system_clock::now()});
      }
      // An ERROR event ends a watch, as the API server ends it.
      if (!written || line.find("\"type\":\"ERROR\"") != std::string::npos) break;
    }
    --watches_open_;
    Write(ssl, "0\r\n\r\n");
  }

  // One byte a second (in steps that notice stop_), at most 1000.
  void Trickle(SSL* ssl) {
    for (int i = 0; i < 1000 && !stop_; ++i) {
      if (!Write(ssl, "x")) break;
      for (int step = 0; step < 20 && !stop_; ++step) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }

  // 100 MB of chunks, as fast as the client takes them.
  void Flood(SSL* ssl) {
    const std::string chunk(16384, 'x');
    for (size_t sent = 0; sent < 100000000 && !stop_; sent += chunk.size()) {
      if (!WriteChunk(ssl, chunk)) break;
    }
  }

  static bool Write(SSL* ssl, const std::string& bytes) {
    return bytes.empty() || SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size())) > 0;
  }
  static bool WriteChunk(SSL* ssl, const std::string& bytes) {
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", bytes.size());
    return Write(ssl, size + bytes + "\r\n");
  }
  static bool WriteStatus(SSL* ssl, int status, const std::string& body) {
    return Write(ssl, "HTTP/1.1 " + std::to_string(status) +
                          " Status\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  static constexpr const char* kChunkedHead =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

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
  std::atomic<int> watches_open_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Mode mode_;                                 // GUARDED_BY(mu_)
  int status_ = 500;                          // GUARDED_BY(mu_)
  std::string body_;                          // GUARDED_BY(mu_)
  SliceMode slice_mode_ = SliceMode::kServe;  // GUARDED_BY(mu_)
  std::string list_body_;                     // GUARDED_BY(mu_)
  std::deque<std::string> script_;            // GUARDED_BY(mu_): "" closes the watch
  std::vector<Seen> seen_;                    // GUARDED_BY(mu_)
  std::vector<Sent> sent_;                    // GUARDED_BY(mu_)
  std::vector<std::thread> handlers_;         // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace lastcall::test

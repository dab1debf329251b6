#pragma once

// Stand-ins for a mesh proxy's quit endpoint, served in the test process by lastcall's own
// HttpServer, answering exactly as the projects' sources do (docs/meshes.md cites them):
// - Istio, pilot-agent's status server (pilot/cmd/pilot-agent/status/server.go, handleQuit):
//   /quitquitquit from a non-loopback peer: 403 "Only requests from localhost are allowed\n";
//   any method but POST: 405 "Method Not Allowed\n"; POST: 200 "OK". Other paths: 404.
// - Linkerd, the proxy's admin server (linkerd/app/admin/src/server, "/shutdown"): any method
//   but POST: 405 with an empty body; a non-loopback peer: 403 "Requests are only permitted
//   from localhost."; POST: 200 "shutdown\n" (text/plain), or, when the endpoint is not enabled
//   (config.linkerd.io/proxy-admin-shutdown absent; LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED
//   false), 404 "shutdown endpoint is not enabled\n". Other paths: 404, empty.
// And a listener that never answers (a hung proxy). Test-only, header-only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/http_server.h"

namespace lastcall::test {

enum class MeshProxy { kIstio, kLinkerd, kLinkerdShutdownDisabled };

class MeshProxyStandIn {
 public:
  struct Seen {
    std::string method;
    std::string target;
    std::chrono::steady_clock::time_point at;
  };

  explicit MeshProxyStandIn(MeshProxy mesh)
      : mesh_(mesh),
        server_(HttpServerOptions{}, [this](const ServerRequest& r, Responder respond) {
          {
            std::lock_guard lock(mu_);
            seen_.push_back({r.method, r.target, std::chrono::steady_clock::now()});
          }
          respond(Answer(r));
        }) {
    ListenAddress address;
    address.host = "127.0.0.1";
    address.port = 0;
    if (const std::string error = server_.Listen(address); !error.empty()) {
      throw std::runtime_error(error);
    }
    server_.Start();
  }

  uint16_t port() const { return server_.port(); }
  // The documented quit URL of this mesh, on the stand-in's port.
  std::string quit_url() const {
    return "http://127.0.0.1:" + std::to_string(port()) +
           (mesh_ == MeshProxy::kIstio ? "/quitquitquit" : "/shutdown");
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  // When the proxy took a quit request (answered 200), if it did.
  std::optional<std::chrono::steady_clock::time_point> quit_at() const {
    std::lock_guard lock(mu_);
    return quit_at_;
  }

 private:
  static ServerResponse Reply(int status, std::string body, std::string type) {
    ServerResponse response;
    response.status = status;
    response.body = std::move(body);
    response.content_type = std::move(type);
    return response;
  }

  static bool FromLoopback(const ServerRequest& r) {
    return r.peer.rfind("127.", 0) == 0 || r.peer.rfind("[::1]", 0) == 0;
  }

  ServerResponse Answer(const ServerRequest& r) {
    // Go's http.Error: text/plain, the message and a newline.
    const std::string go_text = "text/plain; charset=utf-8";
    if (mesh_ == MeshProxy::kIstio) {
      if (r.path != "/quitquitquit") return Reply(404, "404 page not found\n", go_text);
      if (!FromLoopback(r)) {
        return Reply(403, "Only requests from localhost are allowed\n", go_text);
      }
      if (r.method != "POST") return Reply(405, "Method Not Allowed\n", go_text);
      MarkQuit();
      return Reply(200, "OK", go_text);
    }
    if (r.path != "/shutdown") return Reply(404, "", "");
    if (r.method != "POST") return Reply(405, "", "");
    if (!FromLoopback(r)) {
      return Reply(403, "Requests are only permitted from localhost.", "text/plain");
    }
    if (mesh_ == MeshProxy::kLinkerdShutdownDisabled) {
      return Reply(404, "shutdown endpoint is not enabled\n", "text/plain");
    }
    MarkQuit();
    return Reply(200, "shutdown\n", "text/plain");
  }

  void MarkQuit() {
    std::lock_guard lock(mu_);
    if (!quit_at_) quit_at_ = std::chrono::steady_clock::now();
  }

  MeshProxy mesh_;
  mutable std::mutex mu_;
  std::vector<Seen> seen_;                                        // GUARDED_BY(mu_)
  std::optional<std::chrono::steady_clock::time_point> quit_at_;  // GUARDED_BY(mu_)
  HttpServer server_;
};

// A proxy that hangs: the kernel completes every connect (the backlog), nobody ever reads or
// answers. The socket closes with the object.
class HungProxy {
 public:
  HungProxy() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("HungProxy: cannot listen");
    }
    port_ = ntohs(address.sin_port);
  }
  ~HungProxy() { ::close(fd_); }
  HungProxy(const HungProxy&) = delete;
  HungProxy& operator=(const HungProxy&) = delete;
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace lastcall::test

#pragma once

// An app double for integration tests, served in the test process by lastcall's own HttpServer:
// each test scripts exactly the answers it needs (malformed bodies, 5xx, slow answers).
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "http/http_server.h"

namespace lastcall::test {

class FakeApp {
 public:
  using Script = std::function<ServerResponse(const ServerRequest&)>;
  explicit FakeApp(Script script)
      : script_(std::move(script)),
        server_(HttpServerOptions{}, [this](const ServerRequest& r, Responder respond) {
          {
            std::lock_guard lock(mu_);
            seen_.push_back(r.method + " " + r.path);
          }
          respond(script_(r));
        }) {
    ListenAddress address;
    address.host = "127.0.0.1";
    address.port = 0;
    const std::string error = server_.Listen(address);
    if (!error.empty()) throw std::runtime_error(error);
    server_.Start();
  }
  uint16_t port() const { return server_.port(); }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }
  int Count(const std::string& method_and_path) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& s : seen_) n += s == method_and_path ? 1 : 0;
    return n;
  }

  static ServerResponse Answer(int status, std::string body,
                               std::string type = "application/json") {
    ServerResponse response;
    response.status = status;
    response.body = std::move(body);
    response.content_type = std::move(type);
    return response;
  }

 private:
  Script script_;
  mutable std::mutex mu_;
  std::vector<std::string> seen_;
  HttpServer server_;
};

}  // namespace lastcall::test

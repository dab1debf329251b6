#pragma once

// Helpers for the HTTP client and server tests: raw sockets with timeouts, so a test can play a
// misbehaving client or server byte by byte. Test-only; header-only so the library does not
// carry it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "http/http_client.h"

namespace lastcall::testing {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

inline Deadline In(milliseconds timeout) { return steady_clock::now() + timeout; }

inline milliseconds MillisSince(steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
}

// Waits for `fd` to have `events`; false on timeout.
inline bool PollFor(int fd, short events, steady_clock::time_point deadline) {
  while (true) {
    auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd entry{fd, events, 0};
    int ready = poll(&entry, 1, static_cast<int>(left));
    if (ready > 0) return true;
  }
}

// A blocking client socket that reads whole responses (Content-Length framing only, which is
// all HttpServer produces) and keeps what it read past one of them for the next.
class RawClient {
 public:
  static RawClient Tcp(uint16_t port, const std::string& ip = "127.0.0.1") {
    RawClient client;
    bool v6 = ip.find(':') != std::string::npos;
    client.fd_ = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int result = -1;
    if (v6) {
      sockaddr_in6 address{};
      address.sin6_family = AF_INET6;
      address.sin6_port = htons(port);
      inet_pton(AF_INET6, ip.c_str(), &address.sin6_addr);
      result = connect(client.fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    } else {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(port);
      inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
      result = connect(client.fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    }
    if (result != 0) client.Close();
    return client;
  }

  static RawClient Unix(const std::string& path) {
    RawClient client;
    client.fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    if (connect(client.fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      client.Close();
    }
    return client;
  }

  RawClient() = default;
  RawClient(RawClient&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), buffered_(std::move(other.buffered_)) {}
  RawClient& operator=(RawClient&& other) noexcept {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    buffered_ = std::move(other.buffered_);
    return *this;
  }
  ~RawClient() { Close(); }

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One response, or "" when none completed within `timeout`.
  std::string ReadResponse(milliseconds timeout = milliseconds(2000), bool head = false) {
    auto deadline = steady_clock::now() + timeout;
    while (true) {
      size_t end = buffered_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t total = end + 4 + (head ? 0 : ContentLength(buffered_.substr(0, end)));
        if (buffered_.size() >= total) {
          std::string response = buffered_.substr(0, total);
          buffered_.erase(0, total);
          return response;
        }
      }
      if (!ReadSome(deadline)) return "";
    }
  }

  // True when the server closed the connection (EOF or reset) within `timeout`; what it sent
  // before closing is discarded.
  bool WaitForClose(milliseconds timeout = milliseconds(2000)) {
    auto deadline = steady_clock::now() + timeout;
    while (true) {
      if (!PollFor(fd_, POLLIN, deadline)) return false;
      char buffer[4096];
      ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return true;
    }
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  static size_t ContentLength(const std::string& head) {
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return std::strtoul(lower.c_str() + at + 17, nullptr, 10);
  }

  bool ReadSome(steady_clock::time_point deadline) {
    if (!PollFor(fd_, POLLIN, deadline)) return false;
    char buffer[16384];
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    buffered_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffered_;
};

inline int StatusOf(const std::string& response) {
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) return 0;
  return std::atoi(response.c_str() + 9);
}

inline std::string BodyOf(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

// Reads a request head (up to the blank line) from a blocking socket; "" on timeout or EOF.
inline std::string ReadRequestHead(int fd, milliseconds timeout = milliseconds(2000)) {
  auto deadline = steady_clock::now() + timeout;
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (!PollFor(fd, POLLIN, deadline)) return "";
    char c[4096];
    ssize_t n = recv(fd, c, sizeof(c), 0);
    if (n <= 0) return "";
    head.append(c, static_cast<size_t>(n));
  }
  return head;
}

// A TCP socket bound to a free port on 127.0.0.1, not yet listening.
inline int BindLoopback(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  return fd;
}

// A port on 127.0.0.1 that refuses connections: bound (so nobody else takes it), not listening.
class ClosedPort {
 public:
  ClosedPort() : fd_(BindLoopback(&port_)) {}
  ~ClosedPort() { close(fd_); }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  uint16_t port() const { return port_; }

 private:
  uint16_t port_ = 0;
  int fd_;
};

// A TCP listener on 127.0.0.1 whose connections `script` handles, one after another, on one
// thread: the misbehaving server a client test needs. `stop` turns true when the test ends.
class ScriptedServer {
 public:
  using Script = std::function<void(int fd, const std::atomic<bool>& stop)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listen_fd_ = BindLoopback(&port_);
    listen(listen_fd_, 16);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        if (!PollFor(listen_fd_, POLLIN, steady_clock::now() + milliseconds(20))) continue;
        int fd = accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) continue;
        script_(fd, stop_);
        close(fd);
      }
    });
  }
  ~ScriptedServer() {
    stop_.store(true);
    thread_.join();
    close(listen_fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& target = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + target;
  }

 private:
  Script script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/lastcall-test-XXXXXX";
    char* made = mkdtemp(pattern.data());
    if (made != nullptr) path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace lastcall::testing

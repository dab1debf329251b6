#include "drained_pusher.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kNetworkTimeout{2000};  // connect, and the answer after the send
constexpr int kAttempts = 3;

int PollMs(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// A connected socket to host:port, or -1 with *error set.
int Connect(const std::string& host, const std::string& port, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    *error = "resolve " + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  *error = "no address for " + host;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      *error = std::string("connect: ") + std::strerror(errno);
      close(fd);
      fd = -1;
      continue;
    }
    pollfd entry{fd, POLLOUT, 0};
    int so_error = 0;
    socklen_t length = sizeof so_error;
    if (poll(&entry, 1, static_cast<int>(kNetworkTimeout.count())) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length) != 0 || so_error != 0) {
      *error = std::string("connect: ") + (so_error ? std::strerror(so_error) : "timeout");
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  return fd;
}

// The status code of the answer on `fd` ("200"), or "" when the connection closed or timed out
// before a status line arrived.
std::string ReadStatus(int fd) {
  const auto deadline = Clock::now() + kNetworkTimeout;
  std::string buffer;
  while (buffer.find("\r\n") == std::string::npos) {
    pollfd entry{fd, POLLIN, 0};
    if (poll(&entry, 1, PollMs(deadline)) != 1) return "";
    char chunk[512];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      return "";
    }
  }
  // "HTTP/1.1 200 OK"
  return buffer.size() >= 12 && buffer.rfind("HTTP/", 0) == 0 ? buffer.substr(9, 3) : "";
}

}  // namespace

struct DrainedPusher::Shared {
  std::string host;
  std::string port;
  std::string request;
  Report report;

  std::mutex mu;
  std::condition_variable cv;
  bool started = false;       // GUARDED_BY(mu)
  bool requested = false;     // GUARDED_BY(mu): Push() was called
  bool sent = false;          // GUARDED_BY(mu): the request went out on `fd`
  int fd = -1;                // GUARDED_BY(mu): the open connection, before the request is sent
  Clock::time_point sent_at;  // GUARDED_BY(mu)

  // REQUIRES: mu held.
  void SendLocked() {
    if (fd < 0 || sent) return;
    const Clock::time_point now = Clock::now();
    const ssize_t n = send(fd, request.data(), request.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    sent = n == static_cast<ssize_t>(request.size());
    if (sent) sent_at = now;
  }
};

DrainedPusher::DrainedPusher(const std::string& url, Report report)
    : shared_(std::make_shared<Shared>()) {
  const size_t path_at = url.find('/', 7);
  const std::string authority = url.substr(7, path_at - 7);
  const size_t colon = authority.rfind(':');
  std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  shared_->host = host;
  shared_->port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  shared_->request = "POST " + url.substr(path_at) + " HTTP/1.1\r\nHost: " + authority +
                     "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  shared_->report = std::move(report);
}

void DrainedPusher::Prepare() {
  std::lock_guard lock(shared_->mu);
  if (shared_->started) return;
  shared_->started = true;
  std::thread(Run, shared_).detach();
}

void DrainedPusher::Push() {
  Prepare();
  std::lock_guard lock(shared_->mu);
  if (shared_->requested) return;
  shared_->requested = true;
  shared_->SendLocked();
  shared_->cv.notify_all();
}

void DrainedPusher::Run(std::shared_ptr<Shared> shared) {
  std::string error;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const int fd = Connect(shared->host, shared->port, &error);
    if (fd < 0) {
      // Spend the remaining attempts when the push is due, not before.
      std::unique_lock lock(shared->mu);
      shared->cv.wait(lock, [&] { return shared->requested; });
      continue;
    }
    Clock::time_point sent_at;
    {
      std::unique_lock lock(shared->mu);
      shared->fd = fd;
      shared->sent = false;
      shared->cv.wait(lock, [&] { return shared->requested; });
      shared->SendLocked();
      shared->fd = -1;  // from here on only this thread touches the connection
      if (!shared->sent) {
        close(fd);
        error = "send failed";
        continue;
      }
      sent_at = shared->sent_at;
    }
    const std::string status = ReadStatus(fd);
    close(fd);
    if (!status.empty()) {
      shared->report(sent_at, status);
      return;
    }
    error = "no answer";  // most likely closed by the sidecar's idle timeout: send again
  }
  shared->report(Clock::now(),
                 "gave up after " + std::to_string(kAttempts) + " attempts: " + error);
}

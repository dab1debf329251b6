// PosixHttpClient: one request per connection, one absolute deadline for everything. Each
// blocking step is a non-blocking syscall followed by poll() with the time left, so a server that
// stalls or trickles bytes cannot hold a call past its deadline.
#include "http/http_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/last_resort.h"
#include "base/net_util.h"
#include "http/http_response_reader.h"
#include "version.h"

namespace lastcall {
namespace {

using std::chrono::steady_clock;

HttpResponse Failure(HttpError error, std::string detail) {
  HttpResponse response;
  response.error = error;
  response.error_detail = std::move(detail);
  return response;
}

class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd() { Reset(); }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

enum class Wait { kReady, kTimeout };

// Waits until `fd` has `events` or the deadline passes. Errors and hang-ups count as ready: the
// next syscall on the socket reports them properly.
Wait WaitFor(int fd, short events, Deadline deadline) {
  while (true) {
    auto left = deadline - steady_clock::now();
    if (left <= steady_clock::duration::zero()) return Wait::kTimeout;
    // Round up so a wait never ends a hair before the deadline and spins.
    auto millis = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    pollfd entry{fd, events, 0};
    int ready = poll(&entry, 1, static_cast<int>(std::min<decltype(millis)>(millis, INT_MAX)));
    if (ready > 0) return Wait::kReady;
    if (ready < 0 && errno != EINTR) return Wait::kReady;
  }
}

struct Endpoint {
  SocketAddress address;
  std::string text;  // for error messages
};

// Turns the URL into addresses to try in order: IP literals and "localhost" only, never the
// resolver (the static binary has no NSS modules, and getaddrinfo ignores deadlines).
HttpResponse Resolve(const Url& url, std::vector<Endpoint>* endpoints) {
  if (url.scheme == Url::Scheme::kUnix) {
    std::string problem = ValidateSocketPath(url.socket_path);
    if (!problem.empty()) return Failure(HttpError::kOther, problem);
    endpoints->push_back({UnixSocketAddress(url.socket_path), url.socket_path});
    return {};
  }
  std::string port = ":" + std::to_string(url.port);
  if (std::optional<SocketAddress> literal = IpSocketAddress(url.host, url.port)) {
    bool v6 = literal->family() == AF_INET6;
    endpoints->push_back({*literal, (v6 ? "[" + url.host + "]" : url.host) + port});
    return {};
  }
  if (EqualsIgnoreCase(url.host, "localhost")) {
    endpoints->push_back({*IpSocketAddress("127.0.0.1", url.port), "127.0.0.1" + port});
    endpoints->push_back({*IpSocketAddress("::1", url.port), "[::1]" + port});
    return {};
  }
  // ParseUrl accepts nothing else; a Url built by hand with a name gets a clear failure rather
  // than a lookup the deadline could not bound.
  return Failure(
      HttpError::kOther,
      "host " + url.host + " is not an IP address or localhost (names are not resolved)");
}

HttpError ClassifyConnectError(int error) {
  switch (error) {
    case ECONNREFUSED:
    case ENOENT:  // a Unix socket file that does not exist: nobody listens
      return HttpError::kRefused;
    case ETIMEDOUT:
      return HttpError::kTimeout;
    case ECONNRESET:
      return HttpError::kReset;
    default:
      return HttpError::kOther;
  }
}

// Connects to one endpoint before the deadline. On success stores the socket in *fd.
HttpResponse ConnectOne(const Endpoint& endpoint, Deadline deadline, ScopedFd* fd) {
  const int family = endpoint.address.family();
  while (true) {
    int raw = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (raw < 0) {
      int error = errno;
      return Failure(HttpError::kOther, "socket for " + endpoint.text + ": " + ErrnoText(error));
    }
    fd->Reset(raw);
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(raw, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
    if (connect(raw, endpoint.address.get(), endpoint.address.length) == 0) {
      return {};
    }
    int error = errno;
    if (family == AF_UNIX && error == EAGAIN) {
      // A Unix listener with a full backlog: connect() does not wait, so retry until the
      // deadline rather than calling a busy server dead.
      if (steady_clock::now() + std::chrono::milliseconds(5) >= deadline) {
        return Failure(HttpError::kTimeout,
                       "connect to " + endpoint.text + ": the listener's backlog stayed full");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (error != EINPROGRESS && error != EINTR) {
      return Failure(ClassifyConnectError(error),
                     "connect to " + endpoint.text + ": " + ErrnoText(error));
    }
    if (WaitFor(raw, POLLOUT, deadline) == Wait::kTimeout) {
      return Failure(HttpError::kTimeout, "connect to " + endpoint.text + ": timed out");
    }
    socklen_t length = sizeof(error);
    if (getsockopt(raw, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error == 0) return {};
    return Failure(ClassifyConnectError(error),
                   "connect to " + endpoint.text + ": " + ErrnoText(error));
  }
}

// Serializes the request. Framing headers (Connection, Content-Length, Transfer-Encoding) are
// always lastcall's own; Host and User-Agent may be overridden by the caller.
HttpResponse BuildRequest(const HttpRequest& request, std::string* out) {
  if (!IsToken(request.method)) {
    return Failure(HttpError::kOther, "invalid request method \"" + request.method + "\"");
  }
  for (char c : request.url.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Failure(HttpError::kOther, "the request target contains a space or control byte");
    }
  }
  bool has_host = false;
  bool has_user_agent = false;
  std::string extra;
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name)) return Failure(HttpError::kOther, "invalid header name \"" + name + "\"");
    if (HasLineBreak(value)) {
      return Failure(HttpError::kOther, "header " + name + " contains a line break or NUL");
    }
    if (EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "content-length") ||
        EqualsIgnoreCase(name, "transfer-encoding")) {
      continue;
    }
    has_host = has_host || EqualsIgnoreCase(name, "host");
    has_user_agent = has_user_agent || EqualsIgnoreCase(name, "user-agent");
    extra += name + ": " + value + "\r\n";
  }

  *out = request.method + " " + request.url.target + " HTTP/1.1\r\n";
  if (!has_host) {
    if (request.url.scheme == Url::Scheme::kUnix) {
      *out += "Host: localhost\r\n";
    } else {
      bool v6 = request.url.host.find(':') != std::string::npos;
      *out += "Host: " + (v6 ? "[" + request.url.host + "]" : request.url.host);
      if (request.url.port != 80) *out += ":" + std::to_string(request.url.port);
      *out += "\r\n";
    }
  }
  if (!has_user_agent) *out += std::string("User-Agent: lastcall/") + kVersion + "\r\n";
  *out += extra;
  *out += "Connection: close\r\n";
  // Some servers answer 411 to a POST without Content-Length, even an empty one.
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    *out += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  *out += "\r\n";
  *out += request.body;
  return {};
}

}  // namespace

HttpResponse PosixHttpClient::Send(const HttpRequest& request, Deadline deadline) {
  std::string wire;
  if (HttpResponse failed = BuildRequest(request, &wire); !failed.ok()) return failed;
  if (steady_clock::now() >= deadline) {
    return Failure(HttpError::kTimeout, "the deadline passed before connecting");
  }

  std::vector<Endpoint> endpoints;
  if (HttpResponse failed = Resolve(request.url, &endpoints); !failed.ok()) return failed;
  ScopedFd fd;
  HttpResponse connected;
  for (const Endpoint& endpoint : endpoints) {
    connected = ConnectOne(endpoint, deadline, &fd);
    if (connected.ok() || connected.error == HttpError::kTimeout) break;
  }
  if (!connected.ok()) return connected;

  std::string send_error;
  size_t sent = 0;
  while (sent < wire.size()) {
    ssize_t n = send(fd.get(), wire.data() + sent, wire.size() - sent, kSendFlags);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      if (WaitFor(fd.get(), POLLOUT, deadline) == Wait::kTimeout) {
        return Failure(HttpError::kTimeout, "timed out sending the request (" +
                                                std::to_string(sent) + " of " +
                                                std::to_string(wire.size()) + " bytes sent)");
      }
      continue;
    }
    if (error == EPIPE || error == ECONNRESET) {
      // The server may have answered early (413) and closed; read what it said.
      send_error = "sending the request: " + ErrnoText(error);
      break;
    }
    return Failure(HttpError::kOther, "sending the request: " + ErrnoText(error));
  }

  ResponseReader reader(request.method == "HEAD", max_body_bytes_);
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      ResponseReader::State state = reader.Feed(std::string_view(buffer, static_cast<size_t>(n)));
      if (state != ResponseReader::State::kNeedMore) return std::move(reader.response());
      // A server that always has a little more to send must not outlast the deadline either.
      if (steady_clock::now() >= deadline) {
        return Failure(HttpError::kTimeout, "no complete response before the deadline (" +
                                                std::to_string(reader.received()) +
                                                " bytes received)");
      }
      continue;
    }
    if (n == 0) {
      if (reader.received() == 0 && !send_error.empty()) {
        return Failure(HttpError::kReset, send_error);
      }
      reader.FinishAtEof();
      return std::move(reader.response());
    }
    int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      if (WaitFor(fd.get(), POLLIN, deadline) == Wait::kTimeout) {
        return Failure(HttpError::kTimeout, "no complete response before the deadline (" +
                                                std::to_string(reader.received()) +
                                                " bytes received)");
      }
      continue;
    }
    HttpError kind = error == ECONNRESET ? HttpError::kReset : HttpError::kOther;
    return Failure(kind, "reading the response: " + ErrnoText(error) + " (" +
                             std::to_string(reader.received()) + " bytes received)");
  }
}

HttpResponse NoThrowHttpClient::Send(const HttpRequest& request, Deadline deadline) {
  try {
    return inner_->Send(request, deadline);
  } catch (...) {
    // The answer's buffer is gone with the exception: there is room for this one now.
    HttpResponse failed;
    failed.error = HttpError::kOther;
    failed.error_detail = DescribeException(std::current_exception());
    return failed;
  }
}

}  // namespace lastcall

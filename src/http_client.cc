// PosixHttpClient: one request per connection, one absolute deadline for everything. Each
// blocking step is a non-blocking syscall followed by poll() with the time left, so a server that
// stalls or trickles bytes cannot hold a call past its deadline.
#include "http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net_util.h"
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

// Turns the URL into addresses to try in order. IP literals and "localhost" never touch the
// resolver (the static binary has no NSS modules, and the answer is known anyway).
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
  // getaddrinfo has no deadline; lastcall's targets are almost always loopback literals.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  int status = getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &list);
  if (status != 0) {
    std::string reason = status == EAI_SYSTEM ? ErrnoText(errno) : gai_strerror(status);
    return Failure(HttpError::kOther, "cannot resolve " + url.host + ": " + reason);
  }
  for (addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_family != AF_INET && entry->ai_family != AF_INET6) continue;
    Endpoint endpoint{{}, url.host + port};
    std::memcpy(&endpoint.address.storage, entry->ai_addr, entry->ai_addrlen);
    endpoint.address.length = entry->ai_addrlen;
    endpoints->push_back(endpoint);
  }
  freeaddrinfo(list);
  if (endpoints->empty()) return Failure(HttpError::kOther, "no address for " + url.host);
  return {};
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

// Incremental response parser: bytes go in as they arrive, work stays linear in the input, and
// the limits are checked before anything is buffered past them.
class ResponseReader {
 public:
  enum class State { kNeedMore, kDone, kError };

  explicit ResponseReader(bool head_request) : head_request_(head_request) {}

  State Feed(std::string_view bytes) {
    received_ += bytes.size();
    if (phase_ == Phase::kHeaders) {
      head_.append(bytes);
      return ParseHeaders();
    }
    return FeedBody(bytes);
  }

  // The peer closed the connection.
  State FinishAtEof() {
    if (phase_ == Phase::kBody && framing_ == Framing::kUntilClose) {
      phase_ = Phase::kDone;
      return State::kDone;
    }
    std::string what = phase_ == Phase::kHeaders ? "before the response headers were complete"
                                                 : "in the middle of the response body";
    return Fail(HttpError::kReset, "the server closed the connection " + what + " (" +
                                       std::to_string(received_) + " bytes received)");
  }

  size_t received() const { return received_; }
  HttpResponse& response() { return response_; }

 private:
  enum class Phase { kHeaders, kBody, kDone };
  enum class Framing { kLength, kChunked, kUntilClose };
  enum class ChunkState { kSize, kData, kDataEnd, kTrailer };

  State Fail(HttpError error, std::string detail) {
    response_.error = error;
    response_.error_detail = std::move(detail);
    phase_ = Phase::kDone;
    return State::kError;
  }

  State Malformed(std::string detail) { return Fail(HttpError::kMalformed, std::move(detail)); }

  State BodyTooLarge() {
    return Malformed("the response body exceeds " + std::to_string(PosixHttpClient::kMaxBodyBytes) +
                     " bytes");
  }

  // Finds the blank line ending the header block; resumes where the last call stopped.
  size_t FindHeaderEnd() {
    for (size_t i = scan_from_; i < head_.size(); ++i) {
      if (head_[i] != '\n') continue;
      if (i + 1 >= head_.size() || (head_[i + 1] == '\r' && i + 2 >= head_.size())) {
        scan_from_ = i;  // cannot tell yet
        return std::string::npos;
      }
      if (head_[i + 1] == '\n') return i + 2;
      if (head_[i + 1] == '\r' && head_[i + 2] == '\n') return i + 3;
    }
    scan_from_ = head_.size();
    return std::string::npos;
  }

  State ParseHeaders() {
    while (true) {
      constexpr std::string_view kPrefix = "HTTP/1.";
      size_t check = std::min(head_.size(), kPrefix.size());
      if (head_.compare(0, check, kPrefix.substr(0, check)) != 0) {
        std::string start = head_.substr(0, 16);
        for (char& c : start) {
          if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
        }
        return Malformed("the answer is not HTTP/1.x (it starts with \"" + start + "\")");
      }
      size_t end = FindHeaderEnd();
      if (end == std::string::npos) {
        if (head_.size() > PosixHttpClient::kMaxHeaderBytes) return HeadersTooLarge();
        return State::kNeedMore;
      }
      if (end > PosixHttpClient::kMaxHeaderBytes) return HeadersTooLarge();
      std::string rest = head_.substr(end);
      head_.resize(end);
      if (State state = ParseHeaderBlock(); state == State::kError) return state;
      if (response_.status >= 100 && response_.status < 200) {
        // An interim answer (100 Continue, 103 Early Hints): the real one follows.
        if (++interim_answers_ > kMaxInterimAnswers) {
          return Malformed("more than " + std::to_string(kMaxInterimAnswers) +
                           " interim (1xx) answers");
        }
        response_.status = 0;
        response_.headers.clear();
        head_ = std::move(rest);
        scan_from_ = 0;
        continue;
      }
      phase_ = Phase::kBody;
      head_.clear();
      if (State state = StartBody(); state != State::kNeedMore) return state;
      return FeedBody(rest);
    }
  }

  State HeadersTooLarge() {
    return Malformed("the response headers exceed " +
                     std::to_string(PosixHttpClient::kMaxHeaderBytes) + " bytes");
  }

  State ParseHeaderBlock() {
    std::string_view block = head_;
    bool first = true;
    while (!block.empty()) {
      size_t newline = block.find('\n');
      std::string_view line = block.substr(0, newline);
      block = newline == std::string_view::npos ? std::string_view() : block.substr(newline + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (first) {
        first = false;
        // "HTTP/1.1 200 OK"; the reason phrase is optional.
        if (line.size() < 12 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
            (line.size() > 12 && line[12] != ' ')) {
          return Malformed("bad status line \"" + std::string(line.substr(0, 64)) + "\"");
        }
        int status = 0;
        auto [ptr, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
        if (ec != std::errc() || ptr != line.data() + 12 || status < 100 || status > 599) {
          return Malformed("bad status line \"" + std::string(line.substr(0, 64)) + "\"");
        }
        if (status == 101) return Malformed("unexpected 101 Switching Protocols");
        response_.status = status;
        continue;
      }
      if (line.empty()) break;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
        return Malformed("bad header line \"" + std::string(line.substr(0, 64)) + "\"");
      }
      response_.headers.emplace_back(ToLowerAscii(line.substr(0, colon)),
                                     std::string(TrimSpace(line.substr(colon + 1))));
    }
    return State::kNeedMore;
  }

  // Chooses the body framing from the headers (RFC 9112 §6.3).
  State StartBody() {
    if (head_request_ || response_.status == 204 || response_.status == 304) {
      phase_ = Phase::kDone;
      return State::kDone;
    }
    std::optional<std::string> length_text;
    for (const auto& [name, value] : response_.headers) {
      if (name == "transfer-encoding") {
        size_t comma = value.rfind(',');
        std::string_view last =
            TrimSpace(std::string_view(value).substr(comma == std::string::npos ? 0 : comma + 1));
        if (!EqualsIgnoreCase(last, "chunked")) {
          return Malformed("unsupported Transfer-Encoding \"" + value + "\"");
        }
        framing_ = Framing::kChunked;
        return State::kNeedMore;
      }
      if (name == "content-length") {
        if (length_text && *length_text != value) return Malformed("conflicting Content-Length");
        length_text = value;
      }
    }
    if (!length_text) {
      framing_ = Framing::kUntilClose;
      return State::kNeedMore;
    }
    if (length_text->empty() || length_text->size() > 18 ||
        !std::all_of(length_text->begin(), length_text->end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return Malformed("bad Content-Length \"" + *length_text + "\"");
    }
    remaining_ = std::stoull(*length_text);
    if (remaining_ > PosixHttpClient::kMaxBodyBytes) return BodyTooLarge();
    framing_ = Framing::kLength;
    response_.body.reserve(remaining_);
    if (remaining_ == 0) {
      phase_ = Phase::kDone;
      return State::kDone;
    }
    return State::kNeedMore;
  }

  State FeedBody(std::string_view bytes) {
    switch (framing_) {
      case Framing::kLength: {
        size_t take = std::min<size_t>(remaining_, bytes.size());
        response_.body.append(bytes.substr(0, take));
        remaining_ -= take;
        if (remaining_ > 0) return State::kNeedMore;
        phase_ = Phase::kDone;
        return State::kDone;
      }
      case Framing::kUntilClose:
        if (response_.body.size() + bytes.size() > PosixHttpClient::kMaxBodyBytes) {
          return BodyTooLarge();
        }
        response_.body.append(bytes);
        return State::kNeedMore;
      case Framing::kChunked:
        return FeedChunked(bytes);
    }
    return State::kNeedMore;
  }

  State FeedChunked(std::string_view bytes) {
    constexpr size_t kMaxLineBytes = 4096;  // a chunk-size line with extensions
    while (!bytes.empty()) {
      if (chunk_state_ == ChunkState::kData) {
        size_t take = std::min<size_t>(remaining_, bytes.size());
        response_.body.append(bytes.substr(0, take));
        bytes.remove_prefix(take);
        remaining_ -= take;
        if (remaining_ == 0) chunk_state_ = ChunkState::kDataEnd;
        continue;
      }
      size_t newline = bytes.find('\n');
      std::string_view piece = bytes.substr(0, newline);
      line_.append(piece);
      if (chunk_state_ == ChunkState::kTrailer) {
        trailer_bytes_ += piece.size();
        if (trailer_bytes_ > PosixHttpClient::kMaxHeaderBytes) return HeadersTooLarge();
      } else if (line_.size() > kMaxLineBytes) {
        return Malformed("a chunk size line exceeds " + std::to_string(kMaxLineBytes) + " bytes");
      }
      if (newline == std::string_view::npos) return State::kNeedMore;
      bytes.remove_prefix(newline + 1);
      std::string_view line = line_;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (State state = EndChunkLine(line); state != State::kNeedMore) return state;
      line_.clear();
    }
    return State::kNeedMore;
  }

  State EndChunkLine(std::string_view line) {
    switch (chunk_state_) {
      case ChunkState::kSize: {
        std::string_view digits = TrimSpace(line.substr(0, line.find(';')));
        uint64_t size = 0;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
        if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
          return Malformed("bad chunk size line \"" + std::string(line.substr(0, 64)) + "\"");
        }
        if (size > PosixHttpClient::kMaxBodyBytes - response_.body.size()) return BodyTooLarge();
        remaining_ = size;
        chunk_state_ = size == 0 ? ChunkState::kTrailer : ChunkState::kData;
        return State::kNeedMore;
      }
      case ChunkState::kDataEnd:
        if (!line.empty()) return Malformed("a chunk is longer than its size line says");
        chunk_state_ = ChunkState::kSize;
        return State::kNeedMore;
      case ChunkState::kTrailer:
        if (!line.empty()) return State::kNeedMore;  // trailers are read and ignored
        phase_ = Phase::kDone;
        return State::kDone;
      case ChunkState::kData:
        break;
    }
    return State::kNeedMore;
  }

  static constexpr int kMaxInterimAnswers = 8;

  const bool head_request_;
  int interim_answers_ = 0;
  Phase phase_ = Phase::kHeaders;
  Framing framing_ = Framing::kUntilClose;
  ChunkState chunk_state_ = ChunkState::kSize;
  std::string head_;        // header bytes (and what followed them) until the blank line
  size_t scan_from_ = 0;    // where FindHeaderEnd resumes
  uint64_t remaining_ = 0;  // body bytes left (Content-Length) or in the current chunk
  std::string line_;        // a partial chunk-size or trailer line
  size_t trailer_bytes_ = 0;
  size_t received_ = 0;
  HttpResponse response_;
};

}  // namespace

std::string_view ToString(HttpError error) {
  switch (error) {
    case HttpError::kNone:
      return "none";
    case HttpError::kRefused:
      return "refused";
    case HttpError::kTimeout:
      return "timeout";
    case HttpError::kReset:
      return "reset";
    case HttpError::kMalformed:
      return "malformed";
    case HttpError::kOther:
      return "other";
  }
  return "unknown";
}

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

#ifdef MSG_NOSIGNAL
  constexpr int kSendFlags = MSG_NOSIGNAL;  // a closed peer must not raise SIGPIPE
#else
  constexpr int kSendFlags = 0;  // SO_NOSIGPIPE was set on the socket
#endif
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

  ResponseReader reader(request.method == "HEAD");
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

}  // namespace lastcall

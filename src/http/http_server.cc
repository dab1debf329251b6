// HttpServer: one epoll thread, level-triggered, every socket non-blocking. A connection is a
// small state machine (reading -> deferred -> writing -> reading | lingering); the thread never
// blocks except in epoll_wait, so a slow or hostile peer costs memory bounded by the limits and
// never time on another connection's request.
#include "http/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "base/last_resort.h"
#include "base/net_util.h"

namespace lastcall {

struct Responder::Shared {
  std::atomic<bool> used{false};
  std::function<void()> on_caller_left;  // server thread only
};

void Responder::OnCallerLeft(std::function<void()> hook) const {
  if (shared_) shared_->on_caller_left = std::move(hook);
}

namespace {

using Steady = std::chrono::steady_clock;
using TimePoint = Steady::time_point;
constexpr TimePoint kNever = TimePoint::max();

// epoll data ids below kFirstConnectionId are the server's own descriptors.
constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kFirstConnectionId = 2;

// What a connection waits for in each state (EPOLLHUP and EPOLLERR are always reported).
constexpr uint32_t kWantRequest = static_cast<uint32_t>(EPOLLIN | EPOLLRDHUP);
constexpr uint32_t kWantHangUp = static_cast<uint32_t>(EPOLLRDHUP);
constexpr uint32_t kWantRoom = static_cast<uint32_t>(EPOLLOUT);
constexpr uint32_t kWantNothing = 0;

constexpr size_t kReadChunk = 16 * 1024;
// After an answer that closes the connection, unread request bytes are drained for this long so
// the close does not turn into a reset that destroys the answer before the client reads it.
constexpr std::chrono::milliseconds kLingerTimeout{1000};
// How long Stop() keeps writing answers that were already given before it closes everything.
constexpr std::chrono::milliseconds kStopFlushTimeout{250};
constexpr size_t kMaxLingerBytes = 1024 * 1024;
// When accept() fails for lack of descriptors, stop accepting for a moment instead of spinning.
constexpr std::chrono::milliseconds kAcceptPause{100};

// "address already in use": errno text as the tail of a sentence.
std::string LowerErrnoText(int error) {
  std::string text = ErrnoText(error);
  if (text.size() >= 2 && text[0] >= 'A' && text[0] <= 'Z' && !(text[1] >= 'A' && text[1] <= 'Z')) {
    text[0] = ToLowerAscii(text[0]);
  }
  return text;
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (EqualsIgnoreCase(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

// Creates each missing directory of `path` with mode 0750. Returns "" or the problem.
std::string MakeDirectories(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), 0750) == 0) {
      chmod(prefix.c_str(), 0750);  // the umask may have taken group access away
    } else if (errno != EEXIST) {
      return "cannot create directory " + prefix + ": " + LowerErrnoText(errno);
    }
    if (slash == std::string::npos) return "";
  }
}

enum class SocketFileState { kLive, kStale, kError };

// Whether a process accepts on the socket file at `path`: connect() is refused when nobody does.
SocketFileState ProbeSocketFile(const std::string& path, std::string* problem) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *problem = "socket: " + LowerErrnoText(errno);
    return SocketFileState::kError;
  }
  SocketAddress address = UnixSocketAddress(path);
  int result = connect(fd, address.get(), address.length);
  int error = errno;
  close(fd);
  // EAGAIN: a listener whose backlog is full is still a listener.
  if (result == 0 || error == EAGAIN || error == EINPROGRESS) return SocketFileState::kLive;
  if (error == ECONNREFUSED) return SocketFileState::kStale;
  *problem = "cannot tell whether " + path + " is in use: " + LowerErrnoText(error);
  return SocketFileState::kError;
}

// Shared between the server and every Responder it hands out; outlives the server while any
// Responder does, so a late call finds `event_fd` == -1 and does nothing.
struct ResponseQueue {
  std::mutex mu;
  std::vector<std::pair<uint64_t, ServerResponse>> pending;  // GUARDED_BY(mu)
  int event_fd = -1;                                         // GUARDED_BY(mu); -1 once stopped
  std::atomic<std::thread::id> server_thread{};
  // Server thread only: the connection whose handler is running, and the answer its handler
  // gave synchronously (the common case, which needs no queue and no wake-up).
  uint64_t dispatching = 0;
  std::optional<ServerResponse> inline_response;
};

Responder MakeResponder(const std::shared_ptr<ResponseQueue>& queue, uint64_t connection,
                        const std::shared_ptr<Responder::Shared>& shared) {
  return Responder(
      [queue, connection, shared](ServerResponse response) {
        if (shared->used.exchange(true)) return;  // exactly once
        if (std::this_thread::get_id() == queue->server_thread.load() &&
            queue->dispatching == connection) {
          queue->inline_response = std::move(response);
          return;
        }
        std::lock_guard lock(queue->mu);
        if (queue->event_fd < 0) return;
        queue->pending.emplace_back(connection, std::move(response));
        uint64_t one = 1;
        // Cannot fail short of a counter overflow; a failed wake-up would only delay the answer.
        [[maybe_unused]] ssize_t written = write(queue->event_fd, &one, sizeof(one));
      },
      shared);
}

}  // namespace

size_t RaiseFileLimit() {
  static const size_t limit = [] {
    rlimit current{};
    if (getrlimit(RLIMIT_NOFILE, &current) != 0) return size_t{0};
    rlim_t wanted = current.rlim_max;
    constexpr rlim_t kCap = rlim_t{1} << 20;  // the kernel's default nr_open
    if (wanted == RLIM_INFINITY || wanted > kCap) wanted = kCap;
    if (current.rlim_cur < wanted) {
      rlimit raised = current;
      raised.rlim_cur = wanted;
      if (setrlimit(RLIMIT_NOFILE, &raised) == 0) current = raised;
    }
    return static_cast<size_t>(current.rlim_cur);
  }();
  return limit;
}

size_t ConnectionBudget(size_t file_limit, size_t reserved) {
  if (file_limit == 0) return SIZE_MAX;
  return file_limit > 2 * reserved ? file_limit - reserved : file_limit / 2;
}

struct HttpServer::Impl {
  enum class State {
    kReading,    // waiting for (the rest of) a request
    kDeferred,   // the handler has the request; its Responder has not answered yet
    kWriting,    // an answer is being sent
    kLingering,  // answered and shut down for writing; discarding input until the peer closes
  };

  struct Connection {
    int fd = -1;
    uint64_t id = 0;
    std::string peer;
    State state = State::kReading;
    std::string in;
    bool parse_now = false;  // new input may have completed a request
    size_t complete_at = 0;  // from the parser: no need to parse before `in` reaches this
    std::string out;
    size_t out_sent = 0;
    bool close_after_write = false;
    bool peer_closed = false;  // read EOF: the client will send nothing more
    bool head = false;         // the request being answered is HEAD
    bool echo_keep_alive = false;
    size_t served = 0;
    TimePoint deadline = kNever;
    TimePoint waiting_since;  // start of the wait for the current request, for eviction
    uint32_t events = 0;      // what is registered with epoll
    size_t lingered = 0;
    bool continue_sent = false;  // "100 Continue" went (or is going) out for this request
    std::string interim_unsent;  // the part of it the socket did not take
    // kDeferred: what the request's Responder shares, to tell its handler when the caller leaves.
    std::shared_ptr<Responder::Shared> waiting;
  };

  Impl(HttpServerOptions options_in, Handler handler_in)
      : options(std::move(options_in)),
        handler(std::move(handler_in)),
        queue(std::make_shared<ResponseQueue>()) {}

  // --- set-up ------------------------------------------------------------------------------

  std::string Listen(const ListenAddress& address) {
    if (listen_fd >= 0) return address.ToString() + ": this server is already listening";
    const size_t file_limit = RaiseFileLimit();
    descriptor_budget = ConnectionBudget(options.file_limit != 0 ? options.file_limit : file_limit,
                                         options.reserved_descriptors);
    connection_limit = std::min(options.max_connections, descriptor_budget);
    std::string problem = address.is_unix ? BindUnix(address) : BindTcp(address);
    if (!problem.empty()) return address.ToString() + ": " + problem;
    if (listen(listen_fd, SOMAXCONN) != 0) {
      problem = "listen: " + LowerErrnoText(errno);
      AbandonListener();
      return address.ToString() + ": " + problem;
    }
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd < 0 || wake_fd < 0) {
      problem = "epoll/eventfd: " + LowerErrnoText(errno);
      if (wake_fd >= 0) close(wake_fd);
      if (epoll_fd >= 0) close(epoll_fd);
      epoll_fd = -1;
      AbandonListener();
      return address.ToString() + ": " + problem;
    }
    {
      std::lock_guard lock(queue->mu);
      queue->event_fd = wake_fd;
    }
    Register(listen_fd, kListenId, EPOLLIN);
    Register(wake_fd, kWakeId, EPOLLIN);
    return "";
  }

  std::string BindTcp(const ListenAddress& address) {
    if (address.host.empty()) {
      // All interfaces: one dual-stack socket, or plain IPv4 where the kernel has no IPv6.
      std::string problem = BindTcpTo("::", address.port, /*dual_stack=*/true);
      if (problem.empty() || !ipv6_unavailable) return problem;
      return BindTcpTo("0.0.0.0", address.port, false);
    }
    return BindTcpTo(address.host == "localhost" ? "127.0.0.1" : address.host, address.port, false);
  }

  std::string BindTcpTo(const std::string& host, uint16_t port_number, bool dual_stack) {
    std::optional<SocketAddress> address = IpSocketAddress(host, port_number);
    if (!address) return "host \"" + host + "\" is not an IP address";
    int fd = socket(address->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ipv6_unavailable = address->family() == AF_INET6 && errno == EAFNOSUPPORT;
      return "socket: " + LowerErrnoText(errno);
    }
    listen_fd = fd;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (dual_stack) {
      int zero = 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, address->get(), address->length) != 0) {
      int error = errno;
      ipv6_unavailable =
          address->family() == AF_INET6 && (error == EADDRNOTAVAIL || error == EAFNOSUPPORT);
      CloseListener();
      return LowerErrnoText(error);
    }
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
    bound_port = PortOf(bound);
    return "";
  }

  std::string BindUnix(const ListenAddress& address) {
    const std::string& path = address.socket_path;
    if (std::string problem = ValidateSocketPath(path); !problem.empty()) return problem;
    if (size_t slash = path.rfind('/'); slash > 0) {
      if (std::string problem = MakeDirectories(path.substr(0, slash)); !problem.empty()) {
        return problem;
      }
    }
    struct stat existing {};
    if (lstat(path.c_str(), &existing) == 0) {
      if (!S_ISSOCK(existing.st_mode)) {
        return path + " exists and is not a socket; refusing to replace it";
      }
      std::string problem;
      switch (ProbeSocketFile(path, &problem)) {
        case SocketFileState::kLive:
          return "another process (another lastcall?) is already listening on " + path;
        case SocketFileState::kError:
          return problem;
        case SocketFileState::kStale:
          // Left behind by a process that died without cleaning up.
          if (unlink(path.c_str()) != 0 && errno != ENOENT) {
            return "cannot remove stale socket " + path + ": " + LowerErrnoText(errno);
          }
          break;
      }
    } else if (errno != ENOENT) {
      return "cannot inspect " + path + ": " + LowerErrnoText(errno);
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return "socket: " + LowerErrnoText(errno);
    listen_fd = fd;
    SocketAddress unix_address = UnixSocketAddress(path);
    if (bind(fd, unix_address.get(), unix_address.length) != 0) {
      int error = errno;
      CloseListener();
      return LowerErrnoText(error);
    }
    // The mode is set before listen(): until then every connect() is refused, so there is no
    // moment in which the file is reachable with the umask's permissions. (Changing the umask
    // instead would race with every other thread that creates files.)
    struct stat created {};
    if (chmod(path.c_str(), static_cast<mode_t>(options.unix_socket_mode)) != 0 ||
        lstat(path.c_str(), &created) != 0) {
      int error = errno;
      unlink(path.c_str());
      CloseListener();
      return "cannot set the mode of " + path + ": " + LowerErrnoText(error);
    }
    socket_path = path;
    socket_device = created.st_dev;
    socket_inode = created.st_ino;
    return "";
  }

  void CloseListener() {
    if (listen_fd >= 0) close(listen_fd);
    listen_fd = -1;
  }

  // Closes the listener and removes the unix socket file, if it is still the one we created.
  void AbandonListener() {
    CloseListener();
    if (socket_path.empty()) return;
    // Only our own file: another lastcall may have replaced it after deciding ours was stale.
    struct stat current {};
    if (lstat(socket_path.c_str(), &current) == 0 && current.st_dev == socket_device &&
        current.st_ino == socket_inode) {
      unlink(socket_path.c_str());
    }
    socket_path.clear();
  }

  void Register(int fd, uint64_t id, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = id;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
  }

  // --- the loop ----------------------------------------------------------------------------

  void Run() {
    queue->server_thread.store(std::this_thread::get_id());
    epoll_event events[256];
    while (!stopping.load()) {
      int ready = epoll_wait(epoll_fd, events, 256, WaitMillis());
      if (ready < 0 && errno != EINTR) break;  // EBADF/EINVAL: nothing sensible is left to do
      for (int i = 0; i < ready; ++i) {
        uint64_t id = events[i].data.u64;
        try {
          if (id == kListenId) {
            AcceptAll();
          } else if (id == kWakeId) {
            uint64_t count = 0;
            [[maybe_unused]] ssize_t got = read(WakeFd(), &count, sizeof(count));
            DeliverQueuedResponses();
          } else if (auto it = connections.find(id); it != connections.end()) {
            OnEvent(it->second.get(), events[i].events);
          }
        } catch (...) {
          Survive(id);
        }
      }
      TimePoint now = Steady::now();
      if (accept_paused_until != kNever && now >= accept_paused_until) {
        accept_paused_until = kNever;
        SetListenerEvents(EPOLLIN);
      }
      try {
        if (now >= next_sweep) Sweep(now);
      } catch (...) {
        Survive(kWakeId);
        next_sweep = now;  // sweep again at the next turn
      }
    }
    // Stop(): answers already given still go out (a /prestop answered as the sequence ended, just
    // before the process exits); deferred requests nobody answered get nothing.
    FlushAnswersBeforeStop();
    for (auto& [id, connection] : connections) close(connection->fd);
    connections.clear();
    open.store(0);
  }

  // An exception while serving `id` (std::bad_alloc under a memory limit; the handler's own):
  // that connection is closed, the server goes on. One fixed line: logging may need the memory
  // that just ran out.
  void Survive(uint64_t id) noexcept {
    ReleaseEmergencyMemory();
    queue->dispatching = 0;
    queue->inline_response.reset();
    WriteFatalLine(options.name == "probe"
                       ? "lastcall: error: out of memory (or another error) serving a connection "
                         "on the probe listener; closed it"
                       : "lastcall: error: out of memory (or another error) serving a connection "
                         "on the control listener; closed it");
    try {
      if (auto it = connections.find(id); id >= kFirstConnectionId && it != connections.end()) {
        Close(it->second.get());
      }
    } catch (...) {
      // Close's hook (the caller-left notice) failed too: the connection is gone all the same.
    }
    ReserveEmergencyMemory();
  }

  void FlushAnswersBeforeStop() {
    DeliverQueuedResponses();
    const TimePoint deadline = Steady::now() + kStopFlushTimeout;
    for (auto& [id, connection] : connections) {
      std::string& out = connection->out;
      while (connection->state == State::kWriting && connection->out_sent < out.size()) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Steady::now());
        if (left.count() <= 0) break;
        const ssize_t n = send(connection->fd, out.data() + connection->out_sent,
                               out.size() - connection->out_sent, MSG_NOSIGNAL);
        if (n > 0) {
          connection->out_sent += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          pollfd room{connection->fd, POLLOUT, 0};
          poll(&room, 1, static_cast<int>(left.count()));
        } else {
          break;
        }
      }
      if (connection->state == State::kWriting && connection->out_sent == out.size()) {
        shutdown(connection->fd, SHUT_WR);
      }
    }
  }

  int WakeFd() {
    std::lock_guard lock(queue->mu);
    return queue->event_fd;
  }

  int WaitMillis() const {
    TimePoint next = std::min(next_sweep, accept_paused_until);
    if (next == kNever) return -1;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(next - Steady::now()).count();
    return static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
  }

  void SetListenerEvents(uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = kListenId;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &event);
  }

  void AcceptAll() {
    // Bounded so a connection flood cannot starve the established connections' events.
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage address{};
      socklen_t length = sizeof(address);
      int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&address), &length,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        int error = errno;
        if (error == EINTR || error == ECONNABORTED || error == EPROTO) continue;
        if (error == EMFILE || error == ENFILE) {
          // Something else took the descriptors our budget counted on: give one of ours back
          // and admit the newcomer (it may be the kubelet's probe), else wait a moment.
          if (EvictOne()) continue;
        }
        if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
          // The pending connection stays in the backlog; retry once descriptors may be free.
          // Not registered meanwhile: a level-triggered listener would wake us in a busy loop.
          accept_paused_until = Steady::now() + kAcceptPause;
          SetListenerEvents(0);
        }
        return;
      }
      // Descriptors are allocated lowest first, so a number at or past the budget means the
      // process as a whole is about to eat into the reserve, whoever holds the rest.
      const bool over_budget =
          connections.size() >= connection_limit || static_cast<size_t>(fd) >= descriptor_budget;
      if (over_budget && !EvictOne()) {
        close(fd);  // every connection waits on its handler: refuse the newcomer instead
        continue;
      }
      if (address.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      }
      Connection* connection = nullptr;
      try {
        auto owned = std::make_unique<Connection>();
        owned->peer = FormatPeer(address);
        const uint64_t id = next_id++;
        owned->id = id;
        connection = connections.emplace(id, std::move(owned)).first->second.get();
      } catch (...) {
        close(fd);  // out of memory: the newcomer is refused, not leaked
        throw;
      }
      connection->fd = fd;
      TimePoint now = Steady::now();
      connection->waiting_since = now;
      connection->events = kWantRequest;
      Register(fd, connection->id, connection->events);
      SetDeadline(connection, now + options.idle_timeout);
      open.store(connections.size());
    }
  }

  // Closes the connection that has waited longest without a complete request, to admit a new
  // one. Connections whose request is with the handler (a waiting /prestop) are never chosen.
  bool EvictOne() {
    Connection* victim = nullptr;
    auto rank = [](State state) {
      switch (state) {
        case State::kLingering:
          return 0;  // already answered
        case State::kReading:
          return 1;
        case State::kWriting:
          return 2;
        case State::kDeferred:
          return 3;
      }
      return 3;
    };
    for (auto& [id, connection] : connections) {
      Connection* candidate = connection.get();
      if (candidate->state == State::kDeferred) continue;
      if (victim == nullptr || rank(candidate->state) < rank(victim->state) ||
          (rank(candidate->state) == rank(victim->state) &&
           candidate->waiting_since < victim->waiting_since)) {
        victim = candidate;
      }
    }
    if (victim == nullptr) return false;
    Close(victim);
    return true;
  }

  void OnEvent(Connection* connection, uint32_t events) {
    switch (connection->state) {
      case State::kReading:
        ReadRequestBytes(connection);
        return;
      case State::kDeferred:
        // Only hang-ups are registered now. A reset or error means the client is gone; a plain
        // end of input (EPOLLRDHUP) may be a half-close after the request (shutdown(SHUT_WR)),
        // which asks for the answer all the same: it goes out when the handler gives it, and a
        // client that closed for good only makes that write fail.
        if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
          Close(connection);
          return;
        }
        // Not peer_closed: pipelined bytes may still wait in the socket, read after the answer.
        SetEvents(connection, kWantNothing);
        return;
      case State::kWriting:
        if ((events & EPOLLERR) != 0) {
          Close(connection);
          return;
        }
        Advance(connection);
        return;
      case State::kLingering:
        DiscardInput(connection);
        return;
    }
  }

  void ReadRequestBytes(Connection* connection) {
    char buffer[kReadChunk];
    ssize_t n = recv(connection->fd, buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      Close(connection);
      return;
    }
    if (n == 0) {
      connection->peer_closed = true;
      SetEvents(connection, kWantNothing);
    } else {
      std::string_view chunk(buffer, static_cast<size_t>(n));
      if (connection->in.empty()) {
        // The first byte of a request starts its request_timeout.
        SetDeadline(connection, Steady::now() + options.request_timeout);
        connection->parse_now = true;
      }
      connection->in.append(chunk);
      // Re-parse only when it can change the verdict: a line ended, the header limit was
      // reached, or the announced body is all here. Keeps a trickling client linear.
      if (connection->complete_at > 0) {
        connection->parse_now =
            connection->parse_now || connection->in.size() >= connection->complete_at;
      } else {
        connection->parse_now = connection->parse_now ||
                                chunk.find('\n') != std::string_view::npos ||
                                connection->in.size() >= options.max_header_bytes;
      }
    }
    Advance(connection);
  }

  void DiscardInput(Connection* connection) {
    char buffer[kReadChunk];
    ssize_t n = recv(connection->fd, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n > 0) connection->lingered += static_cast<size_t>(n);
    if (n <= 0 || connection->lingered > kMaxLingerBytes) Close(connection);
  }

  // Moves a connection forward as far as it goes without new events: parse, dispatch, write,
  // then the next pipelined request. May close (and free) the connection.
  void Advance(Connection* connection) {
    while (true) {
      switch (connection->state) {
        case State::kReading: {
          if (!connection->parse_now || connection->in.empty()) {
            if (connection->peer_closed) Close(connection);  // EOF mid-request or while idle
            return;
          }
          connection->parse_now = false;
          ParsedRequest parsed =
              ParseHttpRequest(connection->in, options.max_header_bytes, options.max_body_bytes);
          switch (parsed.status) {
            case ParseStatus::kIncomplete:
              connection->complete_at = parsed.complete_at;
              if (connection->peer_closed) {
                Close(connection);
                return;
              }
              // Headers in, body not yet, and the body fits (else it would be 413 by now).
              if (parsed.expect_continue && parsed.complete_at > 0) SendContinue(connection);
              return;
            case ParseStatus::kBad:
              RespondAndClose(connection, 400, "bad request: " + parsed.error + "\n");
              break;
            case ParseStatus::kHeadersTooLarge:
              RespondAndClose(connection, 431, "request headers too large\n");
              break;
            case ParseStatus::kBodyTooLarge:
              // Also what an "Expect: 100-continue" client gets instead of 100: a final status
              // before it sends the body.
              RespondAndClose(connection, 413, "request body too large\n");
              break;
            case ParseStatus::kNotImplemented:
              RespondAndClose(connection, 501, parsed.error + "\n");
              break;
            case ParseStatus::kExpectationFailed:
              RespondAndClose(connection, 417, parsed.error + "\n");
              break;
            case ParseStatus::kComplete:
              Dispatch(connection, parsed);
              break;
          }
          break;
        }
        case State::kDeferred:
          return;  // even after a half-close: the answer is still owed
        case State::kWriting:
          if (!Flush(connection)) return;
          break;
        case State::kLingering:
          return;
      }
    }
  }

  // "100 Continue" for a client that waits for it before sending the body. Never blocks: what
  // the socket does not take now goes out in front of the final answer.
  void SendContinue(Connection* connection) {
    if (connection->continue_sent) return;
    connection->continue_sent = true;
    constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    ssize_t n = send(connection->fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
    size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
    connection->interim_unsent = std::string(kContinue.substr(sent));
  }

  void Dispatch(Connection* connection, ParsedRequest& parsed) {
    connection->continue_sent = false;
    connection->in.erase(0, parsed.consumed);
    connection->complete_at = 0;
    connection->parse_now = !connection->in.empty();
    ++connection->served;
    connection->head = parsed.request.method == "HEAD";
    connection->close_after_write =
        !parsed.keep_alive || connection->served >= options.max_requests_per_connection;
    auto header = parsed.request.headers.find("connection");
    connection->echo_keep_alive = parsed.keep_alive && header != parsed.request.headers.end() &&
                                  ContainsIgnoreCase(header->second, "keep-alive");
    parsed.request.peer = connection->peer;

    // Deferred requests have no deadline: a /prestop may legitimately wait for minutes.
    connection->state = State::kDeferred;
    SetDeadline(connection, kNever);

    queue->dispatching = connection->id;
    auto shared = std::make_shared<Responder::Shared>();
    handler(parsed.request, MakeResponder(queue, connection->id, shared));
    queue->dispatching = 0;
    if (!queue->inline_response && !shared->used.load()) connection->waiting = std::move(shared);
    if (queue->inline_response) {
      ServerResponse response = std::move(*queue->inline_response);
      queue->inline_response.reset();
      StartResponse(connection, response);
      return;
    }
    // Only a request that really waits watches for hang-ups alone (EPOLLIN would report its
    // pipelined bytes over and over). Answered at once (every probe), the registration stays as
    // it was: two epoll_ctl calls per request saved, half of the probe path's system calls.
    SetEvents(connection, connection->peer_closed ? kWantNothing : kWantHangUp);
  }

  void DeliverQueuedResponses() {
    std::vector<std::pair<uint64_t, ServerResponse>> ready;
    {
      std::lock_guard lock(queue->mu);
      ready.swap(queue->pending);
    }
    for (auto& [id, response] : ready) {
      auto it = connections.find(id);
      // Gone (hang-up, eviction) or not waiting: the late answer has nobody to go to.
      if (it == connections.end() || it->second->state != State::kDeferred) continue;
      try {
        StartResponse(it->second.get(), response);
        Advance(it->second.get());
      } catch (...) {
        Survive(id);  // the other answers still go out
      }
    }
  }

  void RespondAndClose(Connection* connection, int status, std::string body) {
    connection->in.clear();
    connection->close_after_write = true;
    connection->head = false;
    connection->echo_keep_alive = false;
    ServerResponse response;
    response.status = status;
    response.body = std::move(body);
    StartResponse(connection, response);
  }

  void StartResponse(Connection* connection, const ServerResponse& response) {
    int status = response.status >= 100 && response.status <= 599 ? response.status : 500;
    // 1xx, 204 and 304 answers have no body by definition (RFC 9110 §6.4.1).
    bool no_body = status < 200 || status == 204 || status == 304;
    connection->waiting.reset();
    std::string& out = connection->out;
    out = std::move(connection->interim_unsent);
    connection->interim_unsent.clear();
    connection->continue_sent = false;
    out += "HTTP/1.1 " + std::to_string(status) + " " + std::string(StatusReason(status)) + "\r\n";
    if (!response.content_type.empty() && !HasLineBreak(response.content_type) && !no_body) {
      out += "Content-Type: " + response.content_type + "\r\n";
    }
    if (status >= 200 && status != 204) {
      out += "Content-Length: " + std::to_string(no_body ? 0 : response.body.size()) + "\r\n";
    }
    for (const auto& [name, value] : response.headers) {
      // The framing headers are the server's; anything that could split the head is dropped.
      if (name.empty() || HasLineBreak(name) || HasLineBreak(value) ||
          name.find(':') != std::string::npos || EqualsIgnoreCase(name, "content-length") ||
          EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "transfer-encoding")) {
        continue;
      }
      out += name + ": " + value + "\r\n";
    }
    if (connection->close_after_write) {
      out += "Connection: close\r\n";
    } else if (connection->echo_keep_alive) {
      out += "Connection: keep-alive\r\n";  // HTTP/1.0 clients assume close without it
    }
    out += "\r\n";
    if (!connection->head && !no_body) out += response.body;
    connection->out_sent = 0;
    connection->state = State::kWriting;
    SetDeadline(connection, Steady::now() + options.idle_timeout);
  }

  // Sends what it can. Returns true when the answer is out and the connection reads the next
  // request; false when there is nothing more to do now: it waits for EPOLLOUT, lingers, or was
  // closed (and freed).
  bool Flush(Connection* connection) {
    std::string& out = connection->out;
    while (connection->out_sent < out.size()) {
      ssize_t n = send(connection->fd, out.data() + connection->out_sent,
                       out.size() - connection->out_sent, kSendFlags);
      if (n > 0) {
        connection->out_sent += static_cast<size_t>(n);
        SetDeadline(connection, Steady::now() + options.idle_timeout);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        SetEvents(connection, kWantRoom);
        return false;  // wait for room; nothing more to do now
      }
      Close(connection);
      return false;
    }
    out.clear();
    connection->out_sent = 0;
    TimePoint now = Steady::now();
    if (connection->close_after_write) {
      if (connection->peer_closed) {
        Close(connection);
        return false;
      }
      shutdown(connection->fd, SHUT_WR);
      connection->state = State::kLingering;
      SetEvents(connection, kWantRequest);
      SetDeadline(connection, now + kLingerTimeout);
      return false;
    }
    connection->state = State::kReading;
    connection->waiting_since = now;
    SetEvents(connection, connection->peer_closed ? kWantNothing : kWantRequest);
    SetDeadline(connection,
                now + (connection->in.empty() ? options.idle_timeout : options.request_timeout));
    return true;
  }

  void SetEvents(Connection* connection, uint32_t events) {
    if (connection->events == events) return;
    epoll_event event{};
    event.events = events;
    event.data.u64 = connection->id;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connection->fd, &event);
    connection->events = events;
  }

  void SetDeadline(Connection* connection, TimePoint deadline) {
    connection->deadline = deadline;
    next_sweep = std::min(next_sweep, deadline);
  }

  void Close(Connection* connection) {
    close(connection->fd);  // also removes it from the epoll set
    std::function<void()> caller_left;
    if (connection->waiting && !connection->waiting->used.load()) {
      caller_left = std::move(connection->waiting->on_caller_left);
    }
    connections.erase(connection->id);
    open.store(connections.size());
    // Last: the hook may take locks of its own (the coordinator's) and must not see a
    // half-removed connection.
    if (caller_left) caller_left();
  }

  // Enforces request_timeout (408), idle_timeout and the linger limit.
  void Sweep(TimePoint now) {
    std::vector<uint64_t> expired;
    for (auto& [id, connection] : connections) {
      if (connection->deadline <= now) expired.push_back(id);
    }
    for (uint64_t id : expired) {
      auto it = connections.find(id);
      if (it == connections.end()) continue;
      Connection* connection = it->second.get();
      if (connection->state == State::kReading && !connection->in.empty()) {
        RespondAndClose(connection, 408, "request timeout\n");
        Advance(connection);
      } else {
        Close(connection);  // idle, or a peer that does not read what it asked for
      }
    }
    next_sweep = kNever;
    for (auto& [id, connection] : connections) {
      next_sweep = std::min(next_sweep, connection->deadline);
    }
  }

  // --- state -------------------------------------------------------------------------------

  const HttpServerOptions options;
  const Handler handler;
  const std::shared_ptr<ResponseQueue> queue;

  int listen_fd = -1;
  int epoll_fd = -1;
  uint16_t bound_port = 0;
  bool ipv6_unavailable = false;
  std::string socket_path;  // the unix socket file this server created
  dev_t socket_device = 0;
  ino_t socket_inode = 0;

  std::thread thread;
  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  bool stopped = false;  // GUARDED_BY(stop_mu)
  std::atomic<size_t> open{0};

  // Server thread only (and Stop() after the join).
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
  uint64_t next_id = kFirstConnectionId;
  // From Listen(): see HttpServerOptions::reserved_descriptors.
  size_t descriptor_budget = SIZE_MAX;
  size_t connection_limit = SIZE_MAX;
  TimePoint next_sweep = kNever;
  TimePoint accept_paused_until = kNever;
};

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { Stop(); }

std::string HttpServer::Listen(const ListenAddress& address) { return impl_->Listen(address); }

uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::Start() {
  if (impl_->thread.joinable() || impl_->epoll_fd < 0) return;
  impl_->thread = std::thread([impl = impl_.get()] { impl->Run(); });
}

void HttpServer::Stop() {
  Impl& impl = *impl_;
  std::lock_guard stop_lock(impl.stop_mu);
  if (impl.stopped) return;
  impl.stopped = true;
  impl.stopping.store(true);
  if (impl.thread.joinable()) {
    {
      std::lock_guard lock(impl.queue->mu);
      uint64_t one = 1;
      [[maybe_unused]] ssize_t written = write(impl.queue->event_fd, &one, sizeof(one));
    }
    impl.thread.join();
  }
  for (auto& [id, connection] : impl.connections) close(connection->fd);
  impl.connections.clear();
  impl.open.store(0);
  {
    std::lock_guard lock(impl.queue->mu);
    if (impl.queue->event_fd >= 0) close(impl.queue->event_fd);
    impl.queue->event_fd = -1;  // late Responders become no-ops
    impl.queue->pending.clear();
  }
  impl.queue->server_thread.store(std::thread::id());
  if (impl.epoll_fd >= 0) close(impl.epoll_fd);
  impl.epoll_fd = -1;
  impl.AbandonListener();
}

size_t HttpServer::open_connections() const { return impl_->open.load(); }

}  // namespace lastcall

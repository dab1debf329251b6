#include "rehearse_balancer.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/net_util.h"
#include "http/http_server.h"

namespace lastcall {
namespace {

using Steady = std::chrono::steady_clock;

constexpr size_t kMaxBuffered = size_t{256} * 1024;  // per direction; reading pauses above it
constexpr auto kConnectTimeout = std::chrono::seconds(3);
constexpr auto kAcceptPause = std::chrono::milliseconds(50);
constexpr size_t kStandInMaxHeader = size_t{16} * 1024;
constexpr size_t kStandInMaxBody = size_t{1024} * 1024;

// Closes with an RST instead of a FIN, as a dying or refusing peer would look.
void CloseWithReset(int fd) {
  linger option{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof option);
  close(fd);
}

std::string StandInAnswer(int status, std::string_view marker, std::string_view body,
                          bool keep_alive) {
  std::string answer =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(StatusReason(status)) + "\r\n";
  answer += "X-Lastcall-Rehearse: " + std::string(marker) + "\r\n";
  answer += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  answer += keep_alive ? "" : "Connection: close\r\n";
  answer += "\r\n";
  answer += body;
  return answer;
}

}  // namespace

struct LoadBalancer::Impl {
  // One client connection and what it is attached to.
  struct Conn {
    enum class Kind { kConnecting, kProxy, kStandIn };
    Kind kind = Kind::kConnecting;
    int client = -1;
    int backend = -1;
    uint64_t client_id = 0;
    uint64_t backend_id = 0;
    std::string to_backend;  // bytes read from the client, not yet written to the backend
    std::string to_client;   // bytes for the client (the backend's, or the stand-in's answers)
    bool client_eof = false;
    bool backend_eof = false;
    bool backend_shut = false;  // we sent the backend our FIN
    Steady::time_point connect_deadline;
    // kStandIn: what to answer. "" means another replica; otherwise the refusal marker.
    std::string refusal;
    std::string request;  // kStandIn: bytes of requests not yet answered
    bool close_after_flush = false;
  };
  struct Registration {
    Conn* conn;
    bool is_client;
  };

  std::string backend_host;
  uint16_t backend_port;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  uint16_t bound_port = 0;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> removed{false};
  std::atomic<uint64_t> to_replica{0};
  std::atomic<uint64_t> to_other{0};
  std::atomic<uint64_t> refused{0};
  bool stopped = false;

  // Owned by the thread (and by Stop once the thread has joined).
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns;
  std::unordered_map<uint64_t, Registration> registrations;  // epoll ids, never reused
  uint64_t next_id = 1;
  std::optional<Steady::time_point> accept_paused_until;

  uint64_t Register(int fd, Conn* conn, bool is_client, uint32_t events) {
    const uint64_t id = next_id++;
    registrations[id] = {conn, is_client};
    epoll_event event{};
    event.events = events;
    event.data.u64 = id;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
    return id;
  }

  void SetInterest(int fd, uint64_t id, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = id;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event);
  }

  // Drops the connection; `reset` closes the client's side with an RST.
  void Drop(Conn* conn, bool reset) {
    registrations.erase(conn->client_id);
    registrations.erase(conn->backend_id);
    for (int fd : {conn->client, conn->backend}) {
      if (fd < 0) continue;
      if (reset) {
        CloseWithReset(fd);
      } else {
        close(fd);
      }
    }
    conns.erase(conn);
  }

  void SetListening(bool on) {
    epoll_event event{};
    event.events = on ? static_cast<uint32_t>(EPOLLIN) : 0U;
    event.data.u64 = 0;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &event);
  }

  void Accept() {
    while (true) {
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors: the listener stays readable, so stop watching it for a moment
        // instead of spinning on it.
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          SetListening(false);
          accept_paused_until = Steady::now() + kAcceptPause;
        }
        return;  // EAGAIN, or a transient error the next event retries
      }
      if (conns.size() >= kMaxConnections) {
        CloseWithReset(fd);
        continue;
      }
      auto owned = std::make_unique<Conn>();
      Conn* conn = owned.get();
      conns[conn] = std::move(owned);
      conn->client = fd;
      if (removed.load(std::memory_order_acquire)) {
        to_other.fetch_add(1, std::memory_order_relaxed);
        StartStandIn(conn, "");
        continue;
      }
      ConnectBackend(conn);
    }
  }

  void StartStandIn(Conn* conn, std::string refusal) {
    conn->kind = Conn::Kind::kStandIn;
    conn->refusal = std::move(refusal);
    if (conn->client_id == 0) {
      conn->client_id = Register(conn->client, conn, true, EPOLLIN);
    } else {
      SetInterest(conn->client, conn->client_id, EPOLLIN);
    }
  }

  void Refuse(Conn* conn, std::string_view marker) {
    refused.fetch_add(1, std::memory_order_relaxed);
    registrations.erase(conn->backend_id);
    conn->backend_id = 0;
    if (conn->backend >= 0) close(conn->backend);
    conn->backend = -1;
    StartStandIn(conn, std::string(marker));
    ServeStandIn(conn);
  }

  void ConnectBackend(Conn* conn) {
    std::optional<SocketAddress> address = IpSocketAddress(backend_host, backend_port);
    if (!address) return Refuse(conn, kBackendRefused);
    conn->backend = socket(address->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (conn->backend < 0) return Refuse(conn, kBackendRefused);
    // The client's bytes wait in the kernel until the backend is connected: no EPOLLIN yet.
    conn->client_id = Register(conn->client, conn, true, 0);
    const int rc = connect(conn->backend, address->get(), address->length);
    if (rc != 0 && errno != EINPROGRESS) return Refuse(conn, kBackendRefused);
    conn->connect_deadline = Steady::now() + kConnectTimeout;
    conn->backend_id = Register(conn->backend, conn, false, EPOLLOUT);
    if (rc == 0) Connected(conn);
  }

  void Connected(Conn* conn) {
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(conn->backend, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return Refuse(conn, kBackendRefused);
    conn->kind = Conn::Kind::kProxy;
    to_replica.fetch_add(1, std::memory_order_relaxed);
    UpdateProxyInterest(conn);
  }

  void UpdateProxyInterest(Conn* conn) {
    uint32_t client_events = 0;
    uint32_t backend_events = 0;
    if (!conn->client_eof && conn->to_backend.size() < kMaxBuffered) client_events |= EPOLLIN;
    if (!conn->to_client.empty()) client_events |= EPOLLOUT;
    if (!conn->backend_eof && conn->to_client.size() < kMaxBuffered) backend_events |= EPOLLIN;
    if (!conn->to_backend.empty()) backend_events |= EPOLLOUT;
    SetInterest(conn->client, conn->client_id, client_events);
    SetInterest(conn->backend, conn->backend_id, backend_events);
  }

  enum class Io { kOk, kEof, kError };

  // Reads what is available from `fd` onto `into`.
  static Io ReadInto(int fd, std::string* into) {
    char buffer[16 * 1024];
    while (into->size() < kMaxBuffered) {
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        into->append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) return Io::kEof;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? Io::kOk : Io::kError;
    }
    return Io::kOk;
  }

  // Writes as much of `from` to `fd` as the socket takes.
  static Io WriteFrom(int fd, std::string* from) {
    size_t sent = 0;
    Io result = Io::kOk;
    while (sent < from->size()) {
      const ssize_t n = send(fd, from->data() + sent, from->size() - sent, kSendFlags);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      result = Io::kError;
      break;
    }
    from->erase(0, sent);
    return result;
  }

  void OnProxyEvent(Conn* conn, bool is_client, uint32_t events) {
    if (is_client) {
      if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && !conn->client_eof) {
        const Io io = ReadInto(conn->client, &conn->to_backend);
        if (io == Io::kError) return Drop(conn, true);
        if (io == Io::kEof) conn->client_eof = true;
      }
      if ((events & EPOLLOUT) != 0 && WriteFrom(conn->client, &conn->to_client) == Io::kError) {
        return Drop(conn, true);
      }
    } else {
      if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && !conn->backend_eof) {
        const Io io = ReadInto(conn->backend, &conn->to_client);
        // The replica reset the connection (it died or aborted): so does the client's side.
        if (io == Io::kError) {
          WriteFrom(conn->client, &conn->to_client);
          return Drop(conn, true);
        }
        if (io == Io::kEof) conn->backend_eof = true;
      }
      if ((events & EPOLLOUT) != 0 && WriteFrom(conn->backend, &conn->to_backend) == Io::kError) {
        return Drop(conn, true);
      }
    }
    // Move what was read at once, then wait for writability only when a socket is full.
    if (!conn->to_backend.empty() && WriteFrom(conn->backend, &conn->to_backend) == Io::kError) {
      return Drop(conn, true);
    }
    if (!conn->to_client.empty() && WriteFrom(conn->client, &conn->to_client) == Io::kError) {
      return Drop(conn, true);
    }
    if (conn->client_eof && conn->to_backend.empty() && !conn->backend_shut) {
      shutdown(conn->backend, SHUT_WR);
      conn->backend_shut = true;
    }
    // The replica closed its side and everything it sent has reached the client: close both.
    // (Keeping the client's half open would only let it send requests nobody reads.)
    if (conn->backend_eof && conn->to_client.empty()) return Drop(conn, false);
    if (conn->client_eof && conn->backend_eof) return Drop(conn, false);
    UpdateProxyInterest(conn);
  }

  void ServeStandIn(Conn* conn) {
    if (!conn->close_after_flush) {
      const Io io = ReadInto(conn->client, &conn->request);
      if (io == Io::kError) return Drop(conn, true);
      if (io == Io::kEof) conn->client_eof = true;
      while (!conn->request.empty() && !conn->close_after_flush) {
        ParsedRequest parsed = ParseHttpRequest(conn->request, kStandInMaxHeader, kStandInMaxBody);
        if (parsed.status == ParseStatus::kIncomplete) break;
        if (parsed.status != ParseStatus::kComplete) {
          conn->to_client += StandInAnswer(
              400, conn->refusal.empty() ? kOtherReplica : conn->refusal, "bad request\n", false);
          conn->close_after_flush = true;
          break;
        }
        conn->request.erase(0, parsed.consumed);
        if (conn->refusal.empty()) {
          conn->to_client +=
              StandInAnswer(200, kOtherReplica, "served by another replica\n", parsed.keep_alive);
          conn->close_after_flush = !parsed.keep_alive;
        } else {
          const int status = conn->refusal == kBackendRefused ? 502 : 504;
          conn->to_client += StandInAnswer(status, conn->refusal, "the replica refused\n", false);
          conn->close_after_flush = true;
        }
      }
    }
    if (WriteFrom(conn->client, &conn->to_client) == Io::kError) return Drop(conn, true);
    if (conn->to_client.empty() && (conn->close_after_flush || conn->client_eof)) {
      return Drop(conn, false);
    }
    SetInterest(conn->client, conn->client_id,
                conn->to_client.empty() ? static_cast<uint32_t>(EPOLLIN)
                                        : static_cast<uint32_t>(EPOLLIN | EPOLLOUT));
  }

  void ExpireConnects() {
    const auto now = Steady::now();
    std::vector<Conn*> late;
    for (const auto& [conn, owned] : conns) {
      if (conn->kind == Conn::Kind::kConnecting && now >= conn->connect_deadline) {
        late.push_back(conn);
      }
    }
    for (Conn* conn : late) Refuse(conn, kBackendConnectTimeout);
  }

  void Loop() {
    std::vector<epoll_event> events(256);
    while (!stopping.load(std::memory_order_acquire)) {
      const int ready = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 100);
      for (int i = 0; i < ready; ++i) {
        const uint64_t id = events[static_cast<size_t>(i)].data.u64;
        const uint32_t what = events[static_cast<size_t>(i)].events;
        if (id == 0) {
          Accept();
          continue;
        }
        auto found = registrations.find(id);
        if (found == registrations.end()) continue;  // closed earlier in this batch
        const Registration registration = found->second;
        Conn* conn = registration.conn;
        switch (conn->kind) {
          case Conn::Kind::kConnecting:
            if (!registration.is_client) {
              Connected(conn);
            } else if ((what & (EPOLLHUP | EPOLLERR)) != 0) {
              Drop(conn, true);  // the client gave up while we were connecting
            }
            break;
          case Conn::Kind::kProxy:
            OnProxyEvent(conn, registration.is_client, what);
            break;
          case Conn::Kind::kStandIn:
            ServeStandIn(conn);
            break;
        }
      }
      ExpireConnects();
      if (accept_paused_until && Steady::now() >= *accept_paused_until) {
        accept_paused_until.reset();
        SetListening(true);
      }
    }
  }
};

LoadBalancer::LoadBalancer(std::string backend_host, uint16_t backend_port)
    : impl_(std::make_unique<Impl>()) {
  impl_->backend_host = std::move(backend_host);
  impl_->backend_port = backend_port;
}

LoadBalancer::~LoadBalancer() { Stop(); }

std::string LoadBalancer::Start() {
  Impl& impl = *impl_;
  impl.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (impl.listen_fd < 0) return "load balancer: socket: " + ErrnoText(errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(impl.listen_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      listen(impl.listen_fd, 1024) != 0 ||
      getsockname(impl.listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return "load balancer: listening on 127.0.0.1: " + ErrnoText(errno);
  }
  impl.bound_port = ntohs(address.sin_port);
  impl.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  impl.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl.epoll_fd < 0 || impl.wake_fd < 0) return "load balancer: epoll: " + ErrnoText(errno);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = 0;  // id 0: the listener
  epoll_ctl(impl.epoll_fd, EPOLL_CTL_ADD, impl.listen_fd, &event);
  event.data.u64 = impl.next_id++;  // the wake-up descriptor: never in `registrations`
  epoll_ctl(impl.epoll_fd, EPOLL_CTL_ADD, impl.wake_fd, &event);
  impl.thread = std::thread([&impl] { impl.Loop(); });
  return "";
}

uint16_t LoadBalancer::port() const { return impl_->bound_port; }

void LoadBalancer::RemoveEndpoint() { impl_->removed.store(true, std::memory_order_release); }

bool LoadBalancer::endpoint_removed() const {
  return impl_->removed.load(std::memory_order_acquire);
}

BalancerCounts LoadBalancer::counts() const {
  return {impl_->to_replica.load(std::memory_order_relaxed),
          impl_->to_other.load(std::memory_order_relaxed),
          impl_->refused.load(std::memory_order_relaxed)};
}

void LoadBalancer::Stop() {
  Impl& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  impl.stopping.store(true, std::memory_order_release);
  if (impl.wake_fd >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t ignored = write(impl.wake_fd, &one, sizeof one);
  }
  if (impl.thread.joinable()) impl.thread.join();
  while (!impl.conns.empty()) impl.Drop(impl.conns.begin()->first, true);
  for (int fd : {impl.listen_fd, impl.epoll_fd, impl.wake_fd}) {
    if (fd >= 0) close(fd);
  }
}

}  // namespace lastcall

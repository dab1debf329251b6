#include "webhook_server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/logging.h"
#include "base/net_util.h"
#include "base/small_file.h"
#include "tls/pem.h"
#include "tls/tls_server_session.h"

namespace lastcall {
namespace {

using Clock = std::chrono::steady_clock;
using tls::ServerIdentity;
using tls::TlsServerSession;
using tls::TlsState;

constexpr uint64_t kListenerId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kDoneId = 2;
constexpr size_t kMaxIdentityFileBytes = 1024 * 1024;
// A closing connection waits this long for its answer to drain and the peer's close_notify.
constexpr std::chrono::milliseconds kLingerTimeout{1000};
// Timers are checked at this granularity.
constexpr std::chrono::milliseconds kTick{50};
constexpr size_t kKeptBufferBytes = 64 * 1024;

// The latency histogram's upper bounds (seconds), from well under the 5 ms target to the API
// server's timeoutSeconds.
constexpr std::array<double, 12> kLatencyBuckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                                    0.05,   0.1,   0.25,  0.5,   1.0,  2.5};

// What a plain HTTP client hears on the TLS port (as Go's servers answer it) before the close.
std::string PlainHttpAnswer() {
  constexpr std::string_view kBody = "This port speaks HTTPS: the request came as plain HTTP.\n";
  return fmt::format(
      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Connection: close\r\nContent-Length: {}\r\n\r\n{}",
      kBody.size(), kBody);
}

std::string Route(const std::string& path) {
  if (path == "/mutate") return "mutate";
  if (path == "/healthz") return "healthz";
  if (path == "/readyz") return "readyz";
  if (path == "/metrics") return "metrics";
  return "other";
}

std::string SerializeResponse(const ServerResponse& response, bool close) {
  std::string out =
      fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", response.status,
                  StatusReason(response.status), response.content_type, response.body.size());
  for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  out += response.body;
  return out;
}

std::string FileProblem(const std::string& flag, const std::string& path, const SmallFile& file) {
  return fmt::format("{} {}: {}", flag, path, file.reason);
}

struct IdentityFiles {
  std::optional<FileIdentity> cert;
  std::optional<FileIdentity> key;
  bool operator==(const IdentityFiles&) const = default;
};

}  // namespace

struct WebhookServer::Impl {
  enum class Phase {
    kAccepted,     // no byte yet: no TLS session allocated
    kHandshaking,  // the session exists; the handshake is not done
    kIdle,         // open, between requests
    kReading,      // part of a request has arrived
    kHandling,     // a worker runs the handler on the request
    kClosing,      // the last answer is queued; waiting for it to drain
  };
  // A POST /mutate on its way to a worker, and its answer on the way back.
  struct Job {
    uint64_t conn_id = 0;
    ServerRequest request;
    Clock::time_point started;
    bool close_after = false;
    ServerResponse response;
  };
  struct Conn {
    uint64_t id = 0;
    int fd = -1;
    Phase phase = Phase::kAccepted;
    Clock::time_point since;     // when the current phase's clock started
    Clock::time_point deadline;  // when the current phase gives up
    std::unique_ptr<TlsServerSession> session;
    bool sent_continue = false;
    bool write_shut = false;
    bool serve_pending = false;
    size_t complete_at = 0;  // the input size at which the request under way is whole  // a worker
                             // answered: the bytes already received come next
    uint32_t events = 0;     // what epoll watches now
  };

  WebhookServerOptions options;
  MutateHandler mutate;
  MetricsSource extra_metrics;

  std::shared_ptr<const ServerIdentity> identity;  // for new handshakes; the server thread's
  IdentityFiles seen_files;                        // what the last load attempt read
  Clock::time_point next_reload_check;

  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  int done_fd = -1;  // workers' answers are ready
  uint16_t bound_port = 0;
  size_t connection_limit = 1024;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns;
  uint64_t next_id = 3;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> draining{false};
  std::vector<std::thread> workers;
  std::mutex jobs_mutex;
  std::condition_variable jobs_ready;
  std::deque<Job> jobs;  // at most one per connection: bounded by the connection limit
  std::mutex done_mutex;
  std::vector<Job> done;
  std::atomic<size_t> open_count{0};
  bool started = false;

  // Metrics: written and read on the server thread only.
  std::map<std::pair<std::string, int>, uint64_t> requests;
  std::map<std::string, uint64_t> handshake_failures;
  uint64_t handshakes = 0;
  uint64_t reloads_loaded = 0;
  uint64_t reloads_refused = 0;
  uint64_t connections_total = 0;
  uint64_t connections_evicted = 0;
  uint64_t connections_refused = 0;
  std::array<uint64_t, kLatencyBuckets.size()> latency_counts{};
  uint64_t latency_count = 0;
  double latency_sum = 0;

  Impl(WebhookServerOptions o, MutateHandler m, MetricsSource e)
      : options(std::move(o)), mutate(std::move(m)), extra_metrics(std::move(e)) {}

  ~Impl() {
    if (listen_fd >= 0) close(listen_fd);
    if (epoll_fd >= 0) close(epoll_fd);
    if (wake_fd >= 0) close(wake_fd);
    if (done_fd >= 0) close(done_fd);
  }

  IdentityFiles StatFiles() const {
    return {StatIdentity(options.cert_file), StatIdentity(options.key_file)};
  }

  Expected<std::shared_ptr<const ServerIdentity>> ReadIdentity() const {
    const SmallFile cert = ReadSmallFile(options.cert_file, kMaxIdentityFileBytes);
    if (!cert.ok()) return Status::Invalid(FileProblem("--tls-cert", options.cert_file, cert));
    const SmallFile key = ReadSmallFile(options.key_file, kMaxIdentityFileBytes);
    if (!key.ok()) return Status::Invalid(FileProblem("--tls-key", options.key_file, key));
    auto loaded = ServerIdentity::FromPem(cert.text, options.cert_file, key.text, options.key_file);
    if (!loaded.ok()) return loaded.status();
    return std::make_shared<const ServerIdentity>(std::move(loaded).value());
  }

  // Every reload_interval: reload when either file changed since the last attempt.
  void MaybeReload(Clock::time_point now) {
    if (now < next_reload_check) return;
    next_reload_check = now + options.reload_interval;
    const IdentityFiles files = StatFiles();
    if (files == seen_files) return;
    seen_files = files;
    auto loaded = ReadIdentity();
    if (!loaded.ok()) {
      ++reloads_refused;
      LogWarn(
          "webhook: certificate files changed but do not load; still serving the previous "
          "certificate",
          {{"reason", loaded.status().message()}});
      return;
    }
    identity = std::move(loaded).value();
    ++reloads_loaded;
    LogInfo("webhook: certificate reloaded; new handshakes present it",
            {{"cert", options.cert_file}});
  }

  std::string Listen(const ListenAddress& address) {
    if (address.is_unix) return address.ToString() + ": the webhook listens on TCP only";
    const size_t file_limit = RaiseFileLimit();
    connection_limit = std::min(options.max_connections, ConnectionBudget(file_limit, 32));
    const std::string host = address.host.empty()          ? "::"
                             : address.host == "localhost" ? "127.0.0.1"
                                                           : address.host;
    std::string problem = Bind(host, address.port, address.host.empty());
    if (!problem.empty() && address.host.empty()) problem = Bind("0.0.0.0", address.port, false);
    if (!problem.empty()) return address.ToString() + ": " + problem;
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd < 0 || wake_fd < 0 || done_fd < 0) return "epoll: " + ErrnoText(errno);
    Watch(done_fd, kDoneId, EPOLLIN, EPOLL_CTL_ADD);
    Watch(listen_fd, kListenerId, EPOLLIN, EPOLL_CTL_ADD);
    Watch(wake_fd, kWakeId, EPOLLIN, EPOLL_CTL_ADD);
    return "";
  }

  std::string Bind(const std::string& host, uint16_t port, bool dual_stack) {
    std::optional<SocketAddress> address = IpSocketAddress(host, port);
    if (!address) return "host \"" + host + "\" is not an IP address";
    const int fd = socket(address->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return "socket: " + ErrnoText(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (dual_stack) {
      int zero = 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, address->get(), address->length) != 0 || listen(fd, SOMAXCONN) != 0) {
      const int error = errno;
      close(fd);
      return ErrnoText(error);
    }
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
    bound_port = PortOf(bound);
    listen_fd = fd;
    return "";
  }

  void Watch(int fd, uint64_t id, uint32_t events, int op) const {
    epoll_event event{};
    event.events = events;
    event.data.u64 = id;
    epoll_ctl(epoll_fd, op, fd, &event);
  }

  // ---- the loop
  // ----------------------------------------------------------------------------------

  void Run() {
    std::array<epoll_event, 128> events{};
    Clock::time_point next_timer_scan = Clock::now();
    while (!stopping.load(std::memory_order_acquire)) {
      const int ready = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()),
                                   static_cast<int>(kTick.count()));
      for (int i = 0; i < ready; ++i) {
        // A copy: epoll_event is packed on x86-64, so a reference to its u64 is misaligned.
        const uint64_t id = events[static_cast<size_t>(i)].data.u64;
        if (id == kWakeId) continue;
        if (id == kDoneId) {
          DeliverAnswers();
          continue;
        }
        if (id == kListenerId) {
          Accept();
          continue;
        }
        auto found = conns.find(id);
        if (found == conns.end()) continue;  // closed earlier in this batch
        Service(found->second.get());
      }
      const Clock::time_point now = Clock::now();
      if (now >= next_timer_scan) {
        next_timer_scan = now + kTick;
        ExpireTimers(now);
        MaybeReload(now);
      }
    }
    for (auto& [id, conn] : conns) close(conn->fd);
    conns.clear();
    open_count.store(0);
  }

  void Work() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(jobs_mutex);
        jobs_ready.wait(lock, [&] { return stopping.load() || !jobs.empty(); });
        if (stopping.load()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      job.response = CallHandler(job.request);
      job.request = ServerRequest();  // the body may be 3 MiB: gone before the hand-back
      {
        std::lock_guard lock(done_mutex);
        done.push_back(std::move(job));
      }
      const uint64_t one = 1;
      (void)!write(done_fd, &one, sizeof one);
    }
  }

  ServerResponse CallHandler(const ServerRequest& request) {
    try {
      return mutate(request);
    } catch (const std::exception& e) {
      LogError("webhook: the admission handler failed", {{"error", e.what()}});
      ServerResponse response;
      response.status = 500;
      response.body = "internal error\n";
      return response;
    }
  }

  void DeliverAnswers() {
    uint64_t count = 0;
    (void)!read(done_fd, &count, sizeof count);
    std::vector<Job> answers;
    {
      std::lock_guard lock(done_mutex);
      answers.swap(done);
    }
    for (Job& job : answers) {
      auto found = conns.find(job.conn_id);
      if (found == conns.end()) continue;  // closed meanwhile (deadline, stop)
      Conn* conn = found->second.get();
      Answer(conn, "mutate", job.response, job.close_after, job.started, true);
      conn->serve_pending = true;
      Service(conn);
    }
  }

  // Queues `response` on the connection and moves it on: idle (for the next request) or closing.
  void Answer(Conn* conn, const std::string& route, const ServerResponse& response,
              bool close_after, Clock::time_point received_at, bool timed) {
    ++requests[{route, response.status}];
    conn->session->Send(SerializeResponse(response, close_after));
    if (timed) ObserveLatency(Clock::now() - received_at);
    if (close_after) {
      StartClosing(conn);
    } else {
      EnterIdle(conn);
    }
  }

  void Accept() {
    for (int round = 0; round < 256; ++round) {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof(peer);
      const int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) EvictOldestIdle();
        return;
      }
      ++connections_total;
      if (conns.size() >= connection_limit && !EvictOldestIdle()) {
        ++connections_refused;
        close(fd);
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto conn = std::make_unique<Conn>();
      conn->id = next_id++;
      conn->fd = fd;
      conn->since = Clock::now();
      conn->deadline = conn->since + options.handshake_timeout;
      conn->events = EPOLLIN | EPOLLRDHUP;
      Watch(fd, conn->id, conn->events, EPOLL_CTL_ADD);
      conns.emplace(conn->id, std::move(conn));
      open_count.store(conns.size(), std::memory_order_relaxed);
    }
  }

  // Closes the connection that has waited longest without a request under way. False when every
  // connection is busy.
  bool EvictOldestIdle() {
    Conn* oldest = nullptr;
    for (auto& [id, conn] : conns) {
      const bool evictable = conn->phase == Phase::kAccepted ||
                             conn->phase == Phase::kHandshaking || conn->phase == Phase::kIdle;
      if (evictable && (oldest == nullptr || conn->since < oldest->since)) oldest = conn.get();
    }
    if (oldest == nullptr) return false;
    ++connections_evicted;
    if (oldest->phase != Phase::kIdle) CountHandshakeFailure("evicted");
    CloseConn(oldest);
    return true;
  }

  void CountHandshakeFailure(const std::string& reason) { ++handshake_failures[reason]; }

  void CloseConn(Conn* conn) {
    close(conn->fd);
    conns.erase(conn->id);
    open_count.store(conns.size(), std::memory_order_relaxed);
  }

  void ExpireTimers(Clock::time_point now) {
    std::vector<Conn*> expired;
    for (auto& [id, conn] : conns) {
      if (now >= conn->deadline) expired.push_back(conn.get());
    }
    for (Conn* conn : expired) {
      if (conn->phase == Phase::kAccepted || conn->phase == Phase::kHandshaking) {
        CountHandshakeFailure("timeout");
      }
      CloseConn(conn);
    }
  }

  // First bytes of a connection: TLS starts with a handshake record (22); a letter is most likely
  // plain HTTP, which deserves a word; anything else is closed.
  bool StartSession(Conn* conn) {
    unsigned char first = 0;
    const ssize_t got = recv(conn->fd, &first, 1, MSG_PEEK);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    if (got <= 0) {
      CountHandshakeFailure("closed_before_hello");
      CloseConn(conn);
      return false;
    }
    if (first != 22) {
      if (first >= 'A' && first <= 'Z') {
        CountHandshakeFailure("plain_http");
        const std::string answer = PlainHttpAnswer();
        (void)send(conn->fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(conn->fd, SHUT_WR);
      } else {
        CountHandshakeFailure("not_tls");
      }
      CloseConn(conn);
      return false;
    }
    conn->session = std::make_unique<TlsServerSession>(identity);
    conn->phase = Phase::kHandshaking;
    return true;
  }

  size_t ReceiveLimit() const { return options.max_header_bytes + options.max_body_bytes + 1; }

  void Service(Conn* conn) {
    if (conn->phase == Phase::kAccepted && !StartSession(conn)) return;
    if (conn->session == nullptr) return;
    TlsServerSession& session = *conn->session;
    // Pump, answer what is complete, pump again to send the answers (and read what came
    // meanwhile). The engine may hold decrypted bytes epoll knows nothing of: go on while a pump
    // brings new bytes or can send what is queued.
    for (int round = 0; round < 8; ++round) {
      const size_t had = session.received().size();
      session.Pump(conn->fd, ReceiveLimit());
      if (session.state() == TlsState::kClosed) {
        if (!session.handshake_done()) CountHandshakeFailure(HandshakeFailureReason(session));
        CloseConn(conn);
        return;
      }
      if (conn->phase == Phase::kHandshaking && session.handshake_done()) {
        ++handshakes;
        EnterIdle(conn);
      }
      const bool got = session.received().size() != had;
      if (conn->phase == Phase::kClosing) {
        session.received().clear();
      } else if (got || conn->serve_pending) {
        conn->serve_pending = false;
        ServeRequests(conn);
      }
      if (!got && !(session.has_pending_output() && !session.wants_write())) break;
    }
    if (conn->phase == Phase::kClosing && !session.has_pending_output() && !conn->write_shut) {
      // The answer and close_notify are out. Closing now, with a body still arriving, would
      // reset the connection and could destroy the answer before the client reads it (a 413):
      // end our side, and read until the client closes or the linger deadline.
      conn->write_shut = true;
      shutdown(conn->fd, SHUT_WR);
    }
    // While a worker has the request, what the client sends next waits in the kernel: watching
    // for it would wake the loop again and again (level-triggered) for bytes it will not read.
    const uint32_t reading = conn->phase == Phase::kHandling ? 0u : (EPOLLIN | EPOLLRDHUP);
    const uint32_t wanted = reading | (session.wants_write() ? EPOLLOUT : 0u);
    if (wanted != conn->events) {
      conn->events = wanted;
      Watch(conn->fd, conn->id, wanted, EPOLL_CTL_MOD);
    }
  }

  static std::string HandshakeFailureReason(const TlsServerSession& session) {
    switch (session.error()) {
      case TlsServerSession::kPeerEof:
      case 0:
        return "closed_by_client";
      case TlsServerSession::kSocketError:
        return "socket_error";
      case BR_ERR_BAD_CIPHER_SUITE:
        return "no_common_cipher";
      case BR_ERR_UNSUPPORTED_VERSION:
        return "protocol_version";
      default:
        break;
    }
    if ((session.error() & BR_ERR_RECV_FATAL_ALERT) != 0) return "client_alert";
    return "malformed";
  }

  void EnterIdle(Conn* conn) {
    conn->phase = Phase::kIdle;
    conn->sent_continue = false;
    conn->complete_at = 0;
    // A 3 MiB request leaves its buffer's capacity behind: an idle connection keeps none of it.
    std::string& input = conn->session->received();
    if (input.empty() && input.capacity() > kKeptBufferBytes) std::string().swap(input);
    conn->since = Clock::now();
    conn->deadline = conn->since + options.idle_timeout;
  }

  void ServeRequests(Conn* conn) {
    std::string& input = conn->session->received();
    while (!input.empty() && conn->phase != Phase::kClosing && conn->phase != Phase::kHandling) {
      if (conn->phase == Phase::kIdle) {
        conn->phase = Phase::kReading;
        conn->since = Clock::now();
        conn->deadline = conn->since + options.request_timeout;
      }
      // The head is in and says how long the body is: no parse until all of it is here.
      if (conn->complete_at != 0 && input.size() < conn->complete_at) return;
      ParsedRequest parsed =
          ParseHttpRequest(input, options.max_header_bytes, options.max_body_bytes);
      conn->complete_at = parsed.status == ParseStatus::kIncomplete ? parsed.complete_at : 0;
      switch (parsed.status) {
        case ParseStatus::kIncomplete:
          if (parsed.expect_continue && !conn->sent_continue) {
            conn->sent_continue = true;
            conn->session->Send("HTTP/1.1 100 Continue\r\n\r\n");
          }
          return;
        case ParseStatus::kComplete: {
          const Clock::time_point request_done = Clock::now();
          input.erase(0, parsed.consumed);
          const std::string route = Route(parsed.request.path);
          const bool close_after = !parsed.keep_alive || draining.load();
          const bool admission = route == "mutate" && parsed.request.method == "POST";
          if (admission && !workers.empty()) {
            // Off the loop: a large pod must not hold up every other connection's handshake.
            conn->phase = Phase::kHandling;
            conn->since = request_done;
            conn->deadline = request_done + options.request_timeout;
            {
              std::lock_guard lock(jobs_mutex);
              jobs.push_back(Job{conn->id, std::move(parsed.request), request_done, close_after,
                                 ServerResponse()});
            }
            jobs_ready.notify_one();
            return;
          }
          const ServerResponse response =
              admission ? CallHandler(parsed.request) : Handle(parsed.request, route);
          Answer(conn, route, response, close_after, request_done, admission);
          break;
        }
        default: {
          ServerResponse response;
          response.status = RejectionStatus(parsed.status);
          response.body =
              parsed.error.empty() ? std::string(StatusReason(response.status)) : parsed.error;
          response.body += "\n";
          ++requests[{"other", response.status}];
          conn->session->Send(SerializeResponse(response, /*close=*/true));
          StartClosing(conn);
          input.clear();
          return;
        }
      }
    }
  }

  static int RejectionStatus(ParseStatus status) {
    switch (status) {
      case ParseStatus::kHeadersTooLarge:
        return 431;
      case ParseStatus::kBodyTooLarge:
        return 413;
      case ParseStatus::kNotImplemented:
        return 501;
      case ParseStatus::kExpectationFailed:
        return 417;
      default:
        return 400;
    }
  }

  void StartClosing(Conn* conn) {
    conn->phase = Phase::kClosing;
    conn->session->Close();
    conn->since = Clock::now();
    conn->deadline = conn->since + kLingerTimeout;
  }

  ServerResponse Handle(const ServerRequest& request, const std::string& route) {
    ServerResponse response;
    const auto only = [&](const char* method) {
      if (request.method == method) return true;
      response.status = 405;
      response.body = fmt::format("{} takes {} only\n", request.path, method);
      response.headers.emplace_back("Allow", method);
      return false;
    };
    if (route == "mutate") {
      only("POST");  // a POST never comes here (ServeRequests hands it to the handler)
      return response;
    }
    if (route == "healthz") {
      if (only("GET")) response.body = "ok\n";
      return response;
    }
    if (route == "readyz") {
      if (!only("GET")) return response;
      if (identity == nullptr || draining.load()) {
        response.status = 503;
        response.body = draining.load() ? "shutting down\n" : "not ready\n";
      } else {
        response.body = "ready\n";
      }
      return response;
    }
    if (route == "metrics") {
      if (!only("GET")) return response;
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      response.body = MetricsText();
      return response;
    }
    response.status = 404;
    response.body =
        "no such path: the webhook serves POST /mutate, GET /healthz, /readyz, /metrics\n";
    return response;
  }

  void ObserveLatency(Clock::duration elapsed) {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    ++latency_count;
    latency_sum += seconds;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      if (seconds <= kLatencyBuckets[i]) ++latency_counts[i];
    }
  }

  std::string MetricsText() const {
    std::string out;
    out +=
        "# HELP lastcall_webhook_requests_total HTTPS requests answered, by route and status.\n"
        "# TYPE lastcall_webhook_requests_total counter\n";
    for (const auto& [key, count] : requests) {
      out += fmt::format("lastcall_webhook_requests_total{{route=\"{}\",code=\"{}\"}} {}\n",
                         key.first, key.second, count);
    }
    out +=
        "# HELP lastcall_webhook_request_duration_seconds Time to answer POST /mutate, from the "
        "complete request to the answer handed to TLS.\n"
        "# TYPE lastcall_webhook_request_duration_seconds histogram\n";
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      out += fmt::format("lastcall_webhook_request_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                         kLatencyBuckets[i], latency_counts[i]);
    }
    out += fmt::format(
        "lastcall_webhook_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n"
        "lastcall_webhook_request_duration_seconds_sum {}\n"
        "lastcall_webhook_request_duration_seconds_count {}\n",
        latency_count, latency_sum, latency_count);
    out +=
        "# HELP lastcall_webhook_tls_handshakes_total TLS handshakes completed.\n"
        "# TYPE lastcall_webhook_tls_handshakes_total counter\n";
    out += fmt::format("lastcall_webhook_tls_handshakes_total {}\n", handshakes);
    out +=
        "# HELP lastcall_webhook_tls_handshake_failures_total Connections closed before their TLS "
        "handshake finished, by reason.\n"
        "# TYPE lastcall_webhook_tls_handshake_failures_total counter\n";
    for (const char* reason :
         {"timeout", "plain_http", "not_tls", "malformed", "no_common_cipher", "protocol_version",
          "client_alert", "closed_by_client", "closed_before_hello", "socket_error", "evicted"}) {
      const auto found = handshake_failures.find(reason);
      out += fmt::format("lastcall_webhook_tls_handshake_failures_total{{reason=\"{}\"}} {}\n",
                         reason, found == handshake_failures.end() ? 0 : found->second);
    }
    out +=
        "# HELP lastcall_webhook_certificate_reloads_total Certificate files that changed on "
        "disk: loaded, or refused (the previous certificate kept serving).\n"
        "# TYPE lastcall_webhook_certificate_reloads_total counter\n";
    out += fmt::format(
        "lastcall_webhook_certificate_reloads_total{{result=\"loaded\"}} {}\n"
        "lastcall_webhook_certificate_reloads_total{{result=\"refused\"}} {}\n",
        reloads_loaded, reloads_refused);
    out +=
        "# HELP lastcall_webhook_connections Connections open now.\n"
        "# TYPE lastcall_webhook_connections gauge\n";
    out += fmt::format("lastcall_webhook_connections {}\n", conns.size());
    out +=
        "# HELP lastcall_webhook_connections_total Connections accepted, evicted at the "
        "connection limit, or refused at it.\n"
        "# TYPE lastcall_webhook_connections_total counter\n";
    out += fmt::format(
        "lastcall_webhook_connections_total{{result=\"accepted\"}} {}\n"
        "lastcall_webhook_connections_total{{result=\"evicted\"}} {}\n"
        "lastcall_webhook_connections_total{{result=\"refused\"}} {}\n",
        connections_total, connections_evicted, connections_refused);
    if (extra_metrics) out += extra_metrics();
    return out;
  }
};

WebhookServer::WebhookServer(WebhookServerOptions options, MutateHandler mutate,
                             MetricsSource extra_metrics)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(mutate),
                                   std::move(extra_metrics))) {}

WebhookServer::~WebhookServer() { Stop(); }

Status WebhookServer::LoadIdentity() {
  impl_->seen_files = impl_->StatFiles();
  auto loaded = impl_->ReadIdentity();
  if (!loaded.ok()) return loaded.status();
  impl_->identity = std::move(loaded).value();
  impl_->next_reload_check = Clock::now() + impl_->options.reload_interval;
  return Status::Ok();
}

std::string WebhookServer::Listen(const ListenAddress& address) { return impl_->Listen(address); }

uint16_t WebhookServer::port() const { return impl_->bound_port; }

void WebhookServer::Start() {
  impl_->started = true;
  for (size_t i = 0; i < impl_->options.workers; ++i) {
    impl_->workers.emplace_back([this] { impl_->Work(); });
  }
  impl_->thread = std::thread([this] { impl_->Run(); });
}

void WebhookServer::BeginShutdown() { impl_->draining.store(true); }

void WebhookServer::Stop() {
  if (!impl_->started) return;
  impl_->started = false;
  impl_->stopping.store(true, std::memory_order_release);
  const uint64_t one = 1;
  (void)!write(impl_->wake_fd, &one, sizeof(one));
  if (impl_->thread.joinable()) impl_->thread.join();
  {
    std::lock_guard lock(impl_->jobs_mutex);
    impl_->jobs_ready.notify_all();
  }
  for (std::thread& worker : impl_->workers) worker.join();
  impl_->workers.clear();
}

size_t WebhookServer::open_connections() const {
  return impl_->open_count.load(std::memory_order_relaxed);
}

}  // namespace lastcall

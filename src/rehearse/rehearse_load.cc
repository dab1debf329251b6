#include "rehearse_load.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include "base/net_util.h"
#include "http/http_response_reader.h"
#include "rehearse_balancer.h"
#include "version.h"

namespace lastcall {
namespace {

using Steady = std::chrono::steady_clock;

// How long the loop sleeps at most: the resolution of request timeouts and of StopSending.
constexpr auto kLoopTick = std::chrono::milliseconds(20);

std::string_view HeaderValue(const HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return {};
}

bool HasCloseToken(std::string_view value) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (EqualsIgnoreCase(TrimSpace(value.substr(0, comma)), "close")) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

RequestOutcome Classify(const HttpResponse& response) {
  const std::string_view marker = HeaderValue(response, kRehearseHeader);
  if (marker == kBackendRefused) return RequestOutcome::kRefused;
  if (marker == kBackendConnectTimeout) return RequestOutcome::kTimeout;
  const bool success = response.status >= 200 && response.status <= 299;
  if (!success) return RequestOutcome::kNon2xx;
  return marker == kOtherReplica ? RequestOutcome::kOtherReplica : RequestOutcome::kOk;
}

RequestOutcome OutcomeOfErrno(int error) {
  switch (error) {
    case ECONNREFUSED:
      return RequestOutcome::kRefused;
    case ETIMEDOUT:
      return RequestOutcome::kTimeout;
    default:
      return RequestOutcome::kReset;
  }
}

}  // namespace

std::string_view ToString(RequestOutcome outcome) {
  switch (outcome) {
    case RequestOutcome::kOk:
      return "ok";
    case RequestOutcome::kOtherReplica:
      return "other_replica";
    case RequestOutcome::kRefused:
      return "refused";
    case RequestOutcome::kReset:
      return "reset";
    case RequestOutcome::kTimeout:
      return "timeout";
    case RequestOutcome::kNon2xx:
      return "non_2xx";
    case RequestOutcome::kMalformed:
      return "malformed";
    case RequestOutcome::kNotSent:
      return "not_sent";
  }
  return "unknown";
}

bool IsFailure(RequestOutcome outcome) {
  switch (outcome) {
    case RequestOutcome::kOk:
    case RequestOutcome::kOtherReplica:
    case RequestOutcome::kNotSent:
      return false;
    default:
      return true;
  }
}

struct LoadGenerator::Impl {
  struct Request {
    size_t record = 0;  // index into records
    int fd = -1;
    uint64_t id = 0;  // its epoll id (0: not registered)
    bool connecting = false;
    Steady::time_point deadline;
    std::string out;  // bytes still to send
    std::optional<ResponseReader> reader;
  };
  // What an epoll id stands for: a request in flight, or an idle pooled connection.
  struct Slot {
    Request* request = nullptr;  // null: idle connection
    int idle_fd = -1;
  };

  LoadOptions options;
  std::optional<SocketAddress> address;
  int epoll_fd = -1;
  std::thread thread;
  Steady::time_point start;
  std::atomic<bool> stop_sending{false};
  std::atomic<bool> sending_finished{false};
  std::atomic<int64_t> finish_deadline_ns{0};  // 0: not finishing yet
  std::atomic<uint64_t> sent{0}, ok{0}, other{0}, failed{0}, not_sent{0}, in_flight{0};

  // Owned by the thread until it is joined.
  std::vector<RequestRecord> records;
  std::unordered_map<uint64_t, Slot> slots;
  std::unordered_map<Request*, std::unique_ptr<Request>> active;
  std::vector<std::pair<int, uint64_t>> idle;  // fd and its epoll id, most recent last
  size_t open_connections = 0;
  uint64_t next_id = 1;

  Millis Since(Steady::time_point at) const {
    return std::chrono::duration_cast<Millis>(at - start);
  }

  uint64_t Watch(int fd, Slot slot, uint32_t events, bool add) {
    const uint64_t id = next_id++;
    slots[id] = slot;
    epoll_event event{};
    event.events = events;
    event.data.u64 = id;
    epoll_ctl(epoll_fd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event);
    return id;
  }

  void SetEvents(const Request* request, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = request->id;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, request->fd, &event);
  }

  void CloseConnection(int fd) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    --open_connections;
  }

  void Count(RequestOutcome outcome) {
    switch (outcome) {
      case RequestOutcome::kOk:
        ok.fetch_add(1, std::memory_order_relaxed);
        break;
      case RequestOutcome::kOtherReplica:
        other.fetch_add(1, std::memory_order_relaxed);
        break;
      case RequestOutcome::kNotSent:
        not_sent.fetch_add(1, std::memory_order_relaxed);
        break;
      default:
        failed.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }

  // Ends a request. `keep` returns its connection to the pool instead of closing it.
  void Complete(Request* request, RequestOutcome outcome, int status, bool keep) {
    RequestRecord& record = records[request->record];
    record.finished_at = Since(Steady::now());
    record.outcome = outcome;
    record.status = status;
    Count(outcome);
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    slots.erase(request->id);
    if (keep && idle.size() < options.max_idle_connections) {
      const uint64_t id =
          Watch(request->fd, Slot{nullptr, request->fd}, EPOLLIN | EPOLLRDHUP, false);
      idle.emplace_back(request->fd, id);
    } else {
      CloseConnection(request->fd);
    }
    active.erase(request);
  }

  // An idle connection's server closed it (or sent something unasked): drop it from the pool.
  void DropIdle(int fd) {
    auto it = std::find_if(idle.begin(), idle.end(), [fd](const auto& e) { return e.first == fd; });
    if (it == idle.end()) return;
    slots.erase(it->second);
    idle.erase(it);
    CloseConnection(fd);
  }

  void Issue(size_t index, Steady::time_point now) {
    const size_t path_index = index % options.paths.size();
    records.push_back(RequestRecord{Since(now), Since(now), RequestOutcome::kOk, 0,
                                    static_cast<uint16_t>(path_index), false});
    sent.fetch_add(1, std::memory_order_relaxed);
    auto owned = std::make_unique<Request>();
    Request* request = owned.get();
    request->record = records.size() - 1;
    request->deadline = now + options.request_timeout;
    request->reader.emplace(false);
    request->out = "GET " + options.paths[path_index] + " HTTP/1.1\r\nHost: " + options.host + ":" +
                   std::to_string(options.port) + "\r\nUser-Agent: lastcall-rehearse/" + kVersion +
                   "\r\nAccept: */*\r\n\r\n";
    active[request] = std::move(owned);
    in_flight.fetch_add(1, std::memory_order_relaxed);

    if (!idle.empty()) {
      const auto [fd, id] = idle.back();
      idle.pop_back();
      slots.erase(id);
      request->fd = fd;
      records[request->record].reused_connection = true;
      request->id = Watch(fd, Slot{request, -1}, EPOLLOUT, false);
      return;
    }
    if (open_connections >= options.max_open_connections) {
      request->fd = -1;
      return Abandon(request, RequestOutcome::kNotSent);
    }
    const int fd = socket(address->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Abandon(request, RequestOutcome::kNotSent);
    ++open_connections;
    request->fd = fd;
    const int rc = connect(fd, address->get(), address->length);
    if (rc != 0 && errno != EINPROGRESS) return Complete(request, OutcomeOfErrno(errno), 0, false);
    request->connecting = rc != 0;
    request->id = Watch(fd, Slot{request, -1}, EPOLLOUT, true);
  }

  // Ends a request that never got a connection.
  void Abandon(Request* request, RequestOutcome outcome) {
    RequestRecord& record = records[request->record];
    record.finished_at = record.sent_at;
    record.outcome = outcome;
    Count(outcome);
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    active.erase(request);
  }

  void OnEvent(Request* request, uint32_t events) {
    if (request->connecting) {
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(request->fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) return Complete(request, OutcomeOfErrno(error), 0, false);
      if ((events & EPOLLOUT) == 0) return;
      request->connecting = false;
    }
    if (!request->out.empty()) {
      while (!request->out.empty()) {
        const ssize_t n = send(request->fd, request->out.data(), request->out.size(), kSendFlags);
        if (n > 0) {
          request->out.erase(0, static_cast<size_t>(n));
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        return Complete(request, RequestOutcome::kReset, 0, false);
      }
      SetEvents(request, EPOLLIN);
      return;
    }
    char buffer[16 * 1024];
    while (true) {
      const ssize_t n = recv(request->fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        const ResponseReader::State state =
            request->reader->Feed(std::string_view(buffer, static_cast<size_t>(n)));
        if (state == ResponseReader::State::kNeedMore) continue;
        return Finished(request, state, /*at_eof=*/false);
      }
      if (n == 0) return Finished(request, request->reader->FinishAtEof(), /*at_eof=*/true);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return Complete(request, OutcomeOfErrno(errno), 0, false);
    }
  }

  void Finished(Request* request, ResponseReader::State state, bool at_eof) {
    const HttpResponse& response = request->reader->response();
    if (state == ResponseReader::State::kError) {
      const RequestOutcome outcome =
          response.error == HttpError::kReset ? RequestOutcome::kReset : RequestOutcome::kMalformed;
      return Complete(request, outcome, 0, false);
    }
    const bool keep = !at_eof && !HasCloseToken(HeaderValue(response, "connection"));
    Complete(request, Classify(response), response.status, keep);
  }

  void ExpireRequests(Steady::time_point now, bool all) {
    std::vector<Request*> late;
    for (const auto& [request, owned] : active) {
      if (all || now >= request->deadline) late.push_back(request);
    }
    for (Request* request : late) Complete(request, RequestOutcome::kTimeout, 0, false);
  }

  void Loop() {
    const auto interval = std::chrono::nanoseconds(1'000'000'000LL / options.rps);
    const Steady::time_point send_until = start + options.duration;
    size_t next = 0;
    Steady::time_point next_at = start;
    bool sending = true;
    std::vector<epoll_event> events(256);
    while (true) {
      Steady::time_point now = Steady::now();
      if (sending && (stop_sending.load(std::memory_order_acquire) || now >= send_until)) {
        sending = false;
        sending_finished.store(true, std::memory_order_release);
      }
      // A late thread catches up: every request due by now leaves now.
      while (sending && next_at <= now && next_at < send_until) {
        Issue(next, now);
        ++next;
        next_at = start + interval * static_cast<int64_t>(next);
      }
      const int64_t finish_ns = finish_deadline_ns.load(std::memory_order_acquire);
      if (!sending && active.empty()) break;
      if (finish_ns != 0 && now.time_since_epoch().count() >= finish_ns) {
        ExpireRequests(now, /*all=*/true);
        break;
      }
      ExpireRequests(now, /*all=*/false);
      Steady::time_point wake = now + kLoopTick;
      if (sending) wake = std::min(wake, next_at);
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      const int ready = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()),
                                   static_cast<int>(std::max<int64_t>(wait, 0)));
      for (int i = 0; i < ready; ++i) {
        const epoll_event& event = events[static_cast<size_t>(i)];
        // A copy: epoll_event is packed on x86-64, so a reference to its u64 (what find takes)
        // would be misaligned (clang's UBSan stops on it).
        const uint64_t id = event.data.u64;
        auto found = slots.find(id);
        if (found == slots.end()) continue;  // superseded earlier in this batch
        const Slot slot = found->second;
        if (slot.request == nullptr) {
          DropIdle(slot.idle_fd);
        } else {
          OnEvent(slot.request, event.events);
        }
      }
    }
    for (const auto& [fd, id] : idle) {
      close(fd);
      --open_connections;
    }
    idle.clear();
    sending_finished.store(true, std::memory_order_release);
  }
};

LoadGenerator::LoadGenerator(LoadOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.paths.empty()) impl_->options.paths = {"/"};
  impl_->options.rps = std::clamp(impl_->options.rps, 1, 1'000'000);
}

LoadGenerator::~LoadGenerator() {
  if (impl_->thread.joinable()) Finish(Steady::now());
  if (impl_->epoll_fd >= 0) close(impl_->epoll_fd);
}

std::string LoadGenerator::Start() {
  Impl& impl = *impl_;
  impl.address = IpSocketAddress(impl.options.host, impl.options.port);
  if (!impl.address) return "load: " + impl.options.host + " is not an IP address";
  impl.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (impl.epoll_fd < 0) return "load: epoll: " + ErrnoText(errno);
  const auto expected = static_cast<size_t>(impl.options.rps) *
                        static_cast<size_t>(std::max<int64_t>(1, impl.options.duration.count())) /
                        1000;
  impl.records.reserve(std::min<size_t>(expected + 16, 1'000'000));
  impl.start = Steady::now();
  impl.thread = std::thread([&impl] { impl.Loop(); });
  return "";
}

Steady::time_point LoadGenerator::started_at() const { return impl_->start; }

void LoadGenerator::StopSending() { impl_->stop_sending.store(true, std::memory_order_release); }

bool LoadGenerator::sending_done() const {
  return impl_->sending_finished.load(std::memory_order_acquire);
}

std::vector<RequestRecord> LoadGenerator::Finish(Steady::time_point deadline) {
  Impl& impl = *impl_;
  impl.finish_deadline_ns.store(std::max<int64_t>(1, deadline.time_since_epoch().count()),
                                std::memory_order_release);
  if (impl.thread.joinable()) impl.thread.join();
  return std::move(impl.records);
}

LoadSnapshot LoadGenerator::Snapshot() const {
  const Impl& impl = *impl_;
  LoadSnapshot out;
  out.sent = impl.sent.load(std::memory_order_relaxed);
  out.ok = impl.ok.load(std::memory_order_relaxed);
  out.other_replica = impl.other.load(std::memory_order_relaxed);
  out.failed = impl.failed.load(std::memory_order_relaxed);
  out.not_sent = impl.not_sent.load(std::memory_order_relaxed);
  out.in_flight = impl.in_flight.load(std::memory_order_relaxed);
  return out;
}

}  // namespace lastcall

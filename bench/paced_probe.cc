// A probe storm at a fixed offered load, for comparing readiness endpoints at the same rate:
// wrk sends as fast as the server answers, so a faster server gets more load and its tail is
// measured at a different point than a slower peer's. Here every request has a scheduled send
// time (rate R spread evenly over C keep-alive connections), and its latency counts from that
// time, not from when it was sent: a server that stalls is charged for the requests it delayed
// (no coordinated omission).
//
// Usage: paced_probe --port P [--host 127.0.0.1] [--path /readyz] [--rate 10000]
//                    [--connections 32] [--seconds 5] [--threads 2]
// Prints one line: achieved rate, answers by class, latency percentiles in microseconds, and the
// first 503's time since the start when one came (the caller may signal the server meanwhile).
// Exits 1 when it cannot connect, 2 on a usage error. Bounded: it stops after --seconds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::nanoseconds;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/readyz";
  double rate = 10000;
  int connections = 32;
  double seconds = 5;
  int threads = 2;
};

struct Totals {
  std::vector<double> latencies_us;
  long long ok = 0;       // 2xx
  long long unready = 0;  // 503
  long long other = 0;    // anything else, and broken connections
  std::optional<Steady::time_point> first_503;
};

int Connect(const Options& options) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(options.port));
  inet_pton(AF_INET, options.host.c_str(), &address.sin_addr);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

struct Response {
  size_t length = 0;  // bytes of `data` it takes
  int status = 0;
  bool closes = false;  // "Connection: close": the server ends the connection after it
};

// The first complete response in `data` (Content-Length or chunked); nullopt while incomplete.
std::optional<Response> CompleteResponse(std::string_view data) {
  const size_t head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return std::nullopt;
  const int status = data.size() > 12 ? std::atoi(std::string(data.substr(9, 3)).c_str()) : 0;
  std::string head(data.substr(0, head_end));
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const size_t body_start = head_end + 4;
  const bool closes = head.find("\r\nconnection: close") != std::string::npos;
  const size_t length_at = head.find("\r\ncontent-length:");
  if (length_at != std::string::npos) {
    const size_t length = std::strtoul(head.c_str() + length_at + 17, nullptr, 10);
    if (data.size() < body_start + length) return std::nullopt;
    return Response{body_start + length, status, closes};
  }
  if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    const size_t end = data.find("\r\n0\r\n\r\n", body_start - 2);
    if (end == std::string_view::npos) return std::nullopt;
    return Response{end + 7, status, closes};
  }
  return Response{body_start, status, closes};  // no body
}

struct Connection {
  int fd = -1;
  Steady::time_point next_slot;  // when its next request is due
  Steady::time_point intended;   // the scheduled time of the request in flight
  bool in_flight = false;
  std::string buffer;
};

// One thread's share of the connections, on its own epoll.
void RunShard(const Options& options, int first, int count, Steady::time_point start,
              Steady::time_point end, Totals* totals, std::atomic<bool>* failed) {
  const nanoseconds period(static_cast<long long>(1e9 * options.connections / options.rate));
  const std::string request =
      "GET " + options.path + " HTTP/1.1\r\nHost: " + options.host + "\r\n\r\n";
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Connection> connections(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    Connection& c = connections[static_cast<size_t>(i)];
    c.fd = Connect(options);
    if (c.fd < 0) {
      failed->store(true);
      break;
    }
    // Connection k's slots are offset by k/C of a period: the load is even, not in bursts.
    c.next_slot = start + period * (first + i) / options.connections;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epoll, EPOLL_CTL_ADD, c.fd, &event);
  }
  auto send_due = [&](Steady::time_point now) {
    for (Connection& c : connections) {
      if (c.fd < 0 || c.in_flight || c.next_slot > now || c.next_slot >= end) continue;
      c.intended = c.next_slot;
      c.next_slot += period;
      c.in_flight = true;
      if (send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
        ++totals->other;
        close(c.fd);
        c.fd = -1;
      }
    }
  };
  // Replaces a connection the server closed or is closing; its schedule goes on.
  auto reopen = [&](Connection& c, uint32_t index) {
    epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.buffer.clear();
    c.fd = Connect(options);
    if (c.fd >= 0) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u32 = index;
      epoll_ctl(epoll, EPOLL_CTL_ADD, c.fd, &event);
    }
  };
  epoll_event events[64];
  while (!failed->load()) {
    const Steady::time_point now = Steady::now();
    if (now >= end + std::chrono::seconds(1)) break;  // answers still missing a second later
    send_due(now);
    bool waiting = false;
    Steady::time_point wake = end + std::chrono::seconds(1);
    for (const Connection& c : connections) {
      if (c.fd < 0) continue;
      if (c.in_flight) waiting = true;
      if (!c.in_flight && c.next_slot < end) wake = std::min(wake, c.next_slot);
    }
    if (!waiting && wake >= end) break;
    const auto wait = std::max(nanoseconds(0), wake - Steady::now());
    timespec timeout{static_cast<time_t>(wait.count() / 1000000000),
                     static_cast<long>(wait.count() % 1000000000)};
    const int n = epoll_pwait2(epoll, events, 64, &timeout, nullptr);
    const Steady::time_point arrived = Steady::now();
    for (int e = 0; e < n; ++e) {
      Connection& c = connections[events[e].data.u32];
      char chunk[4096];
      const ssize_t got = recv(c.fd, chunk, sizeof chunk, 0);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        // The server closed the connection (servers cap requests per connection): an answer
        // it owed is lost; then reconnect, as a prober would, and go on with the schedule.
        if (c.in_flight) ++totals->other;
        c.in_flight = false;
        reopen(c, events[e].data.u32);
        continue;
      }
      c.buffer.append(chunk, static_cast<size_t>(got));
      bool reconnect = false;
      while (const auto done = CompleteResponse(c.buffer)) {
        c.buffer.erase(0, done->length);
        reconnect = reconnect || done->closes;
        if (!c.in_flight) continue;
        c.in_flight = false;
        totals->latencies_us.push_back(
            std::chrono::duration<double, std::micro>(arrived - c.intended).count());
        if (done->status >= 200 && done->status < 300) {
          ++totals->ok;
        } else if (done->status == 503) {
          ++totals->unready;
          if (!totals->first_503 || arrived < *totals->first_503) totals->first_503 = arrived;
        } else {
          ++totals->other;
        }
      }
      // The server said it closes: open the next connection now, as wrk does.
      if (reconnect) reopen(c, events[e].data.u32);
    }
  }
  for (Connection& c : connections) {
    if (c.fd >= 0) close(c.fd);
  }
  close(epoll);
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

int Usage(const char* problem) {
  std::fprintf(stderr,
               "paced_probe: %s\nusage: paced_probe --port P [--host H] [--path /readyz] "
               "[--rate R] [--connections C] [--seconds S] [--threads T]\n",
               problem);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return Usage(("missing value for " + flag).c_str());
    const char* value = argv[++i];
    if (flag == "--port") {
      options.port = std::atoi(value);
    } else if (flag == "--host") {
      options.host = value;
    } else if (flag == "--path") {
      options.path = value;
    } else if (flag == "--rate") {
      options.rate = std::atof(value);
    } else if (flag == "--connections") {
      options.connections = std::atoi(value);
    } else if (flag == "--seconds") {
      options.seconds = std::atof(value);
    } else if (flag == "--threads") {
      options.threads = std::atoi(value);
    } else {
      return Usage(("unknown flag " + flag).c_str());
    }
  }
  if (options.port <= 0 || options.port > 65535) return Usage("--port must be 1..65535");
  if (options.rate <= 0 || options.rate > 1e6) return Usage("--rate must be in (0, 1000000]");
  if (options.connections < 1 || options.connections > 1000) return Usage("--connections 1..1000");
  if (options.seconds <= 0 || options.seconds > 600) return Usage("--seconds must be in (0, 600]");
  options.threads = std::clamp(options.threads, 1, options.connections);

  const Steady::time_point start = Steady::now() + std::chrono::milliseconds(50);
  const Steady::time_point end = start + std::chrono::duration_cast<nanoseconds>(
                                             std::chrono::duration<double>(options.seconds));
  std::vector<Totals> shards(static_cast<size_t>(options.threads));
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  int first = 0;
  for (int t = 0; t < options.threads; ++t) {
    const int count =
        options.connections / options.threads + (t < options.connections % options.threads ? 1 : 0);
    threads.emplace_back(RunShard, std::cref(options), first, count, start, end,
                         &shards[static_cast<size_t>(t)], &failed);
    first += count;
  }
  for (std::thread& thread : threads) thread.join();
  if (failed.load()) {
    std::fprintf(stderr, "paced_probe: cannot connect to %s:%d\n", options.host.c_str(),
                 options.port);
    return 1;
  }
  Totals all;
  for (Totals& shard : shards) {
    all.latencies_us.insert(all.latencies_us.end(), shard.latencies_us.begin(),
                            shard.latencies_us.end());
    all.ok += shard.ok;
    all.unready += shard.unready;
    all.other += shard.other;
    if (shard.first_503 && (!all.first_503 || *shard.first_503 < *all.first_503)) {
      all.first_503 = shard.first_503;
    }
  }
  std::sort(all.latencies_us.begin(), all.latencies_us.end());
  const double achieved = static_cast<double>(all.latencies_us.size()) / options.seconds;
  std::printf(
      "offered %.0f/s achieved %.0f/s ok %lld 503 %lld other %lld  p50 %.0f p90 %.0f p99 %.0f "
      "p99.9 %.0f max %.0f us",
      options.rate, achieved, all.ok, all.unready, all.other, Percentile(all.latencies_us, 50),
      Percentile(all.latencies_us, 90), Percentile(all.latencies_us, 99),
      Percentile(all.latencies_us, 99.9), all.latencies_us.empty() ? 0 : all.latencies_us.back());
  if (all.first_503) {
    std::printf("  first_503_at %.3f ms",
                std::chrono::duration<double, std::milli>(*all.first_503 - start).count());
  }
  std::printf("\n");
  return 0;
}

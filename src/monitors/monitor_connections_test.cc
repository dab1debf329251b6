#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/proc_net_tcp.h"
#include "monitor_test_fakes.h"
#include "monitors/monitor.h"
#include "monitors/traffic_observer.h"
#include "test_fixtures.h"

namespace lastcall {
namespace {

using testing::FakeFileReader;
using testing::MonitorConfig;

Config ConnectionsConfig(std::vector<int> ports, bool count_close_wait = false,
                         double drained_at = 0) {
  Config config = MonitorConfig(MonitorKind::kConnections);
  config.shutdown.drain.monitor.ports = std::move(ports);
  config.shutdown.drain.monitor.count_close_wait = count_close_wait;
  config.shutdown.drain.monitor.drained_at = drained_at;
  return config;
}

PollResult PollOnce(const Config& config, FileReader& files) {
  return MakeConnectionsMonitor(config, files)->Poll(std::chrono::steady_clock::now());
}

// --- against fixture tables ------------------------------------------------------------------

FakeFileReader FixtureTables() {
  FakeFileReader files;
  files.files["/proc/net/tcp"] = testing::ReadFixture("proc_net_tcp.txt");
  files.files["/proc/net/tcp6"] = testing::ReadFixture("proc_net_tcp6.txt");
  return files;
}

TEST_CASE("connections monitor: counts ESTABLISHED and SYN_RECV on the ports, both tables") {
  // Port 8080 has, in tcp: 2 ESTABLISHED, 1 SYN_RECV, 1 CLOSE_WAIT, 1 TIME_WAIT, a listener;
  // in tcp6: 2 ESTABLISHED, 1 CLOSE_WAIT, 1 TIME_WAIT, a listener.
  struct Case {
    Config config;
    PollOutcome outcome;
    double value;
    std::string detail;
  };
  const Case cases[] = {
      {ConnectionsConfig({8080}), PollOutcome::kBusy, 5,
       "5 connections on port 8080 (ESTABLISHED, SYN_RECV)"},
      {ConnectionsConfig({8080}, true), PollOutcome::kBusy, 7,
       "7 connections on port 8080 (ESTABLISHED, SYN_RECV, CLOSE_WAIT)"},
      {ConnectionsConfig({8080}, false, 5), PollOutcome::kDrained, 5,
       "5 connections on port 8080 (ESTABLISHED, SYN_RECV)"},
      {ConnectionsConfig({8080, 3306}), PollOutcome::kBusy, 6,
       "6 connections on ports 8080,3306 (ESTABLISHED, SYN_RECV)"},
      {ConnectionsConfig({3306}), PollOutcome::kBusy, 1,
       "1 connection on port 3306 (ESTABLISHED, SYN_RECV)"},
      // Port 9090: no connection and no listener: the app is gone.
      {ConnectionsConfig({9090}), PollOutcome::kRefused, 0,
       "nothing listens on port 9090: the app is gone"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.detail);
    FakeFileReader files = FixtureTables();
    PollResult got = PollOnce(c.config, files);
    CHECK(got.outcome == c.outcome);
    REQUIRE(got.value.has_value());
    CHECK(*got.value == c.value);
    CHECK(got.detail == c.detail);
    CHECK(files.reads == std::vector<std::string>{"/proc/net/tcp", "/proc/net/tcp6"});
  }
}

TEST_CASE("connections monitor: a missing tcp6 is fine, both missing or garbage is an error") {
  FakeFileReader only_tcp = FixtureTables();
  only_tcp.files.erase("/proc/net/tcp6");
  CHECK(PollOnce(ConnectionsConfig({8080}), only_tcp).value == 3);

  FakeFileReader only_tcp6 = FixtureTables();
  only_tcp6.files.erase("/proc/net/tcp");
  CHECK(PollOnce(ConnectionsConfig({8080}), only_tcp6).value == 2);

  FakeFileReader none;
  PollResult missing = PollOnce(ConnectionsConfig({8080}), none);
  CHECK(missing.outcome == PollOutcome::kError);
  CHECK_FALSE(missing.value.has_value());
  CHECK(missing.detail == "cannot read /proc/net/tcp or /proc/net/tcp6");

  FakeFileReader garbage = FixtureTables();
  garbage.files["/proc/net/tcp6"] = "  sl  local_address\n   0: 0100007F:1F90\n";
  PollResult bad = PollOnce(ConnectionsConfig({8080}), garbage);
  CHECK(bad.outcome == PollOutcome::kError);
  CHECK(bad.detail ==
        "/proc/net/tcp6: line 2: expected at least 4 fields (sl local_address rem_address st), "
        "found 2: \"   0: 0100007F:1F90\"");

  FakeFileReader empty_tables;
  empty_tables.files["/proc/net/tcp"] = "  sl  local_address rem_address   st\n";
  empty_tables.files["/proc/net/tcp6"] = "  sl  local_address remote_address st\n";
  PollResult gone = PollOnce(ConnectionsConfig({8080}), empty_tables);
  CHECK(gone.outcome == PollOutcome::kRefused);
  CHECK(gone.value == 0);

  FakeFileReader listening;
  listening.files["/proc/net/tcp"] =
      "  sl  local_address rem_address   st\n"
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1\n";
  PollResult idle = PollOnce(ConnectionsConfig({8080}), listening);
  CHECK(idle.outcome == PollOutcome::kDrained);
  CHECK(idle.value == 0);
}

// --- against the kernel ------------------------------------------------------------------------

class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Socket& operator=(Socket&&) = delete;
  ~Socket() { Close(); }
  int fd() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Binds family's loopback address on an ephemeral port and listens. nullopt when the family is
// unavailable (e.g. IPv6 disabled).
std::optional<Socket> Listen(int family, int* port) {
  Socket s(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.fd() < 0) return std::nullopt;
  sockaddr_storage address{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_loopback;
    length = sizeof(sockaddr_in6);
  }
  if (::bind(s.fd(), reinterpret_cast<sockaddr*>(&address), length) != 0) return std::nullopt;
  if (::listen(s.fd(), 64) != 0) return std::nullopt;
  if (::getsockname(s.fd(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return std::nullopt;
  }
  *port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&address)->sin_port
                                  : reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  return s;
}

Socket Connect(int family, int port) {
  Socket s(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(s.fd() >= 0);
  int rc = -1;
  if (family == AF_INET) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    v4.sin_port = htons(static_cast<uint16_t>(port));
    rc = ::connect(s.fd(), reinterpret_cast<sockaddr*>(&v4), sizeof v4);
  } else {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_addr = in6addr_loopback;
    v6.sin6_port = htons(static_cast<uint16_t>(port));
    rc = ::connect(s.fd(), reinterpret_cast<sockaddr*>(&v6), sizeof v6);
  }
  REQUIRE(rc == 0);
  return s;
}

Socket Accept(const Socket& listener) {
  Socket s(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(s.fd() >= 0);
  return s;
}

// Polls until the count is `want` (state changes on loopback take microseconds, but are not
// synchronous with close()), for at most 2 s; returns the last result.
PollResult PollUntil(DrainMonitor& monitor, double want) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  PollResult result;
  do {
    result = monitor.Poll(std::chrono::steady_clock::now() + std::chrono::seconds(1));
    if (result.value == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  } while (std::chrono::steady_clock::now() < give_up);
  return result;
}

size_t CountInState(int port, TcpState state) {
  PosixFileReader files;
  size_t count = 0;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::optional<std::string> text = files.Read(path);
    if (!text) continue;
    std::string error;
    std::optional<std::vector<TcpSocketRow>> rows = ParseProcNetTcp(*text, &error);
    REQUIRE_MESSAGE(rows.has_value(), error);
    const int ports[] = {port};
    const TcpState states[] = {state};
    count += CountConnections(*rows, ports, states);
  }
  return count;
}

TEST_CASE("connections monitor: counts real loopback connections, IPv4 and IPv6") {
  int port4 = 0;
  int port6 = 0;
  std::optional<Socket> listener4 = Listen(AF_INET, &port4);
  REQUIRE(listener4.has_value());
  std::optional<Socket> listener6 = Listen(AF_INET6, &port6);
  if (!listener6) MESSAGE("IPv6 loopback unavailable: counting IPv4 only");
  const int clients6 = listener6 ? 2 : 0;
  std::vector<int> ports{port4};
  if (listener6) ports.push_back(port6);

  const double open = 3 + clients6;
  // drained_at one below what the test opens: busy only once all are counted, so a host whose
  // own table is large (where the monitor stops reading once it knows) still gives exact counts.
  const double drained_at = open - 1;

  PosixFileReader files;
  std::unique_ptr<DrainMonitor> monitor =
      MakeConnectionsMonitor(ConnectionsConfig(ports, false, drained_at), files);
  PollResult idle = PollUntil(*monitor, 0);
  CHECK(idle.outcome == PollOutcome::kDrained);  // listeners are not connections
  CHECK(idle.value == 0);

  std::vector<Socket> clients;
  std::vector<Socket> servers;
  for (int i = 0; i < 3; ++i) clients.push_back(Connect(AF_INET, port4));
  for (int i = 0; i < clients6; ++i) clients.push_back(Connect(AF_INET6, port6));
  PollResult busy = PollUntil(*monitor, open);  // counted before accept(), in the queue
  CHECK(busy.outcome == PollOutcome::kBusy);
  CHECK(busy.value == open);
  for (int i = 0; i < 3; ++i) servers.push_back(Accept(*listener4));
  for (int i = 0; i < clients6; ++i) servers.push_back(Accept(*listener6));
  CHECK(PollUntil(*monitor, open).value == open);

  SUBCASE("the app closes first: its side passes through TIME_WAIT, which does not count") {
    for (Socket& server : servers) server.Close();
    for (Socket& client : clients) client.Close();
    PollResult drained = PollUntil(*monitor, 0);
    CHECK(drained.outcome == PollOutcome::kDrained);
    CHECK(drained.value == 0);
    CHECK(CountInState(port4, TcpState::kTimeWait) == 3);
  }

  SUBCASE("clients close first: CLOSE_WAIT counts only when configured") {
    for (Socket& client : clients) client.Close();
    PollResult drained = PollUntil(*monitor, 0);
    CHECK(drained.outcome == PollOutcome::kDrained);
    CHECK(CountInState(port4, TcpState::kCloseWait) == 3);
    std::unique_ptr<DrainMonitor> strict = MakeConnectionsMonitor(
        ConnectionsConfig(ports, /*count_close_wait=*/true, drained_at), files);
    PollResult waiting = PollUntil(*strict, open);
    CHECK(waiting.outcome == PollOutcome::kBusy);
    CHECK(waiting.value == open);
    for (Socket& server : servers) server.Close();
    CHECK(PollUntil(*strict, 0).value == 0);
  }
}

// --- count: in_flight -------------------------------------------------------------------------

Config InFlightConfig(std::vector<int> ports) {
  Config config = ConnectionsConfig(std::move(ports));
  config.shutdown.drain.monitor.count = ConnectionCount::kInFlight;
  return config;
}

// Answers each Observe with the next scripted observation (the last one repeats).
class ScriptedObserver final : public TrafficObserver {
 public:
  explicit ScriptedObserver(std::vector<Observation> script) : script_(std::move(script)) {}
  Observation Observe(TrafficTime /*deadline*/) override {
    const Observation next = script_[std::min(index_, script_.size() - 1)];
    ++index_;
    return next;
  }

 private:
  std::vector<Observation> script_;
  size_t index_ = 0;
};

TrafficConnection Seen(uint64_t id, uint64_t received, uint64_t answered, uint32_t last_recv,
                       uint32_t last_sent, TcpState state = TcpState::kEstablished) {
  TrafficConnection c;
  c.id = id;
  c.state = state;
  c.local_port = 8080;
  c.has_info = true;
  c.bytes_received = received;
  c.bytes_answered = answered;
  c.last_data_recv_ms = last_recv;
  c.last_data_sent_ms = last_sent;
  return c;
}

Observation Snapshot(std::vector<TrafficConnection> connections, size_t listeners = 1,
                     TrafficSource source = TrafficSource::kNetlink) {
  Observation o;
  o.snapshot.emplace();
  o.snapshot->source = source;
  o.snapshot->listeners = listeners;
  o.snapshot->connections = std::move(connections);
  return o;
}

TEST_CASE("connections monitor, in_flight: idle keep-alive connections do not hold the drain") {
  Observation failed;
  failed.error = "cannot read /proc/net/tcp or /proc/net/tcp6";
  TrafficConnection unknown = Seen(7, 0, 0, 0, 0);
  unknown.has_info = false;
  auto monitor = MakeInFlightMonitor(
      InFlightConfig({8080}),
      std::make_unique<ScriptedObserver>(std::vector<Observation>{
          // two idle keep-alive connections and one with a request unanswered
          Snapshot({Seen(1, 300, 900, 500, 400), Seen(2, 300, 900, 500, 400),
                    Seen(3, 400, 900, 20, 700)}),
          // the request answered; one idle connection left in TIME_WAIT (never counts)
          Snapshot({Seen(1, 300, 900, 600, 500), Seen(2, 300, 900, 600, 500, TcpState::kTimeWait),
                    Seen(3, 400, 1200, 120, 10)}),
          failed,
          // the /proc fallback: every connection counts
          Snapshot({unknown}, 1, TrafficSource::kProcNetTcp),
          Snapshot({}, 0),
      }));
  const auto deadline = std::chrono::steady_clock::now();
  PollResult busy = monitor->Poll(deadline);
  CHECK(busy.outcome == PollOutcome::kBusy);
  CHECK(busy.value == 1);
  CHECK(busy.detail == "1 of 3 connections on port 8080 with a request in flight");
  PollResult drained = monitor->Poll(deadline);
  CHECK(drained.outcome == PollOutcome::kDrained);
  CHECK(drained.value == 0);
  CHECK(drained.detail == "0 of 2 connections on port 8080 with a request in flight");
  PollResult error = monitor->Poll(deadline);
  CHECK(error.outcome == PollOutcome::kError);
  CHECK(error.detail == "cannot read /proc/net/tcp or /proc/net/tcp6");
  PollResult fallback = monitor->Poll(deadline);
  CHECK(fallback.outcome == PollOutcome::kBusy);
  CHECK(fallback.detail ==
        "1 of 1 connection on port 8080 with a request in flight (netlink refused: from "
        "/proc/net/tcp, every connection counts)");
  PollResult gone = monitor->Poll(deadline);
  CHECK(gone.outcome == PollOutcome::kRefused);
  CHECK(gone.detail == "nothing listens on port 8080: the app is gone");
}

// Answers `before` until told to switch, then `after`; counts the calls. Thread-safe: the
// monitor's sampler calls it from its own thread.
class SwitchingObserver final : public TrafficObserver {
 public:
  SwitchingObserver(Observation before, Observation after, std::atomic<int>* calls,
                    std::atomic<bool>* switched)
      : before_(std::move(before)), after_(std::move(after)), calls_(calls), switched_(switched) {}
  Observation Observe(TrafficTime /*deadline*/) override {
    ++*calls_;
    return switched_->load() ? after_ : before_;
  }

 private:
  Observation before_;
  Observation after_;
  std::atomic<int>* calls_;
  std::atomic<bool>* switched_;
};

TEST_CASE("connections monitor, in_flight: looks taken while serving prove the first poll idle") {
  // A connection that had sent 3 segments without data, then exchanged a request and an answer
  // in one tick and went quiet: only a look from before that exchange proves no ACK followed.
  TrafficConnection before = Seen(1, 300, 900, 2000, 2000);
  before.has_pure_acks = true;
  before.pure_acks = 3;
  before.data_segs_in = before.data_segs_out = 5;
  TrafficConnection after = before;
  after.bytes_received = 364;
  after.bytes_answered = 1100;
  after.last_data_recv_ms = after.last_data_sent_ms = 900;
  after.data_segs_in = after.data_segs_out = 6;
  for (const bool sampled : {false, true}) {
    CAPTURE(sampled);
    std::atomic<int> calls{0};
    std::atomic<bool> switched{false};
    auto monitor =
        MakeInFlightMonitor(InFlightConfig({8080}),
                            std::make_unique<SwitchingObserver>(
                                Snapshot({before}), Snapshot({after}), &calls, &switched),
                            sampled ? std::chrono::milliseconds(5) : std::chrono::milliseconds(0));
    if (sampled) {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (calls.load() == 0 && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      REQUIRE(calls.load() > 0);
    }
    switched = true;
    const PollResult first = monitor->Poll(std::chrono::steady_clock::now());
    // Without an earlier look the same connection counts (late, never early).
    CHECK(first.outcome == (sampled ? PollOutcome::kDrained : PollOutcome::kBusy));
  }
}

void SendAll(const Socket& s, std::string_view text) {
  REQUIRE(::send(s.fd(), text.data(), text.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(text.size()));
}
void ReceiveAll(const Socket& s, size_t n) {
  std::string buffer(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(s.fd(), buffer.data() + got, n - got, 0);
    REQUIRE(r > 0);
    got += static_cast<size_t>(r);
  }
}

TEST_CASE("connections monitor, in_flight: real keep-alive connections, IPv4 and IPv6") {
  for (int family : {AF_INET, AF_INET6}) {
    CAPTURE(family);
    int port = 0;
    std::optional<Socket> listener = Listen(family, &port);
    if (!listener) {
      REQUIRE(family == AF_INET6);
      MESSAGE("IPv6 loopback unavailable");
      continue;
    }
    PosixFileReader files;
    auto monitor = MakeConnectionsMonitor(InFlightConfig({port}), files);
    auto connections = MakeConnectionsMonitor(ConnectionsConfig({port}), files);
    Socket idle_client = Connect(family, port);
    Socket idle_server = Accept(*listener);
    Socket busy_client = Connect(family, port);
    Socket busy_server = Accept(*listener);
    // Both served twice, back to back: keep-alive, idle. (After one exchange within one tick,
    // between two looks, nothing would tell an answer from a server's greeting followed by a
    // request: such a connection counts until its next exchange.)
    for (auto* pair : {&idle_client, &busy_client}) {
      Socket& server = pair == &idle_client ? idle_server : busy_server;
      for (int i = 0; i < 2; ++i) {
        SendAll(*pair, "GET / HTTP/1.1\r\n\r\n");
        ReceiveAll(server, 18);
        SendAll(server, "HTTP/1.1 200 OK\r\n\r\n");
        ReceiveAll(*pair, 19);
      }
    }
    // Proven idle once the ACK bound has passed since the last data.
    PollResult idle = PollUntil(*monitor, 0);
    CHECK(idle.outcome == PollOutcome::kDrained);
    CHECK(idle.detail ==
          "0 of 2 connections on port " + std::to_string(port) + " with a request in flight");
    // What count: connections would say of the same pod.
    CHECK(PollUntil(*connections, 2).outcome == PollOutcome::kBusy);

    // A second request on one of them, read by the app and not answered yet.
    SendAll(busy_client, "GET /slow HTTP/1.1\r\n\r\n");
    ReceiveAll(busy_server, 22);
    PollResult busy = PollUntil(*monitor, 1);
    CHECK(busy.outcome == PollOutcome::kBusy);
    CHECK(busy.value == 1);
    // It stays in flight poll after poll until the app answers.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(monitor->Poll(std::chrono::steady_clock::now() + std::chrono::seconds(1)).value == 1);
    SendAll(busy_server, "HTTP/1.1 200 OK\r\n\r\n");
    ReceiveAll(busy_client, 19);
    CHECK(PollUntil(*monitor, 0).outcome == PollOutcome::kDrained);
  }
}

// --- bounded reads: a socket flood in the namespace ------------------------------------------

// A table of `rows` rows: `on_port` ESTABLISHED on 8080 first, then TIME_WAIT on other ports.
std::string FloodTable(size_t rows, size_t on_port) {
  std::string text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode\n";
  for (size_t i = 0; i < rows; ++i) {
    const bool mine = i < on_port;
    char line[160];
    std::snprintf(line, sizeof(line),
                  "%5zu: 0100007F:%04X 0100007F:%04zX %s 00000000:00000000 00:00000000 00000000"
                  "     0        0 0 1 0000000000000000 20 4 30 10 -1\n",
                  i, mine ? 0x1F90u : 0x2000u, 1024 + i % 60000, mine ? "01" : "06");
    text += line;
  }
  return text;
}

TEST_CASE("connections monitor: busy as soon as the count passes drained_at, unread rest") {
  FakeFileReader files;
  // 5000 rows (some 750 KiB, a dozen chunks), 3 connections at the top, garbage at the end:
  // past the rows it counts exactly, the monitor stops reading once it knows, so the garbage is
  // never reached.
  files.files["/proc/net/tcp"] = FloodTable(5000, 3) + "this is not a row\n";
  const auto later = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const PollResult result =
      MakeConnectionsMonitor(ConnectionsConfig({8080}, false, 2), files)->Poll(later);
  CHECK(result.outcome == PollOutcome::kBusy);
  CHECK(result.value == 3);
  CHECK(result.detail == "at least 3 connections on port 8080 (ESTABLISHED, SYN_RECV)");
  // At or under drained_at, the whole table is read: the garbage is found.
  const PollResult read_all =
      MakeConnectionsMonitor(ConnectionsConfig({8080}, false, 3), files)->Poll(later);
  CHECK(read_all.outcome == PollOutcome::kError);
  CHECK(read_all.detail.rfind("/proc/net/tcp: line 5002: ", 0) == 0);
}

TEST_CASE("connections monitor: a read the deadline cuts is an error, never drained") {
  FakeFileReader files;
  files.files["/proc/net/tcp"] = FloodTable(5000, 0);
  files.files["/proc/net/tcp6"] = FloodTable(10, 0);
  const auto monitor = MakeConnectionsMonitor(ConnectionsConfig({9999}), files);
  // A deadline already passed: the first chunk is read, the next is not.
  const PollResult cut = monitor->Poll(std::chrono::steady_clock::now());
  CHECK(cut.outcome == PollOutcome::kError);
  CHECK(cut.detail.rfind("/proc/net/tcp: read abandoned at the deadline after ", 0) == 0);
  // With time, the whole table: nothing on the port, nothing listening: gone.
  const PollResult whole =
      monitor->Poll(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  CHECK(whole.outcome == PollOutcome::kRefused);
}

}  // namespace
}  // namespace lastcall

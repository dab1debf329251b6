#include "monitors/traffic_observer.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "test_fixtures.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;

// --- InFlightHistory and CompareTraffic, pure -----------------------------------------------

TrafficConnection Conn(uint64_t id, uint64_t received, uint64_t answered, uint32_t last_recv,
                       uint32_t last_sent) {
  TrafficConnection c;
  c.id = id;
  c.local_port = 8080;
  c.has_info = true;
  c.bytes_received = received;
  c.bytes_answered = answered;
  c.last_data_recv_ms = last_recv;
  c.last_data_sent_ms = last_sent;
  c.has_pure_acks = true;
  c.pure_acks = 1;
  return c;
}

bool InFlightAlone(TrafficConnection c) {
  TrafficSnapshot now;
  now.connections = {c};
  InFlightHistory().Classify(now);
  return now.connections[0].in_flight;
}

TEST_CASE("traffic: in flight from one snapshot") {
  struct Case {
    const char* what;
    TrafficConnection c;
    bool in_flight;
  };
  TrafficConnection unread = Conn(1, 100, 50, 900, 900);
  unread.recv_queue = 10;
  TrafficConnection delivering = Conn(1, 100, 50, 900, 10);
  delivering.send_queue = 4000;
  TrafficConnection no_info = Conn(1, 0, 0, 0, 0);
  no_info.has_info = false;
  TrafficConnection time_wait = no_info;
  time_wait.state = TcpState::kTimeWait;
  const Case cases[] = {
      {"data received after the last answer", Conn(1, 200, 50, 3, 800), true},
      {"answered after the last data received (keep-alive idle)", Conn(1, 200, 50, 800, 3), false},
      // The timestamps cannot order them and nothing earlier tells whether an ACK followed.
      {"received and answered in the same tick, no history", Conn(1, 200, 50, 900, 900), true},
      {"request bytes unread", unread, true},
      {"answer not yet acknowledged", delivering, true},
      {"fresh connection, nothing either way", Conn(1, 0, 0, 20, 20), true},
      {"request received, nothing ever sent", Conn(1, 80, 0, 20, 20), true},
      {"no tcp_info (the /proc fallback): counted", no_info, true},
      {"TIME_WAIT: never", time_wait, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    CHECK(InFlightAlone(c.c) == c.in_flight);
  }
}

TEST_CASE("traffic: in flight across two snapshots (a request in the answer's tick)") {
  TrafficSnapshot before;
  before.connections = {Conn(1, 100, 500, 900, 900), Conn(2, 100, 500, 900, 900),
                        Conn(3, 100, 500, 5, 900)};
  InFlightHistory history;
  history.Classify(before);
  CHECK(before.connections[0].in_flight);  // tied timestamps, no history yet
  CHECK(before.connections[1].in_flight);
  CHECK(before.connections[2].in_flight);
  TrafficSnapshot now;
  now.connections = {
      Conn(1, 180, 500, 1000, 1000),  // a request came (timestamps tied), nothing answered
      Conn(2, 180, 900, 1000, 1000),  // a request came and was answered (no ACK of its own)
      Conn(3, 100, 500, 105, 105),    // was in flight, still unanswered (ticks now tie)
  };
  history.Classify(now);
  CHECK(now.connections[0].in_flight);
  CHECK_FALSE(now.connections[1].in_flight);
  CHECK(now.connections[2].in_flight);
  // The next look keeps the unanswered one in flight until it sends.
  TrafficSnapshot later;
  later.connections = {Conn(1, 180, 500, 1100, 1100), Conn(3, 100, 700, 205, 1)};
  history.Classify(later);
  CHECK(later.connections[0].in_flight);
  CHECK_FALSE(later.connections[1].in_flight);
}

// A connection whose last data in and out share a tick, as the kernel reports it `last_ms` after
// that tick, having sent `pure_acks` segments without data, with `segs` data segments each way.
TrafficConnection Tied(uint64_t received, uint64_t answered, uint32_t last_ms, uint32_t pure_acks,
                       uint32_t segs = 1) {
  TrafficConnection c = Conn(5, received, answered, last_ms, last_ms);
  c.pure_acks = pure_acks;
  c.data_segs_in = segs;
  c.data_segs_out = segs;
  return c;
}

bool InFlightAfter(InFlightHistory& history, TrafficConnection c) {
  TrafficSnapshot now;
  now.connections = {c};
  history.Classify(now);
  return now.connections[0].in_flight;
}

TEST_CASE("traffic: a request in the previous answer's tick is in flight until the ACKs tell") {
  SUBCASE("no ACK of its own since a look before it, past the bound: it was answered") {
    InFlightHistory history;
    CHECK(InFlightAfter(history, Tied(100, 200, 50, 1)));  // a look before the last exchange
    CHECK(InFlightAfter(history, Tied(164, 328, 4, 1)));   // exchanged, tied, within the bound
    CHECK(InFlightAfter(history, Tied(164, 328, 596, 1)));
    CHECK_FALSE(InFlightAfter(history, Tied(164, 328, 600, 1)));  // kAckBound after: idle
    CHECK_FALSE(InFlightAfter(history, Tied(164, 328, 5000, 1)));
  }
  SUBCASE("an ACK without data since the look before: a request the app has not answered") {
    InFlightHistory history;
    CHECK(InFlightAfter(history, Tied(100, 200, 50, 1)));
    CHECK(InFlightAfter(history, Tied(164, 328, 4, 1)));
    CHECK(InFlightAfter(history, Tied(164, 328, 44, 2)));  // the delayed ACK, 40 ms later
    CHECK(InFlightAfter(history, Tied(164, 328, 2900, 2)));
    // Answered at last, a tick or more after the request: ordered by the timestamps.
    TrafficConnection answered = Tied(164, 456, 0, 2);
    answered.last_data_recv_ms = 3000;
    CHECK_FALSE(InFlightAfter(history, answered));
  }
  SUBCASE("the reference survives looks without change") {
    InFlightHistory history;
    CHECK(InFlightAfter(history, Tied(100, 200, 50, 3)));
    CHECK(InFlightAfter(history, Tied(164, 328, 8, 3)));
    CHECK(InFlightAfter(history, Tied(164, 328, 108, 3)));
    CHECK(InFlightAfter(history, Tied(164, 328, 208, 4)));  // the ACK comes late (ping-pong)
    CHECK(InFlightAfter(history, Tied(164, 328, 708, 4)));
  }
  SUBCASE("no look before the last exchange") {
    InFlightHistory history;
    // One exchange each way: an answer, or a server's greeting followed by a request (whose
    // quick ACK is the one segment without data): nothing tells, so it counts.
    CHECK(InFlightAfter(history, Tied(64, 128, 900, 1, 1)));
    CHECK(InFlightAfter(history, Tied(64, 128, 1900, 1, 1)));
    // Two data segments or more each way: the first request's quick ACK was sent before the
    // last request came, so 1 segment without data in all means none for the last request.
    InFlightHistory other;
    CHECK_FALSE(InFlightAfter(other, Tied(128, 256, 900, 1, 2)));
    CHECK(InFlightAfter(other, Tied(128, 256, 900, 2, 2)));  // that one got an ACK of its own
    TrafficConnection fast_open = Tied(128, 256, 900, 1, 2);
    fast_open.syn_data = true;  // the SYN-ACK acknowledged the first data: no lower bound
    InFlightHistory third;
    CHECK(InFlightAfter(third, fast_open));
  }
  SUBCASE("without the count (kernel < 4.6): in flight") {
    InFlightHistory history;
    TrafficConnection old_kernel = Tied(100, 200, 50, 0, 2);
    old_kernel.has_pure_acks = false;
    CHECK(InFlightAfter(history, old_kernel));
    old_kernel.bytes_received = 164;
    old_kernel.bytes_answered = 328;
    old_kernel.last_data_recv_ms = old_kernel.last_data_sent_ms = 5000;
    CHECK(InFlightAfter(history, old_kernel));
  }
}

TEST_CASE("traffic: a multiplexed port counts every open connection") {
  InFlightHistory history({8443});
  TrafficSnapshot now;
  TrafficConnection idle_h2 = Conn(1, 300, 900, 5000, 10);  // answered long after: looks idle
  idle_h2.local_port = 8443;
  TrafficConnection closed_h2 = idle_h2;
  closed_h2.id = 2;
  closed_h2.state = TcpState::kTimeWait;
  TrafficConnection idle_h1 = Conn(3, 300, 900, 5000, 10);
  now.connections = {idle_h2, closed_h2, idle_h1};
  history.Classify(now);
  CHECK(now.connections[0].in_flight);
  CHECK_FALSE(now.connections[1].in_flight);
  CHECK_FALSE(now.connections[2].in_flight);
}

TEST_CASE("traffic: the history forgets closed connections") {
  InFlightHistory history;
  TrafficSnapshot now;
  now.connections = {Conn(1, 10, 20, 5, 5), Conn(2, 10, 20, 5, 5)};
  history.Classify(now);
  CHECK(history.remembered() == 2);
  now.connections = {Conn(2, 10, 20, 5, 5)};
  history.Classify(now);
  CHECK(history.remembered() == 1);
}

TEST_CASE("traffic: an answer delivered does not stay in flight") {
  TrafficSnapshot before;
  before.connections = {Conn(1, 100, 500, 900, 10)};
  before.connections[0].send_queue = 300;
  InFlightHistory history;
  history.Classify(before);
  CHECK(before.connections[0].in_flight);
  TrafficSnapshot now;
  now.connections = {Conn(1, 100, 500, 1000, 110)};
  history.Classify(now);
  CHECK_FALSE(now.connections[0].in_flight);
}

TEST_CASE("traffic: what changed between two snapshots") {
  const TrafficTime t0{std::chrono::seconds(100)};
  TrafficSnapshot since;
  since.taken = t0;
  since.connections = {Conn(1, 100, 0, 50, 50), Conn(2, 300, 0, 50, 50)};
  TrafficSnapshot now;
  now.taken = t0 + milliseconds(500);
  TrafficConnection closed_between = Conn(9, 0, 0, 0, 0);
  closed_between.has_info = false;
  closed_between.state = TcpState::kTimeWait;
  now.connections = {Conn(1, 100, 0, 550, 550), Conn(2, 340, 0, 120, 550),
                     Conn(3, 25, 0, 200, 200)};

  TrafficSince got = CompareTraffic(since, now);
  CHECK(got.new_connections == 1);
  CHECK(got.request_bytes == 40 + 25);
  REQUIRE(got.last_activity.has_value());
  CHECK(*got.last_activity == now.taken - milliseconds(120));

  // A connection that came and went between the snapshots is seen only in TIME_WAIT, without
  // times: it dates the activity at the snapshot (the safe side).
  now.connections.push_back(closed_between);
  got = CompareTraffic(since, now);
  CHECK(got.new_connections == 2);
  CHECK(*got.last_activity == now.taken);

  // Nothing at all: no activity to date.
  TrafficSnapshot empty;
  empty.taken = now.taken;
  got = CompareTraffic(since, empty);
  CHECK(got.new_connections == 0);
  CHECK(got.request_bytes == 0);
  CHECK_FALSE(got.last_activity.has_value());
}

TEST_CASE("traffic: a snapshot from the /proc tables") {
  const TrafficTime t0{std::chrono::seconds(7)};
  std::string error;
  const auto snapshot =
      SnapshotFromProcNetTcp(testing::ReadFixture("proc_net_tcp.txt"),
                             testing::ReadFixture("proc_net_tcp6.txt"), {8080}, t0, &error);
  REQUIRE_MESSAGE(snapshot, error);
  CHECK(snapshot->source == TrafficSource::kProcNetTcp);
  CHECK(snapshot->taken == t0);
  CHECK(snapshot->listeners == 2);
  // Port 8080: tcp has 2 ESTABLISHED, 1 SYN_RECV, 1 CLOSE_WAIT, 1 TIME_WAIT; tcp6 has 2
  // ESTABLISHED, 1 CLOSE_WAIT, 1 TIME_WAIT (see the connections monitor's test).
  CHECK(snapshot->connections.size() == 9);
  for (const TrafficConnection& c : snapshot->connections) CHECK_FALSE(c.has_info);

  CHECK_FALSE(SnapshotFromProcNetTcp(std::nullopt, std::nullopt, {8080}, t0, &error));
  CHECK(error == "cannot read /proc/net/tcp or /proc/net/tcp6");
  CHECK_FALSE(SnapshotFromProcNetTcp(std::string("garbage\n"), std::nullopt, {8080}, t0, &error));
  CHECK(error.rfind("/proc/net/tcp: line 1: expected the header line", 0) == 0);
}

// --- against real sockets -------------------------------------------------------------------

// A deadline no healthy loopback dump comes near.
TrafficTime Soon() { return std::chrono::steady_clock::now() + std::chrono::seconds(5); }

// A listener, one client connected to it, and the accepted server side.
struct Pair {
  int listener = -1;
  int client = -1;
  int server = -1;
  int port = 0;
  ~Pair() {
    for (int fd : {listener, client, server}) {
      if (fd >= 0) ::close(fd);
    }
  }
};

bool Connect(Pair& pair, bool ipv6) {
  const int family = ipv6 ? AF_INET6 : AF_INET;
  pair.listener = ::socket(family, SOCK_STREAM, 0);
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    length = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof(sockaddr_in);
  }
  auto* address = reinterpret_cast<sockaddr*>(&storage);
  if (::bind(pair.listener, address, length) != 0 || ::listen(pair.listener, 8) != 0) return false;
  if (::getsockname(pair.listener, address, &length) != 0) return false;
  pair.port = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  pair.client = ::socket(family, SOCK_STREAM, 0);
  if (::connect(pair.client, address, length) != 0) return false;
  pair.server = ::accept(pair.listener, nullptr, nullptr);
  return pair.server >= 0;
}

void Send(int fd, const std::string& text) {
  REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
}
std::string Receive(int fd, size_t n) {
  std::string text(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd, text.data() + got, n - got, 0);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  text.resize(got);
  return text;
}

// Observes through `observe` until `until` holds of the connection (the ACK of an answer may
// trail it by a moment), at most 2 s. Returns the last snapshot.
TrafficSnapshot ObserveUntil(const std::function<std::optional<TrafficSnapshot>()>& observe,
                             InFlightHistory& history,
                             const std::function<bool(const TrafficSnapshot&)>& until) {
  TrafficSnapshot last;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  do {
    std::optional<TrafficSnapshot> got = observe();
    REQUIRE(got.has_value());
    last = std::move(*got);
    history.Classify(last);
    if (until(last)) break;
    std::this_thread::sleep_for(milliseconds(5));
  } while (std::chrono::steady_clock::now() < give_up);
  return last;
}

// Only this case's sockets: tests running beside it (ctest runs several at once) hold sockets of
// the other address family, and TIME_WAIT ones, whose local ports can carry the same numbers.
std::optional<TrafficSnapshot> OnlyMine(std::optional<TrafficSnapshot> snapshot, bool ipv6) {
  if (snapshot) {
    std::erase_if(snapshot->connections, [ipv6](const TrafficConnection& c) {
      return c.ipv6 != ipv6 || c.state == TcpState::kTimeWait;
    });
  }
  return snapshot;
}

TEST_CASE("traffic: real sockets through sock_diag, IPv4 and IPv6") {
  for (bool ipv6 : {false, true}) {
    CAPTURE(ipv6);
    Pair pair;
    if (!Connect(pair, ipv6)) {
      REQUIRE_MESSAGE(ipv6, "cannot connect on 127.0.0.1");
      MESSAGE("no ::1 here; IPv6 skipped");
      continue;
    }
    const std::vector<int> ports{pair.port};
    std::string error;
    auto observe = [&]() { return OnlyMine(ObserveWithNetlink(ports, Soon(), &error), ipv6); };
    auto one = [](const TrafficSnapshot& s) { return s.connections.size() == 1; };
    InFlightHistory history;

    // Connected, nothing sent: a request is on the way.
    TrafficSnapshot fresh = ObserveUntil(observe, history, one);
    INFO(error);
    REQUIRE(fresh.connections.size() == 1);
    CHECK(fresh.source == TrafficSource::kNetlink);
    CHECK(fresh.listeners == 1);
    CHECK(fresh.connections[0].ipv6 == ipv6);
    CHECK(fresh.connections[0].has_info);
    CHECK(fresh.connections[0].in_flight);

    // A request read by the app and not answered: in flight.
    Send(pair.client, "GET / HTTP/1.1\r\n\r\n");
    CHECK(Receive(pair.server, 18).size() == 18);
    TrafficSnapshot asked = ObserveUntil(observe, history, [](const TrafficSnapshot& s) {
      return s.connections.size() == 1 && s.connections[0].bytes_received == 18;
    });
    REQUIRE(asked.connections.size() == 1);
    CHECK(asked.connections[0].bytes_received == 18);
    CHECK(asked.connections[0].in_flight);
    TrafficSince since = CompareTraffic(fresh, asked);
    CHECK(since.new_connections == 0);
    CHECK(since.request_bytes == 18);

    // Answered and read by the client: the keep-alive connection is idle.
    Send(pair.server, "HTTP/1.1 200 OK\r\n\r\n");
    CHECK(Receive(pair.client, 19).size() == 19);
    TrafficSnapshot answered = ObserveUntil(observe, history, [](const TrafficSnapshot& s) {
      return s.connections.size() == 1 && !s.connections[0].in_flight;
    });
    REQUIRE(answered.connections.size() == 1);
    CHECK(answered.connections[0].bytes_answered == 19);
    CHECK_FALSE(answered.connections[0].in_flight);

    // Idle for a while: still not in flight, and the kernel dates the last request.
    std::this_thread::sleep_for(milliseconds(30));
    TrafficSnapshot idle =
        ObserveUntil(observe, history, [](const TrafficSnapshot&) { return true; });
    REQUIRE(idle.connections.size() == 1);
    CHECK_FALSE(idle.connections[0].in_flight);
    since = CompareTraffic(answered, idle);
    CHECK(since.request_bytes == 0);
    REQUIRE(since.last_activity.has_value());
    CHECK(*since.last_activity <= idle.taken - milliseconds(20));

    // The next request on the same connection, right away: in flight again.
    Send(pair.client, "GET /2 HTTP/1.1\r\n\r\n");
    CHECK(Receive(pair.server, 19).size() == 19);
    TrafficSnapshot again = ObserveUntil(observe, history, [](const TrafficSnapshot& s) {
      return s.connections.size() == 1 && s.connections[0].bytes_received == 37;
    });
    REQUIRE(again.connections.size() == 1);
    CHECK(again.connections[0].in_flight);
    since = CompareTraffic(idle, again);
    CHECK(since.request_bytes == 19);
    REQUIRE(since.last_activity.has_value());
    // The kernel counts in ticks (1 to 4 ms): the request is dated no earlier than a tick
    // before the look that preceded it.
    CHECK(*since.last_activity >= idle.taken - milliseconds(5));

    // A second client: a new connection.
    Pair other;
    REQUIRE(Connect(other, ipv6));
    const std::vector<int> both{pair.port, other.port};
    const auto two = OnlyMine(ObserveWithNetlink(both, Soon(), &error), ipv6);
    REQUIRE(two.has_value());
    CHECK(two->connections.size() == 2);
    CHECK(CompareTraffic(again, *two).new_connections == 1);
  }
}

TEST_CASE("traffic: the kernel observer falls back to /proc when netlink is refused") {
  // Netlink works here; the fallback is driven through SnapshotFromProcNetTcp with the real
  // tables, which must see the same connection.
  Pair pair;
  REQUIRE(Connect(pair, false));
  PosixFileReader files;
  std::string error;
  const auto snapshot =
      SnapshotFromProcNetTcp(files.Read("/proc/net/tcp"), files.Read("/proc/net/tcp6"), {pair.port},
                             std::chrono::steady_clock::now(), &error);
  REQUIRE_MESSAGE(snapshot, error);
  CHECK(snapshot->listeners == 1);
  REQUIRE(snapshot->connections.size() == 1);
  CHECK(snapshot->connections[0].state == TcpState::kEstablished);

  std::vector<std::string> fallbacks;
  auto observer = MakeKernelTrafficObserver(
      {pair.port}, files, [&](const std::string& why) { fallbacks.push_back(why); });
  const Observation seen = observer->Observe(Soon());
  REQUIRE(seen.snapshot.has_value());
  CHECK(seen.snapshot->source == TrafficSource::kNetlink);
  CHECK(fallbacks.empty());
}

}  // namespace
}  // namespace lastcall

#include "monitors/port_listeners.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "monitor_test_fakes.h"
#include "sidecar/url_check.h"

namespace lastcall {
namespace {

Url UrlOf(const std::string& text) {
  std::string error;
  std::optional<Url> url = ParseUrl(text, &error);
  REQUIRE_MESSAGE(url, error);
  return *url;
}

PortListeners Seen(size_t ipv4, size_t ipv6, size_t connections = 0) {
  return PortListeners{8080, ipv4, ipv6, connections};
}

PollResult Refused() {
  return PollResult{PollOutcome::kRefused, std::nullopt,
                    "GET http://127.0.0.1:8080/drain: connection refused"};
}

TEST_CASE("ListenersOnPort: listeners by family, and open connections to the port") {
  TrafficSnapshot snapshot;
  snapshot.listeners = 3;
  snapshot.ipv6_listeners = 1;
  auto connection = [](TcpState state, uint16_t port) {
    TrafficConnection c;
    c.state = state;
    c.local_port = port;
    return c;
  };
  snapshot.connections = {connection(TcpState::kEstablished, 8080),
                          connection(TcpState::kSynRecv, 8080),
                          connection(TcpState::kCloseWait, 8080),
                          connection(TcpState::kTimeWait, 8080),  // closed: not counted
                          connection(TcpState::kEstablished, 9090)};
  const PortListeners seen = ListenersOnPort(snapshot, 8080);
  CHECK(seen.port == 8080);
  CHECK(seen.ipv4 == 2);
  CHECK(seen.ipv6 == 1);
  CHECK(seen.connections == 3);
  CHECK(!seen.Nobody());
  TrafficSnapshot empty;
  empty.connections = {connection(TcpState::kTimeWait, 8080)};
  CHECK(ListenersOnPort(empty, 8080).Nobody());
}

TEST_CASE("DescribeListeners says what listens where") {
  CHECK(DescribeListeners(Seen(0, 1)) == "an IPv6 socket listens on port 8080");
  CHECK(DescribeListeners(Seen(2, 0)) == "2 IPv4 sockets listen on port 8080");
  CHECK(DescribeListeners(Seen(2, 1)) == "2 IPv4 sockets and an IPv6 socket listen on port 8080");
  CHECK(DescribeListeners(Seen(0, 1, 3)) ==
        "an IPv6 socket listens on port 8080, and 3 connections to it are open");
  CHECK(DescribeListeners(Seen(0, 0, 1)) ==
        "nothing listens on port 8080, but a connection to it is open");
  CHECK(DescribeListeners(Seen(0, 0)) == "nothing listens on port 8080");
}

TEST_CASE("OtherLoopback and FormatUrl") {
  CHECK(FormatUrl(*OtherLoopback(UrlOf("http://127.0.0.1:8080/drain?x=1"))) ==
        "http://[::1]:8080/drain?x=1");
  CHECK(FormatUrl(*OtherLoopback(UrlOf("http://[::1]:8080/drain"))) ==
        "http://127.0.0.1:8080/drain");
  CHECK(FormatUrl(*OtherLoopback(UrlOf("http://127.1.2.3:80/"))) == "http://[::1]:80/");
  CHECK(!OtherLoopback(UrlOf("http://10.0.0.5:8080/drain")));
  CHECK(!OtherLoopback(UrlOf("http://localhost:8080/drain")));  // the client tries both
  CHECK(!OtherLoopback(UrlOf("unix:///run/app.sock")));
}

TEST_CASE("JudgeRefused: gone only when nothing is on the port in any family") {
  const Url v4 = UrlOf("http://127.0.0.1:8080/drain");
  SUBCASE("nothing at all: the app is gone") {
    const PollResult judged = JudgeRefused(v4, Refused(), Seen(0, 0), "");
    CHECK(judged.outcome == PollOutcome::kRefused);
    CHECK(judged.detail ==
          "GET http://127.0.0.1:8080/drain: connection refused; nothing listens on port 8080 in "
          "any address family and no connection to it is open");
  }
  SUBCASE("only [::1] listens (Node >= 17): not gone, and the URL to use") {
    const PollResult judged = JudgeRefused(v4, Refused(), Seen(0, 1), "");
    CHECK(judged.outcome == PollOutcome::kError);
    CHECK(judged.detail ==
          "GET http://127.0.0.1:8080/drain: connection refused, yet the app is not gone: an IPv6 "
          "socket listens on port 8080 (is the URL's address right? try "
          "http://[::1]:8080/drain)");
  }
  SUBCASE("the reverse: an IPv4 listener, the URL on [::1]") {
    const PollResult judged =
        JudgeRefused(UrlOf("http://[::1]:8080/drain"), Refused(), Seen(1, 0), "");
    CHECK(judged.outcome == PollOutcome::kError);
    CHECK(judged.detail.find("try http://127.0.0.1:8080/drain") != std::string::npos);
  }
  SUBCASE("its own family listens (on another address): not gone, no suggestion") {
    const PollResult judged = JudgeRefused(v4, Refused(), Seen(1, 0), "");
    CHECK(judged.outcome == PollOutcome::kError);
    CHECK(judged.detail.find("an IPv4 socket listens on port 8080") != std::string::npos);
    CHECK(judged.detail.find("try") == std::string::npos);
  }
  SUBCASE("the listener closed but requests are still being answered: not gone") {
    const PollResult judged = JudgeRefused(v4, Refused(), Seen(0, 0, 2), "");
    CHECK(judged.outcome == PollOutcome::kError);
    CHECK(judged.detail.find("2 connections to it are open") != std::string::npos);
  }
  SUBCASE("the tables cannot be read: nothing proves the app gone") {
    const PollResult judged =
        JudgeRefused(v4, Refused(), std::nullopt, "cannot read /proc/net/tcp or /proc/net/tcp6");
    CHECK(judged.outcome == PollOutcome::kError);
    CHECK(judged.detail.find("cannot tell whether the app is gone") != std::string::npos);
    CHECK(judged.detail.find("cannot read /proc/net/tcp") != std::string::npos);
  }
}

TEST_CASE("RefusedUrlWarning names the address that does listen") {
  const Url v4 = UrlOf("http://127.0.0.1:8080/drain");
  const std::string keys = "shutdown.drain.trigger.url";
  CHECK(*RefusedUrlWarning(keys, v4, Seen(0, 1), true) ==
        "shutdown.drain.trigger.url: nothing listens on 127.0.0.1:8080, but [::1]:8080 does "
        "(IPv6): use http://[::1]:8080/drain");
  CHECK(*RefusedUrlWarning(keys, v4, Seen(1, 0), false) ==
        "shutdown.drain.trigger.url: nothing listens on 127.0.0.1:8080, though an IPv4 socket "
        "listens on port 8080 (on another address): lastcall cannot reach the app at "
        "http://127.0.0.1:8080/drain");
  CHECK(!RefusedUrlWarning(keys, v4, Seen(0, 0), false));  // not started yet: nothing to say
}

// Answers every Read with `seen` (or fails), and counts the reads.
class FakeTable final : public ListeningTable {
 public:
  std::optional<PortListeners> seen;
  int reads = 0;
  std::optional<PortListeners> Read(uint16_t port, TrafficTime /*deadline*/,
                                    std::string* error) override {
    ++reads;
    if (!seen) *error = "sock_diag socket: Operation not permitted";
    if (seen) seen->port = port;
    return seen;
  }
};

class ScriptedMonitor final : public DrainMonitor {
 public:
  PollResult answer;
  PollResult Poll(Deadline) override { return answer; }
  std::string_view kind() const override { return "status"; }
};

TEST_CASE("WithGoneCheck: only a refused poll is judged, and only for a TCP URL") {
  auto table = std::make_unique<FakeTable>();
  FakeTable* seen = table.get();
  auto inner = std::make_unique<ScriptedMonitor>();
  ScriptedMonitor* script = inner.get();
  const std::optional<Parsed<Url>> url =
      Parsed<Url>{UrlOf("http://127.0.0.1:8080/drain"), "http://127.0.0.1:8080/drain"};
  const std::unique_ptr<DrainMonitor> monitor =
      WithGoneCheck(std::move(inner), url, std::move(table));
  CHECK(monitor->kind() == "status");
  script->answer = PollResult{PollOutcome::kBusy, 1.0, "HTTP 202"};
  CHECK(monitor->Poll(Deadline{}).outcome == PollOutcome::kBusy);
  CHECK(seen->reads == 0);
  script->answer = Refused();
  seen->seen = Seen(0, 1);
  CHECK(monitor->Poll(Deadline{}).outcome == PollOutcome::kError);
  seen->seen = Seen(0, 0);
  CHECK(monitor->Poll(Deadline{}).outcome == PollOutcome::kRefused);
  seen->seen.reset();
  CHECK(monitor->Poll(Deadline{}).outcome == PollOutcome::kError);
  CHECK(seen->reads == 3);

  // A unix socket's path is its only address: a refusal there is taken as it is.
  auto unix_inner = std::make_unique<ScriptedMonitor>();
  unix_inner->answer = Refused();
  const std::optional<Parsed<Url>> unix_url =
      Parsed<Url>{UrlOf("unix:///run/app.sock"), "unix:///run/app.sock"};
  const std::unique_ptr<DrainMonitor> unix_monitor =
      WithGoneCheck(std::move(unix_inner), unix_url, std::make_unique<FakeTable>());
  CHECK(unix_monitor->Poll(Deadline{}).outcome == PollOutcome::kRefused);
}

TEST_CASE("LoopbackUrlsToCheck: loopback literals the sidecar uses, once per host and port") {
  Config config;
  std::vector<UrlToCheck> checks = LoopbackUrlsToCheck(config);
  REQUIRE(checks.size() == 1);  // the default trigger URL, also the monitor's
  CHECK(checks[0].keys ==
        "shutdown.drain.trigger.url and shutdown.drain.monitor.url (the trigger URL)");
  CHECK(HostPort(checks[0].url) == "127.0.0.1:8080");

  config.shutdown.drain.monitor.url =
      Parsed<Url>{UrlOf("http://[::1]:9090/metrics"), "http://[::1]:9090/metrics"};
  config.shutdown.drain.monitor.kind = MonitorKind::kPrometheus;
  checks = LoopbackUrlsToCheck(config);
  REQUIRE(checks.size() == 2);
  CHECK(checks[1].keys == "shutdown.drain.monitor.url");

  config.shutdown.drain.monitor.kind = MonitorKind::kConnections;  // polls no URL
  CHECK(LoopbackUrlsToCheck(config).size() == 1);

  config.shutdown.drain.trigger.url =
      Parsed<Url>{UrlOf("http://localhost:8080/drain"), "http://localhost:8080/drain"};
  CHECK(LoopbackUrlsToCheck(config).empty());
  config.shutdown.drain.trigger.url.reset();
  CHECK(LoopbackUrlsToCheck(config).empty());
}

TEST_CASE("ProbeConnect: accepted where a socket listens, refused where none does") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const uint16_t port = ntohs(address.sin_port);
  const auto soon = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(2); };
  CHECK(ProbeConnect("127.0.0.1", port, soon()) ==
        ConnectResult::kRefused);  // bound, not listening
  REQUIRE(::listen(fd, 4) == 0);
  CHECK(ProbeConnect("127.0.0.1", port, soon()) == ConnectResult::kAccepted);
  ::close(fd);
  CHECK(ProbeConnect("not an address", port, soon()) == ConnectResult::kOther);
}

}  // namespace
}  // namespace lastcall

#include "monitors/port_listeners.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace lastcall {
namespace {

enum class Loopback { kNone, kIpv4, kIpv6 };

Loopback LoopbackFamily(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127 ? Loopback::kIpv4 : Loopback::kNone;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6)) {
    return Loopback::kIpv6;
  }
  return Loopback::kNone;
}

// "an IPv4 socket", "2 IPv6 sockets".
std::string Sockets(size_t count, std::string_view family) {
  if (count == 1) return "an " + std::string(family) + " socket";
  return std::to_string(count) + " " + std::string(family) + " sockets";
}

bool IsOpen(TcpState state) {
  return state == TcpState::kEstablished || state == TcpState::kSynRecv ||
         state == TcpState::kCloseWait;
}

class KernelListeningTable final : public ListeningTable {
 public:
  explicit KernelListeningTable(FileReader& files) : files_(files) {}
  std::optional<PortListeners> Read(uint16_t port, TrafficTime deadline,
                                    std::string* error) override {
    // A fresh observer per read: reads are rare (start-up, a refused poll), and one for the port
    // alone keeps the listener counts the port's own.
    Observation seen = MakeKernelTrafficObserver({port}, files_)->Observe(deadline);
    if (!seen.snapshot) {
      *error = seen.error;
      return std::nullopt;
    }
    return ListenersOnPort(*seen.snapshot, port);
  }

 private:
  FileReader& files_;
};

class GoneCheckedMonitor final : public DrainMonitor {
 public:
  GoneCheckedMonitor(std::unique_ptr<DrainMonitor> monitor, Url url,
                     std::unique_ptr<ListeningTable> table)
      : monitor_(std::move(monitor)), url_(std::move(url)), table_(std::move(table)) {}

  PollResult Poll(Deadline deadline) override {
    PollResult result = monitor_->Poll(deadline);
    if (result.outcome != PollOutcome::kRefused) return result;
    std::string error;
    const std::optional<PortListeners> seen = table_->Read(url_.port, deadline, &error);
    return JudgeRefused(url_, std::move(result), seen, error);
  }
  std::string_view kind() const override { return monitor_->kind(); }

 private:
  std::unique_ptr<DrainMonitor> monitor_;
  Url url_;
  std::unique_ptr<ListeningTable> table_;
};

}  // namespace

PortListeners ListenersOnPort(const TrafficSnapshot& snapshot, uint16_t port) {
  PortListeners out;
  out.port = port;
  out.ipv6 = snapshot.ipv6_listeners;
  out.ipv4 = snapshot.listeners - std::min(snapshot.listeners, snapshot.ipv6_listeners);
  for (const TrafficConnection& c : snapshot.connections) {
    if (c.local_port == port && IsOpen(c.state)) ++out.connections;
  }
  return out;
}

std::string DescribeListeners(const PortListeners& seen) {
  const std::string port = std::to_string(seen.port);
  std::string out;
  if (seen.ipv4 > 0 && seen.ipv6 > 0) {
    out = Sockets(seen.ipv4, "IPv4") + " and " + Sockets(seen.ipv6, "IPv6") + " listen on port " +
          port;
  } else if (seen.ipv4 + seen.ipv6 > 0) {
    const size_t count = seen.ipv4 + seen.ipv6;
    out = Sockets(count, seen.ipv4 > 0 ? "IPv4" : "IPv6") + (count == 1 ? " listens" : " listen") +
          " on port " + port;
  } else {
    out = "nothing listens on port " + port;
  }
  if (seen.connections > 0) {
    out += seen.ipv4 + seen.ipv6 > 0 ? ", and " : ", but ";
    out += seen.connections == 1 ? "a connection to it is open"
                                 : std::to_string(seen.connections) + " connections to it are open";
  }
  return out;
}

std::string HostPort(const Url& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  return (v6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
}

std::optional<Url> OtherLoopback(const Url& url) {
  if (url.scheme != Url::Scheme::kHttp) return std::nullopt;
  const Loopback family = LoopbackFamily(url.host);
  if (family == Loopback::kNone) return std::nullopt;
  Url other = url;
  other.host = family == Loopback::kIpv4 ? "::1" : "127.0.0.1";
  return other;
}

std::string FormatUrl(const Url& url) {
  if (url.scheme == Url::Scheme::kUnix) return "unix://" + url.socket_path;
  return "http://" + HostPort(url) + url.target;
}

PollResult JudgeRefused(const Url& url, PollResult refused,
                        const std::optional<PortListeners>& seen, std::string_view table_error) {
  if (!seen) {
    refused.outcome = PollOutcome::kError;
    refused.detail += "; cannot tell whether the app is gone, as the kernel's listening table " +
                      std::string("cannot be read (") + std::string(table_error) + "): not drained";
    return refused;
  }
  if (seen->Nobody()) {
    refused.detail += "; nothing listens on port " + std::to_string(url.port) +
                      " in any address family and no connection to it is open";
    return refused;
  }
  refused.outcome = PollOutcome::kError;
  refused.detail += ", yet the app is not gone: " + DescribeListeners(*seen);
  const Loopback family = LoopbackFamily(url.host);
  const bool only_other = (family == Loopback::kIpv4 && seen->ipv4 == 0 && seen->ipv6 > 0) ||
                          (family == Loopback::kIpv6 && seen->ipv6 == 0 && seen->ipv4 > 0);
  if (const std::optional<Url> other = OtherLoopback(url); other && only_other) {
    refused.detail += " (is the URL's address right? try " + FormatUrl(*other) + ")";
  }
  return refused;
}

std::optional<std::string> RefusedUrlWarning(std::string_view keys, const Url& url,
                                             const PortListeners& seen,
                                             bool other_loopback_accepts) {
  if (seen.Nobody()) return std::nullopt;
  std::string out = std::string(keys) + ": nothing listens on " + HostPort(url);
  const std::optional<Url> other = OtherLoopback(url);
  if (other && other_loopback_accepts) {
    const bool v6 = LoopbackFamily(other->host) == Loopback::kIpv6;
    return out + ", but " + HostPort(*other) + " does (" + (v6 ? "IPv6" : "IPv4") + "): use " +
           FormatUrl(*other);
  }
  return out + ", though " + DescribeListeners(seen) +
         " (on another address): lastcall cannot reach the app at " + FormatUrl(url);
}

std::unique_ptr<ListeningTable> MakeKernelListeningTable(FileReader& files) {
  return std::make_unique<KernelListeningTable>(files);
}

std::unique_ptr<DrainMonitor> WithGoneCheck(std::unique_ptr<DrainMonitor> monitor,
                                            const std::optional<Parsed<Url>>& url,
                                            std::unique_ptr<ListeningTable> table) {
  if (!url || url->value.scheme != Url::Scheme::kHttp) return monitor;
  return std::make_unique<GoneCheckedMonitor>(std::move(monitor), url->value, std::move(table));
}

}  // namespace lastcall

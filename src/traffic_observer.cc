#include "traffic_observer.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "inet_diag.h"

namespace lastcall {
namespace {

bool OnPorts(const std::vector<int>& ports, uint16_t port) {
  return std::find(ports.begin(), ports.end(), static_cast<int>(port)) != ports.end();
}

// The states a snapshot keeps (see TrafficSnapshot::connections), plus listeners.
bool Kept(TcpState state) {
  switch (state) {
    case TcpState::kEstablished:
    case TcpState::kSynRecv:
    case TcpState::kNewSynRecv:
    case TcpState::kCloseWait:
    case TcpState::kTimeWait:
      return true;
    default:
      return false;
  }
}

constexpr uint32_t kDumpStates = StateBit(TcpState::kEstablished) | StateBit(TcpState::kSynRecv) |
                                 StateBit(TcpState::kNewSynRecv) | StateBit(TcpState::kCloseWait) |
                                 StateBit(TcpState::kTimeWait) | StateBit(TcpState::kListen);

void Add(TrafficSnapshot& snapshot, const std::vector<int>& ports, const DiagSocket& socket) {
  if (!OnPorts(ports, socket.local_port)) return;
  if (socket.state == TcpState::kListen) {
    ++snapshot.listeners;
    return;
  }
  if (!Kept(socket.state)) return;
  TrafficConnection c;
  c.id = socket.cookie;
  // The kernel reports request sockets (half-open connections) as NEW_SYN_RECV; /proc prints
  // them as SYN_RECV. One name for both.
  c.state = socket.state == TcpState::kNewSynRecv ? TcpState::kSynRecv : socket.state;
  c.ipv6 = socket.ipv6;
  c.local_port = socket.local_port;
  c.recv_queue = socket.recv_queue;
  c.send_queue = socket.send_queue;
  c.has_info = socket.has_info;
  c.bytes_received = socket.bytes_received;
  c.bytes_answered = socket.bytes_sent.value_or(socket.bytes_acked);
  c.last_data_recv_ms = socket.last_data_recv_ms;
  c.last_data_sent_ms = socket.last_data_sent_ms;
  c.has_pure_acks = socket.pure_acks_sent.has_value();
  c.pure_acks = socket.pure_acks_sent.value_or(0);
  c.data_segs_in = socket.data_segs_in;
  c.data_segs_out = socket.data_segs_out;
  c.syn_data = socket.syn_data;
  snapshot.connections.push_back(c);
}

// A netlink socket, closed on scope exit.
class NetlinkSocket {
 public:
  NetlinkSocket() : fd_(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) {}
  ~NetlinkSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// One dump of one address family into `snapshot`.
bool Dump(int fd, bool ipv6, uint32_t sequence, const std::vector<int>& ports,
          TrafficSnapshot& snapshot, std::string* error) {
  const std::vector<uint8_t> request = BuildInetDiagRequest(ipv6, kDumpStates, sequence);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
    *error = std::string("sock_diag request: ") + std::strerror(errno);
    return false;
  }
  // 32 KiB holds a few hundred sockets per datagram; the kernel splits larger dumps.
  std::vector<uint8_t> buffer(32 * 1024);
  // Bounded: a namespace with a million sockets would still end, and a kernel that never sends
  // NLMSG_DONE cannot hang the caller for ever (each recv blocks at most for SO_RCVTIMEO).
  for (int datagrams = 0; datagrams < 100000; ++datagrams) {
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      *error = std::string("sock_diag answer: ") + std::strerror(errno);
      return false;
    }
    std::optional<InetDiagChunk> chunk = ParseInetDiagChunk(
        std::span<const uint8_t>(buffer.data(), static_cast<size_t>(got)), error);
    if (!chunk) return false;
    for (const DiagSocket& socket : chunk->sockets) Add(snapshot, ports, socket);
    if (chunk->kernel_error != 0) {
      *error = std::string("sock_diag refused: ") + std::strerror(chunk->kernel_error);
      return false;
    }
    if (chunk->done) return true;
  }
  *error = "sock_diag dump did not end";
  return false;
}

class KernelTrafficObserver final : public TrafficObserver {
 public:
  KernelTrafficObserver(std::vector<int> ports, FileReader& files,
                        std::function<void(const std::string&)> on_fallback)
      : ports_(std::move(ports)), files_(files), on_fallback_(std::move(on_fallback)) {}

  Observation Observe() override {
    Observation result;
    if (!use_proc_) {
      std::string error;
      result.snapshot = ObserveWithNetlink(ports_, &error);
      if (result.snapshot) return result;
      use_proc_ = true;
      if (on_fallback_) on_fallback_(error + "; reading /proc/net/tcp and /proc/net/tcp6 instead");
    }
    const std::optional<std::string> tcp = files_.Read("/proc/net/tcp");
    const std::optional<std::string> tcp6 = files_.Read("/proc/net/tcp6");
    result.snapshot =
        SnapshotFromProcNetTcp(tcp, tcp6, ports_, std::chrono::steady_clock::now(), &result.error);
    return result;
  }

 private:
  std::vector<int> ports_;
  FileReader& files_;
  std::function<void(const std::string&)> on_fallback_;
  bool use_proc_ = false;
};

}  // namespace

std::string_view ToString(TrafficSource source) {
  return source == TrafficSource::kNetlink ? "sock_diag" : "/proc/net/tcp";
}

InFlightHistory::InFlightHistory(std::vector<int> multiplexed_ports)
    : multiplexed_ports_(std::move(multiplexed_ports)) {}

void InFlightHistory::Classify(TrafficSnapshot& now) {
  std::unordered_map<uint64_t, Seen> next;
  next.reserve(now.connections.size());
  for (TrafficConnection& c : now.connections) {
    if (c.state == TcpState::kTimeWait) {
      c.in_flight = false;
      continue;
    }
    const auto it = seen_.find(c.id);
    const Seen* then = it == seen_.end() ? nullptr : &it->second;
    Seen& seen = next[c.id];
    seen.has_info = c.has_info;
    if (!c.has_info || OnPorts(multiplexed_ports_, c.local_port)) {
      c.in_flight = true;
      continue;
    }
    seen.bytes_received = c.bytes_received;
    seen.bytes_answered = c.bytes_answered;
    seen.has_pure_acks = c.has_pure_acks;
    seen.pure_acks = c.pure_acks;
    const bool known_before = then != nullptr && then->has_info;
    bool owed =
        c.recv_queue > 0 || c.last_data_recv_ms < c.last_data_sent_ms || c.bytes_answered == 0;
    // Once owed, a connection stays so until the app sends.
    if (known_before && c.bytes_answered == then->bytes_answered) {
      owed =
          owed || c.bytes_received > then->bytes_received || (then->owed && c.bytes_received > 0);
    }
    seen.owed = owed;
    // The reference: a count of segments without data that the count just before the last
    // request cannot be below. Now equal to it, no ACK went out since that request: the answer
    // acknowledged it, so the answer came after it. Two lower bounds:
    // - the count at a look before the byte counters last changed (counts only grow);
    // - 1, once the connection received data before its last request: an accepted socket
    //   starts with 0 segments sent (the SYN-ACK is the request socket's; measured, syncookies
    //   too), and the first data it receives is acknowledged at once (quick-ack mode starts
    //   every connection), before the app can answer. Two data segments or more each way stand
    //   for "data before the last request"; Fast Open acknowledges the first data with the
    //   SYN-ACK instead, so it is excluded.
    if (c.has_pure_acks) {
      if (known_before && then->has_pure_acks) {
        const bool changed =
            c.bytes_received != then->bytes_received || c.bytes_answered != then->bytes_answered;
        seen.has_reference = changed || then->has_reference;
        seen.reference = changed ? then->pure_acks : then->reference;
      }
      if (c.data_segs_in >= 2 && c.data_segs_out >= 2 && !c.syn_data) {
        seen.reference = seen.has_reference ? std::max<uint32_t>(seen.reference, 1) : 1;
        seen.has_reference = true;
      }
    }
    bool in_flight = owed || c.send_queue > 0;
    if (!in_flight && c.last_data_recv_ms == c.last_data_sent_ms) {
      const bool proven_idle = seen.has_reference && c.pure_acks == seen.reference &&
                               std::chrono::milliseconds(c.last_data_recv_ms) >= kAckBound;
      in_flight = !proven_idle;
    }
    c.in_flight = in_flight;
  }
  seen_ = std::move(next);
}

TrafficSince CompareTraffic(const TrafficSnapshot& since, const TrafficSnapshot& now) {
  std::unordered_map<uint64_t, const TrafficConnection*> before;
  for (const TrafficConnection& c : since.connections) before.emplace(c.id, &c);
  TrafficSince out;
  auto note = [&out](TrafficTime when) {
    if (!out.last_activity || when > *out.last_activity) out.last_activity = when;
  };
  for (const TrafficConnection& c : now.connections) {
    const auto it = before.find(c.id);
    const bool is_new = it == before.end();
    if (is_new) ++out.new_connections;
    if (c.has_info) {
      const uint64_t earlier = is_new || !it->second->has_info
                                   ? 0
                                   : std::min(it->second->bytes_received, c.bytes_received);
      out.request_bytes += c.bytes_received - earlier;
      // TIME_WAIT sockets carry no tcp_info; every other one dates its last data received.
      note(now.taken - std::chrono::milliseconds(c.last_data_recv_ms));
    } else if (is_new || c.state != TcpState::kTimeWait) {
      // Nothing dates it: a handshake in progress, a connection that came and went, or (the
      // /proc fallback) a connection that may be carrying requests right now.
      note(now.taken);
    }
  }
  return out;
}

std::unique_ptr<TrafficObserver> MakeKernelTrafficObserver(
    std::vector<int> ports, FileReader& files,
    std::function<void(const std::string&)> on_fallback) {
  return std::make_unique<KernelTrafficObserver>(std::move(ports), files, std::move(on_fallback));
}

std::optional<TrafficSnapshot> ObserveWithNetlink(const std::vector<int>& ports,
                                                  std::string* error) {
  NetlinkSocket netlink;
  if (netlink.fd() < 0) {
    *error = std::string("sock_diag socket: ") + std::strerror(errno);
    return std::nullopt;
  }
  // The kernel answers a dump at once; the timeout only bounds a kernel that never does.
  timeval timeout{1, 0};
  ::setsockopt(netlink.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  TrafficSnapshot snapshot;
  snapshot.source = TrafficSource::kNetlink;
  if (!Dump(netlink.fd(), false, 1, ports, snapshot, error)) return std::nullopt;
  if (!Dump(netlink.fd(), true, 2, ports, snapshot, error)) return std::nullopt;
  // Stamped after the dumps: the kernel's "ms since" figures then date traffic no earlier than
  // it happened (a late stamp only makes quiet look shorter, the safe side).
  snapshot.taken = std::chrono::steady_clock::now();
  return snapshot;
}

std::optional<TrafficSnapshot> SnapshotFromProcNetTcp(const std::optional<std::string>& tcp,
                                                      const std::optional<std::string>& tcp6,
                                                      const std::vector<int>& ports,
                                                      TrafficTime taken, std::string* error) {
  if (!tcp && !tcp6) {
    *error = "cannot read /proc/net/tcp or /proc/net/tcp6";
    return std::nullopt;
  }
  TrafficSnapshot snapshot;
  snapshot.source = TrafficSource::kProcNetTcp;
  snapshot.taken = taken;
  const std::array<std::pair<const char*, const std::optional<std::string>*>, 2> tables{
      {{"/proc/net/tcp", &tcp}, {"/proc/net/tcp6", &tcp6}}};
  for (const auto& [path, text] : tables) {
    if (!*text) continue;
    std::string what;
    const std::optional<std::vector<TcpSocketRow>> rows = ParseProcNetTcp(**text, &what);
    if (!rows) {
      *error = std::string(path) + ": " + what;
      return std::nullopt;
    }
    for (const TcpSocketRow& row : *rows) {
      DiagSocket socket;
      socket.ipv6 = row.ipv6;
      socket.state = row.state;
      socket.local_port = row.local_port;
      socket.remote_port = row.remote_port;
      socket.cookie = row.pair_hash;
      Add(snapshot, ports, socket);
    }
  }
  return snapshot;
}

}  // namespace lastcall

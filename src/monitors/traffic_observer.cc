#include "monitors/traffic_observer.h"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "base/inet_diag.h"

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
                                 StateBit(TcpState::kListen);

// Adds `socket` when it is on the ports and in a kept state. False once the snapshot holds
// kMaxObservedConnections: the caller stops there rather than grow without bound.
bool Add(TrafficSnapshot& snapshot, const std::vector<int>& ports, const DiagSocket& socket) {
  if (!OnPorts(ports, socket.local_port)) return true;
  if (socket.state == TcpState::kListen) {
    ++snapshot.listeners;
    if (socket.ipv6) ++snapshot.ipv6_listeners;
    return true;
  }
  if (!Kept(socket.state)) return true;
  if (snapshot.connections.size() >= kMaxObservedConnections) return false;
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
  return true;
}

std::string TooMany() {
  return "more than " + std::to_string(kMaxObservedConnections) +
         " connections on the ports: too many to observe";
}

// A netlink socket, closed on scope exit.
class NetlinkSocket {
 public:
  NetlinkSocket()
      : fd_(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG)) {}
  ~NetlinkSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// The port filter that worked last (a kernel property: the same for the whole process). A kernel
// older than 4.16 refuses S_EQ with EINVAL; one that refuses the range too is asked without a
// filter, and the ports are then filtered here.
enum class FilterLevel : int { kEqual, kRange, kNone };
std::atomic<int> g_filter_level{static_cast<int>(FilterLevel::kEqual)};

std::vector<uint8_t> PortFilter(const std::vector<int>& ports, FilterLevel level) {
  if (level == FilterLevel::kNone) return {};
  std::vector<uint16_t> narrow;
  for (int port : ports) {
    if (port > 0 && port <= 0xFFFF) narrow.push_back(static_cast<uint16_t>(port));
  }
  return BuildPortFilter(narrow,
                         level == FilterLevel::kEqual ? PortMatch::kEqual : PortMatch::kRange);
}

// Milliseconds left until `deadline` for poll(2), rounded up: 0 once it has passed.
int MillisLeft(TrafficTime deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > 60'000 ? 60'000 : static_cast<int>(ms);
}

// One dump of one address family into `snapshot`. Each datagram waits in poll(2) for what is
// left until `deadline`, so a dump the kernel is slow to produce is abandoned at the deadline
// rather than awaited (kDeadline).
NetlinkFailure Dump(int fd, bool ipv6, uint32_t sequence, const std::vector<int>& ports,
                    uint32_t states, FilterLevel level, TrafficTime deadline,
                    TrafficSnapshot& snapshot, std::string* error) {
  const std::vector<uint8_t> filter = PortFilter(ports, level);
  const std::vector<uint8_t> request = BuildInetDiagRequest(ipv6, states, sequence, filter);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
    *error = std::string("sock_diag request: ") + std::strerror(errno);
    return NetlinkFailure::kRefused;
  }
  // 32 KiB holds a few hundred sockets per datagram; the kernel splits larger dumps.
  std::vector<uint8_t> buffer(32 * 1024);
  size_t sockets = 0;
  // Bounded: a namespace with a million sockets would still end, and a kernel that never sends
  // NLMSG_DONE cannot hang the caller past the deadline.
  for (int datagrams = 0; datagrams < 100000; ++datagrams) {
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd wait{fd, POLLIN, 0};
        const int left = MillisLeft(deadline);
        if (left == 0 || ::poll(&wait, 1, left) == 0) {
          *error = "sock_diag dump abandoned at the deadline after " + std::to_string(sockets) +
                   " sockets";
          return NetlinkFailure::kDeadline;
        }
        continue;
      }
      *error = std::string("sock_diag answer: ") + std::strerror(errno);
      return NetlinkFailure::kRefused;
    }
    std::optional<InetDiagChunk> chunk = ParseInetDiagChunk(
        std::span<const uint8_t>(buffer.data(), static_cast<size_t>(got)), error);
    if (!chunk) return NetlinkFailure::kRefused;
    sockets += chunk->sockets.size();
    for (const DiagSocket& socket : chunk->sockets) {
      if (!Add(snapshot, ports, socket)) {
        *error = TooMany();
        return NetlinkFailure::kTooMany;
      }
    }
    if (chunk->kernel_error != 0) {
      *error = std::string("sock_diag refused: ") + std::strerror(chunk->kernel_error);
      return chunk->kernel_error == EINVAL && level != FilterLevel::kNone
                 ? NetlinkFailure::kFilterRefused
                 : NetlinkFailure::kRefused;
    }
    if (chunk->done) return NetlinkFailure::kNone;
    if (std::chrono::steady_clock::now() >= deadline) {
      *error =
          "sock_diag dump abandoned at the deadline after " + std::to_string(sockets) + " sockets";
      return NetlinkFailure::kDeadline;
    }
  }
  *error = "sock_diag dump did not end";
  return NetlinkFailure::kRefused;
}

class KernelTrafficObserver final : public TrafficObserver {
 public:
  KernelTrafficObserver(std::vector<int> ports, FileReader& files,
                        std::function<void(const std::string&)> on_fallback, bool time_wait)
      : ports_(std::move(ports)),
        files_(files),
        on_fallback_(std::move(on_fallback)),
        time_wait_(time_wait) {}

  Observation Observe(TrafficTime deadline) override {
    Observation result;
    if (!use_proc_) {
      NetlinkFailure failure = NetlinkFailure::kNone;
      std::string error;
      result.snapshot =
          ObserveWithNetlink(ports_, deadline, &error, &failure, time_wait_, last_count_);
      if (result.snapshot) {
        last_count_ = result.snapshot->connections.size();
        return result;
      }
      // Too many: the next look will likely fill the snapshot to its bound again; sized for
      // it at once, it never holds a half-grown copy beside a grown one.
      if (failure == NetlinkFailure::kTooMany) last_count_ = kMaxObservedConnections;
      // Only a refusal means netlink cannot serve: a dump cut by the deadline or too large
      // fails this observation alone.
      if (failure != NetlinkFailure::kRefused) {
        result.error = error;
        return result;
      }
      use_proc_ = true;
      if (on_fallback_) on_fallback_(error + "; reading /proc/net/tcp and /proc/net/tcp6 instead");
    }
    result.snapshot = SnapshotFromProcNetTcp(files_, ports_, time_wait_, deadline, &result.error);
    return result;
  }

 private:
  std::vector<int> ports_;
  FileReader& files_;
  std::function<void(const std::string&)> on_fallback_;
  bool time_wait_;
  bool use_proc_ = false;
  size_t last_count_ = 0;  // connections in the last netlink observation
};

}  // namespace

std::string_view ToString(TrafficSource source) {
  return source == TrafficSource::kNetlink ? "sock_diag" : "/proc/net/tcp";
}

InFlightHistory::InFlightHistory(std::vector<int> multiplexed_ports)
    : multiplexed_ports_(std::move(multiplexed_ports)) {}

void InFlightHistory::Classify(TrafficSnapshot& now) {
  std::vector<Seen> next;
  next.reserve(now.connections.size());
  for (TrafficConnection& c : now.connections) {
    if (c.state == TcpState::kTimeWait) {
      c.in_flight = false;
      continue;
    }
    const auto it = std::lower_bound(seen_.begin(), seen_.end(), c.id,
                                     [](const Seen& s, uint64_t id) { return s.id < id; });
    const Seen* then = it != seen_.end() && it->id == c.id ? &*it : nullptr;
    Seen& seen = next.emplace_back();
    seen.id = c.id;
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
  std::sort(next.begin(), next.end(), [](const Seen& a, const Seen& b) { return a.id < b.id; });
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
    std::vector<int> ports, FileReader& files, std::function<void(const std::string&)> on_fallback,
    bool time_wait) {
  return std::make_unique<KernelTrafficObserver>(std::move(ports), files, std::move(on_fallback),
                                                 time_wait);
}

std::optional<TrafficSnapshot> ObserveWithNetlink(const std::vector<int>& ports,
                                                  TrafficTime deadline, std::string* error,
                                                  NetlinkFailure* failure, bool time_wait,
                                                  size_t expected_count) {
  NetlinkFailure ignored = NetlinkFailure::kNone;
  if (failure == nullptr) failure = &ignored;
  NetlinkSocket netlink;
  if (netlink.fd() < 0) {
    *error = std::string("sock_diag socket: ") + std::strerror(errno);
    *failure = NetlinkFailure::kRefused;
    return std::nullopt;
  }
  const uint32_t states = kDumpStates | (time_wait ? StateBit(TcpState::kTimeWait) : 0);
  uint32_t sequence = 0;
  while (true) {
    const auto level = static_cast<FilterLevel>(g_filter_level.load());
    TrafficSnapshot snapshot;
    snapshot.source = TrafficSource::kNetlink;
    snapshot.connections.reserve(
        std::min(expected_count + expected_count / 8 + 16, kMaxObservedConnections));
    *failure =
        Dump(netlink.fd(), false, ++sequence, ports, states, level, deadline, snapshot, error);
    if (*failure == NetlinkFailure::kNone) {
      *failure =
          Dump(netlink.fd(), true, ++sequence, ports, states, level, deadline, snapshot, error);
    }
    if (*failure == NetlinkFailure::kFilterRefused) {
      // This kernel audits the program and refuses an op: try the next simpler filter. The
      // refusal is answered before any socket, so nothing was half read.
      int expected = static_cast<int>(level);
      g_filter_level.compare_exchange_strong(expected, static_cast<int>(level) + 1);
      continue;
    }
    if (*failure != NetlinkFailure::kNone) return std::nullopt;
    // Stamped after the dumps: the kernel's "ms since" figures then date traffic no earlier than
    // it happened (a late stamp only makes quiet look shorter, the safe side).
    snapshot.taken = std::chrono::steady_clock::now();
    return snapshot;
  }
}

namespace {

// Serves one text as the file at `path`, for the snapshot built from texts.
class TextFileReader final : public FileReader {
 public:
  TextFileReader(std::string path, const std::string& text) : path_(std::move(path)), text_(text) {}
  std::optional<std::string> Read(const std::string& path) override {
    if (path != path_) return std::nullopt;
    return text_;
  }

 private:
  std::string path_;
  const std::string& text_;
};

// Streams one table through `files` into `snapshot`, a row at a time, without TIME_WAIT rows
// unless `time_wait`. Sets *found to whether the table could be opened (a missing one is fine).
bool ReadTable(FileReader& files, const char* path, const std::vector<int>& ports, bool time_wait,
               TrafficTime deadline, TrafficSnapshot& snapshot, bool* found, std::string* error) {
  bool too_many = false;
  auto on_row = [&](const TcpSocketRow& row) {
    DiagSocket socket;
    socket.ipv6 = row.ipv6;
    socket.state = row.state;
    socket.local_port = row.local_port;
    socket.remote_port = row.remote_port;
    socket.cookie = row.pair_hash;
    if (row.state == TcpState::kTimeWait && !time_wait) return;
    if (!Add(snapshot, ports, socket)) too_many = true;
  };
  const TableReadResult read = StreamProcNetTcp(files, path, kProcChunkBytes, deadline, on_row,
                                                [&](size_t) { return too_many; });
  *found = read.outcome != TableRead::kMissing;
  if (read.outcome == TableRead::kFailed) {
    *error = read.error;
    return false;
  }
  if (too_many) {
    *error = TooMany();
    return false;
  }
  return true;
}

}  // namespace

std::optional<TrafficSnapshot> SnapshotFromProcNetTcp(FileReader& files,
                                                      const std::vector<int>& ports, bool time_wait,
                                                      TrafficTime deadline, std::string* error) {
  TrafficSnapshot snapshot;
  snapshot.source = TrafficSource::kProcNetTcp;
  bool any = false;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    bool found = false;
    if (!ReadTable(files, path, ports, time_wait, deadline, snapshot, &found, error)) {
      return std::nullopt;
    }
    any = any || found;
  }
  if (!any) {
    *error = "cannot read /proc/net/tcp or /proc/net/tcp6";
    return std::nullopt;
  }
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
    bool found = false;
    TextFileReader one(path, **text);
    if (!ReadTable(one, path, ports, true, TrafficTime::max(), snapshot, &found, error)) {
      return std::nullopt;
    }
  }
  return snapshot;
}

}  // namespace lastcall

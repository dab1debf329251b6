#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/file_reader.h"
#include "base/proc_net_tcp.h"

// What the kernel sees of the traffic to the app's own ports, without the app's cooperation:
// the connections, and on each whether the app owes an answer. Read from sock_diag (netlink,
// with tcp_info: bytes and the time since data last went each way), which needs no privilege;
// /proc/net/tcp and /proc/net/tcp6 where netlink is refused (seccomp, old kernels), which only
// tell which connections exist.
//
// Used by the connections monitor (`count: in_flight`) and by `lb_delay: auto` (has traffic
// stopped reaching the pod?). The analysis (InFlightHistory, CompareTraffic) is pure.
// Bounded whatever the namespace holds: the kernel filters the ports (sockets on other ports
// never reach user space), every read stops at its deadline, and a snapshot holds at most
// kMaxObservedConnections.
namespace lastcall {

using TrafficTime = std::chrono::steady_clock::time_point;

enum class TrafficSource { kNetlink, kProcNetTcp };
std::string_view ToString(TrafficSource source);

struct TrafficConnection {
  uint64_t id = 0;  // netlink: the socket cookie; /proc: a hash of the address pair
  TcpState state = TcpState::kEstablished;
  bool ipv6 = false;
  uint16_t local_port = 0;
  uint32_t recv_queue = 0;  // request bytes the app has not read yet
  uint32_t send_queue = 0;  // answer bytes not yet acknowledged by the client
  bool has_info = false;    // the next four fields are known (netlink with tcp_info)
  uint64_t bytes_received = 0;
  uint64_t bytes_answered = 0;  // bytes_sent when the kernel reports it, else bytes_acked
  uint32_t last_data_recv_ms = 0;
  uint32_t last_data_sent_ms = 0;
  // Segments sent without data since the connection opened (ACKs, window updates, probes);
  // known when has_pure_acks (tcp_info of kernel >= 4.6).
  bool has_pure_acks = false;
  uint32_t pure_acks = 0;
  uint32_t data_segs_in = 0;   // segments received with data (when has_pure_acks)
  uint32_t data_segs_out = 0;  // segments sent with data (when has_pure_acks)
  bool syn_data = false;       // TCP Fast Open: data rode on the handshake
  bool in_flight = false;      // set by InFlightHistory::Classify
};

struct TrafficSnapshot {
  TrafficTime taken{};
  TrafficSource source = TrafficSource::kNetlink;
  // Sockets whose local port is one of the ports and which carry or will carry a request:
  // ESTABLISHED, SYN_RECV (a handshake in progress), CLOSE_WAIT (the client half-closed;
  // `counted` below decides whether the monitor counts those), plus TIME_WAIT ones, which only
  // serve to notice connections that came and went between two snapshots.
  std::vector<TrafficConnection> connections;
  size_t listeners = 0;  // LISTEN sockets on the ports: 0 with no connection means the app is gone
  size_t ipv6_listeners = 0;  // of those, IPv6 sockets (port_listeners.h tells the families apart)
};

// The longest the kernel takes to acknowledge data it received and did not answer: a delayed
// ACK waits at most HZ/2 (__tcp_send_delayed_ack caps its timeout at 500 ms, 200 ms in
// ping-pong mode), the timer wheel may fire it up to 32 ms late at HZ=250 (8 jiffies of
// granularity beyond 63 ticks), and the ms figures are whole ticks (4 ms). 600 ms leaves ~60 ms
// for a busy softirq.
inline constexpr std::chrono::milliseconds kAckBound{600};

// Decides, over successive snapshots of one observer, whether each connection has a request in
// flight (the app owes an answer), keeping per live connection only what later snapshots need
// (its byte counters and ACK counts: a few dozen bytes; closed connections are forgotten).
// With tcp_info, a connection is in flight when:
// - request bytes wait unread in its receive queue, or answer bytes are still unacknowledged
//   (the answer is being delivered);
// - data arrived after data was last sent (last_data_recv < last_data_sent);
// - the app has sent nothing on it yet: a request is being served, or on its way (a fresh
//   connection; a server-speaks-first protocol's idle connection counts too, on the safe side);
// - compared with the snapshot before: it received bytes since and answered none, or it owed an
//   answer then (not merely delivering one) and has answered nothing since;
// - its last data arrived in the same kernel tick as its last data went out (equal ms figures:
//   the timestamps cannot order a request sent with zero think time after the previous answer),
//   unless the ACKs prove the order. Data the app received and has not answered must be
//   acknowledged by a segment without data within kAckBound; data that arrived before the answer
//   was acknowledged by the answer itself. So such a connection is idle only when, kAckBound
//   after its last data, its count of segments sent without data equals a lower bound of that
//   count just before its last request: the count at a snapshot taken before its byte counters
//   last changed, or 1 once it has two data segments or more each way (the first data a
//   connection receives is acknowledged at once, quick-ack mode; not with Fast Open). Without
//   such a reference, or without the count (kernel < 4.6), it stays in flight: late, never
//   early.
// Without tcp_info (the /proc fallback, SYN_RECV) every ESTABLISHED, SYN_RECV or CLOSE_WAIT
// connection counts as in flight: nothing tells otherwise. TIME_WAIT never does.
// A connection on one of `multiplexed_ports` (HTTP/2, gRPC: one connection carries several
// requests at once, and an answer on one stream hides a request pending on another) counts as in
// flight whenever it is open (not TIME_WAIT): the kernel cannot tell.
// Thread-compatible. Feed it every snapshot the observer takes (more snapshots, sharper
// references); a failed observation is simply skipped.
class InFlightHistory {
 public:
  explicit InFlightHistory(std::vector<int> multiplexed_ports = {});
  // Sets in_flight on each connection of `now`, then remembers `now`.
  void Classify(TrafficSnapshot& now);
  size_t remembered() const { return seen_.size(); }

 private:
  struct Seen {
    uint64_t id = 0;  // the connection's TrafficConnection::id
    uint64_t bytes_received = 0;
    uint64_t bytes_answered = 0;
    uint32_t pure_acks = 0;
    uint32_t reference = 0;  // pure_acks before the byte counters last changed, if has_reference
    bool has_info = false;
    bool has_pure_acks = false;
    bool has_reference = false;
    bool owed = false;  // in flight for a request (not merely an answer being delivered)
  };
  std::vector<int> multiplexed_ports_;
  // Sorted by id: a flat vector costs a third of a hash map's nodes, and a flood of 50,000
  // connections is held twice while Classify runs (the last look and the next).
  std::vector<Seen> seen_;
};

// What changed on the ports between two snapshots of the same observer.
struct TrafficSince {
  size_t new_connections = 0;  // in `now` but not in `since` (TIME_WAIT ones included)
  uint64_t request_bytes = 0;  // received between them, on connections alive in `now` (with
                               // tcp_info; new connections count all they received)
  // The latest moment traffic reached the ports as far as the kernel tells: data received, or
  // a connection opened (tcp_info counts a fresh connection's last_data_recv from its start).
  // A connection without tcp_info counts as activity at now.taken (the safe side): a handshake
  // in progress, a new one seen only in TIME_WAIT, or in the /proc fallback any live connection
  // (it may carry requests nobody can see). Nullopt when `now` shows no activity at all.
  std::optional<TrafficTime> last_activity;
};
TrafficSince CompareTraffic(const TrafficSnapshot& since, const TrafficSnapshot& now);

// The most connections on the ports one snapshot holds (about 64 bytes each, and an observer
// keeps two snapshots): past it the observation fails, which its users take as "cannot tell"
// (busy, traffic not quiet), never as idle. Memory stays bounded whatever the namespace holds.
inline constexpr size_t kMaxObservedConnections = 50'000;
// The /proc fallback reads the tables in chunks of this size, checking the deadline between.
inline constexpr size_t kProcChunkBytes = 64 * 1024;

// The result of one observation: a snapshot, or what went wrong (both /proc tables unreadable
// or malformed, the deadline passed during the read, more than kMaxObservedConnections).
struct Observation {
  std::optional<TrafficSnapshot> snapshot;
  std::string error;
};

// The seam: tests and the lb wait take snapshots through it.
class TrafficObserver {
 public:
  virtual ~TrafficObserver() = default;
  // One snapshot of the sockets on the ports, stamped with steady_clock::now() once read.
  // Returns by `deadline` (give or take one datagram or chunk): a read it cuts is an error.
  // Thread-compatible.
  virtual Observation Observe(TrafficTime deadline) = 0;
};

// Observes `ports` (their local port) through netlink, the kernel filtering on the ports; the
// first time netlink is refused (the socket cannot be opened or the kernel answers with an
// error), it says so once through `on_fallback` and reads /proc/net/tcp* through `files` from
// then on. A dump cut by the deadline or too large fails that observation only. TIME_WAIT
// sockets are asked for only with `time_wait` (lb_delay auto: connections that came and went);
// the in-flight count never needs them. `files` must outlive it.
std::unique_ptr<TrafficObserver> MakeKernelTrafficObserver(
    std::vector<int> ports, FileReader& files,
    std::function<void(const std::string&)> on_fallback = {}, bool time_wait = true);

// Why ObserveWithNetlink failed.
enum class NetlinkFailure {
  kNone,
  kRefused,        // no socket, a kernel error, garbage: netlink cannot serve, use /proc
  kFilterRefused,  // the kernel refused the port filter (EINVAL): retried with a simpler one
  kDeadline,       // the deadline passed during the dump: this observation only
  kTooMany,        // more than kMaxObservedConnections on the ports: this observation only
};

// Reads one snapshot through netlink only, the sockets on `ports` (the kernel filters them
// with a BuildPortFilter program; a kernel that refuses it gets a simpler one, then none).
// Waits for the kernel until `deadline` at most. Returns nullopt, sets *error and, when given,
// *failure when it cannot. `expected`, the count of the observation before, sizes the snapshot
// once (growing by doubling would briefly hold its connections three times over). For
// MakeKernelTrafficObserver and tests.
std::optional<TrafficSnapshot> ObserveWithNetlink(const std::vector<int>& ports,
                                                  TrafficTime deadline, std::string* error,
                                                  NetlinkFailure* failure = nullptr,
                                                  bool time_wait = true, size_t expected = 0);
// Builds one snapshot from /proc/net/tcp and /proc/net/tcp6 read through `files` in chunks of
// kProcChunkBytes (either table may be missing, not both), keeping only the rows on the ports:
// memory does not grow with the table. Fails when the deadline passes between two chunks.
std::optional<TrafficSnapshot> SnapshotFromProcNetTcp(FileReader& files,
                                                      const std::vector<int>& ports, bool time_wait,
                                                      TrafficTime deadline, std::string* error);
// Builds one snapshot from the texts of /proc/net/tcp and /proc/net/tcp6 (either may be
// nullopt, not both). Pure apart from the time stamp, which the caller passes.
std::optional<TrafficSnapshot> SnapshotFromProcNetTcp(const std::optional<std::string>& tcp,
                                                      const std::optional<std::string>& tcp6,
                                                      const std::vector<int>& ports,
                                                      TrafficTime taken, std::string* error);

}  // namespace lastcall

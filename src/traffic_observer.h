#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "monitor.h"
#include "proc_net_tcp.h"

// What the kernel sees of the traffic to the app's own ports, without the app's cooperation:
// the connections, and on each whether the app owes an answer. Read from sock_diag (netlink,
// with tcp_info: bytes and the time since data last went each way), which needs no privilege;
// /proc/net/tcp and /proc/net/tcp6 where netlink is refused (seccomp, old kernels), which only
// tell which connections exist.
//
// Used by the connections monitor (`count: in_flight`) and by `lb_delay: auto` (has traffic
// stopped reaching the pod?). The analysis (ClassifyInFlight, CompareTraffic) is pure.
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
  bool in_flight = false;  // set by ClassifyInFlight
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

// Decides, for each connection of `now`, whether a request is in flight (the app owes an
// answer). With tcp_info, a connection is in flight when:
// - request bytes wait unread in its receive queue, or answer bytes are still unacknowledged
//   (the answer is being delivered);
// - data arrived after data was last sent (last_data_recv < last_data_sent);
// - the app has sent nothing on it yet: a request is being served, or on its way (a fresh
//   connection; a server-speaks-first protocol's idle connection counts too, on the safe side);
// - compared with `previous` (the same connection in the snapshot before, if any): it received
//   bytes since and answered none, or it was in flight then and has answered nothing since.
//   This catches a request that arrived within the same kernel tick as the previous answer,
//   which the timestamps (whole milliseconds or coarser) cannot order.
// Without tcp_info (the /proc fallback, SYN_RECV) every ESTABLISHED, SYN_RECV or CLOSE_WAIT
// connection counts as in flight: nothing tells otherwise. TIME_WAIT never does. Pure.
void ClassifyInFlight(const TrafficSnapshot* previous, TrafficSnapshot& now);

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
// *failure when it cannot. For MakeKernelTrafficObserver and tests.
std::optional<TrafficSnapshot> ObserveWithNetlink(const std::vector<int>& ports,
                                                  TrafficTime deadline, std::string* error,
                                                  NetlinkFailure* failure = nullptr,
                                                  bool time_wait = true);
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

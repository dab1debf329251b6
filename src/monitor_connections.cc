// The `connections` monitor: counts the TCP connections to the app's own ports in the pod's
// network namespace, from /proc/net/tcp and /proc/net/tcp6; drained when the count is at or
// below drained_at. No app cooperation is needed. What counts:
// - ESTABLISHED connections whose local port is one of monitor.ports: a client is connected to
//   the app (connections queued for accept() included);
// - SYN_RECV ones too: a handshake in progress becomes a connection that carries a request, so
//   traffic still arriving after lb_delay keeps the pod busy rather than being cut off;
// - CLOSE_WAIT ones only with count_close_wait: the client has closed its side, which usually
//   means it is gone, though a half-closed client may still await its answer.
// Not counted: LISTEN sockets, TIME_WAIT and the other closing states (nothing left to serve),
// and connections the app opened to other services (their local port is ephemeral).
// Idle keep-alive connections do count: an app that drains closes them.
// With count: in_flight, the same connections are read through the traffic observer
// (sock_diag with tcp_info) and only those with a request in flight count (the app owes an
// answer; see ClassifyInFlight): idle keep-alive connections a pooling proxy holds open no
// longer hold the drain. Where netlink is refused, the observer reads /proc and every
// connection counts, as with count: connections; the detail says so.
// A missing /proc/net/tcp6 (IPv6 disabled) is fine; both missing is an error.
// Bounded whatever the namespace holds (a flood of TIME_WAIT sockets on other ports): the tables
// are streamed in chunks and only counted, the read stops once the count is over drained_at
// (past the first kExactChunks) and, as an error, once the poll's deadline has passed; the
// in-flight observer asks the kernel only for the sockets on the ports (traffic_observer.h).
// No connection and no LISTEN socket on any of the ports means the app is gone: that is
// kRefused, as for the HTTP monitors, so refused_means and the app-gone shortcut apply alike.
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor.h"
#include "proc_net_tcp.h"
#include "traffic_observer.h"

namespace lastcall {
namespace {

constexpr const char* kTables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
// 256 KiB of a table, some 1700 sockets: counted exactly before the count may stop the read.
constexpr size_t kExactChunks = 4;

class ConnectionsMonitor final : public DrainMonitor {
 public:
  // Exactly one of `files` (count: connections) and `observer` (count: in_flight) is set.
  ConnectionsMonitor(const Config& config, FileReader* files,
                     std::unique_ptr<TrafficObserver> observer)
      : files_(files),
        observer_(std::move(observer)),
        ports_(config.shutdown.drain.monitor.ports),
        drained_at_(config.shutdown.drain.monitor.drained_at) {
    states_ = {TcpState::kEstablished, TcpState::kSynRecv};
    if (config.shutdown.drain.monitor.count_close_wait) states_.push_back(TcpState::kCloseWait);
  }

  // With a socket flood in the namespace a read can take long: both paths stop at `deadline`
  // (between two chunks of /proc, two datagrams of sock_diag) and say so as an error.
  PollResult Poll(Deadline deadline) override {
    return observer_ ? PollInFlight(deadline) : PollConnections(deadline);
  }

  std::string_view kind() const override { return "connections"; }

 private:
  PollResult PollInFlight(Deadline deadline) {
    PollResult result;
    result.outcome = PollOutcome::kError;
    Observation seen = observer_->Observe(deadline);
    if (!seen.snapshot) {
      result.detail = seen.error;
      return result;
    }
    TrafficSnapshot& now = *seen.snapshot;
    ClassifyInFlight(previous_ ? &*previous_ : nullptr, now);
    size_t connections = 0;
    size_t in_flight = 0;
    for (const TrafficConnection& c : now.connections) {
      if (std::find(states_.begin(), states_.end(), c.state) == states_.end()) continue;
      ++connections;
      if (c.in_flight) ++in_flight;
    }
    const bool fallback = now.source != TrafficSource::kNetlink;
    const size_t listeners = now.listeners;
    previous_ = std::move(now);
    result.value = static_cast<double>(in_flight);
    if (connections == 0 && listeners == 0) {
      result.outcome = PollOutcome::kRefused;
      result.detail = "nothing listens on port" + std::string(ports_.size() == 1 ? " " : "s ") +
                      JoinPorts() + ": the app is gone";
      return result;
    }
    result.outcome =
        static_cast<double>(in_flight) <= drained_at_ ? PollOutcome::kDrained : PollOutcome::kBusy;
    result.detail =
        std::to_string(in_flight) + " of " + std::to_string(connections) +
        (connections == 1 ? " connection" : " connections") + " on port" +
        (ports_.size() == 1 ? " " : "s ") + JoinPorts() + " with a request in flight" +
        (fallback ? " (netlink refused: from /proc/net/tcp, every connection counts)" : "");
    return result;
  }

  // Streams the tables a chunk at a time and keeps counts only: memory does not grow with the
  // namespace's sockets. Between two chunks it stops once the answer is known (more than
  // drained_at counted, past the first kExactChunks: busy, the rest unread; an ordinary table is
  // counted whole, for the log) or, with an error, once the deadline has passed.
  PollResult PollConnections(Deadline deadline) {
    PollResult result;
    result.outcome = PollOutcome::kError;
    size_t count = 0;
    size_t listeners = 0;
    size_t tables_read = 0;
    bool busy = false;
    for (const char* path : kTables) {
      ProcNetTcpReader reader;
      auto on_row = [&](const TcpSocketRow& row) {
        if (std::find(ports_.begin(), ports_.end(), static_cast<int>(row.local_port)) ==
            ports_.end()) {
          return;
        }
        if (row.state == TcpState::kListen) {
          ++listeners;
        } else if (std::find(states_.begin(), states_.end(), row.state) != states_.end()) {
          ++count;
        }
      };
      bool consumed = false;
      bool late = false;
      size_t chunks = 0;
      const bool opened = files_->ReadChunks(path, kProcChunkBytes, [&](std::string_view chunk) {
        // Between two chunks: stop once the answer is known, or once the deadline has passed
        // while the kernel printed the last one.
        if (chunks >= kExactChunks && static_cast<double>(count) > drained_at_) {
          busy = true;
          return false;
        }
        if (consumed && std::chrono::steady_clock::now() >= deadline) {
          late = true;
          return false;
        }
        consumed = true;
        ++chunks;
        return reader.Feed(chunk, on_row);
      });
      if (busy) break;
      if (!opened && !consumed) continue;  // missing (IPv6 disabled) or unreadable
      if (!opened) {
        result.detail = std::string(path) + ": read failed part way";
        return result;
      }
      if (late) {
        result.detail = std::string(path) + ": read abandoned at the deadline after " +
                        std::to_string(reader.rows()) + " rows";
        return result;
      }
      if (!reader.Finish(on_row)) {
        result.detail = std::string(path) + ": " + reader.error();
        return result;
      }
      ++tables_read;
    }
    if (busy) {
      result.value = static_cast<double>(count);
      result.outcome = PollOutcome::kBusy;
      result.detail = "at least " + std::to_string(count) +
                      (count == 1 ? " connection" : " connections") + " on port" +
                      (ports_.size() == 1 ? " " : "s ") + JoinPorts() + " (" + JoinStates() + ")";
      return result;
    }
    if (tables_read == 0) {
      result.detail = "cannot read /proc/net/tcp or /proc/net/tcp6";
      return result;
    }
    result.value = static_cast<double>(count);
    if (count == 0 && listeners == 0) {
      result.outcome = PollOutcome::kRefused;
      result.detail = "nothing listens on port" + std::string(ports_.size() == 1 ? " " : "s ") +
                      JoinPorts() + ": the app is gone";
      return result;
    }
    result.outcome =
        static_cast<double>(count) <= drained_at_ ? PollOutcome::kDrained : PollOutcome::kBusy;
    result.detail = std::to_string(count) + (count == 1 ? " connection" : " connections") +
                    " on port" + (ports_.size() == 1 ? " " : "s ") + JoinPorts() + " (" +
                    JoinStates() + ")";
    return result;
  }

  std::string JoinPorts() const {
    std::string out;
    for (int port : ports_) out += (out.empty() ? "" : ",") + std::to_string(port);
    return out;
  }
  std::string JoinStates() const {
    std::string out;
    for (TcpState state : states_) out += (out.empty() ? "" : ", ") + ToString(state);
    return out;
  }

  FileReader* files_;
  std::unique_ptr<TrafficObserver> observer_;
  std::optional<TrafficSnapshot> previous_;  // the last observation, for ClassifyInFlight
  std::vector<int> ports_;
  std::vector<TcpState> states_;  // counted (LISTEN only tells whether the app is gone)
  double drained_at_;
};

}  // namespace

std::unique_ptr<DrainMonitor> MakeConnectionsMonitor(const Config& config, FileReader& files) {
  if (config.shutdown.drain.monitor.count == ConnectionCount::kInFlight) {
    // TIME_WAIT never counts as in flight: not asking for it keeps a flood of closed
    // connections on the app's ports in the kernel.
    return MakeInFlightMonitor(
        config, MakeKernelTrafficObserver(config.shutdown.drain.monitor.ports, files, {}, false));
  }
  return std::make_unique<ConnectionsMonitor>(config, &files, nullptr);
}

std::unique_ptr<DrainMonitor> MakeInFlightMonitor(const Config& config,
                                                  std::unique_ptr<TrafficObserver> observer) {
  return std::make_unique<ConnectionsMonitor>(config, nullptr, std::move(observer));
}

}  // namespace lastcall

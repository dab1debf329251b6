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
// answer; see InFlightHistory): idle keep-alive connections a pooling proxy holds open no
// longer hold the drain. Where netlink is refused, the observer reads /proc and every
// connection counts, as with count: connections; the detail says so. InFlightHistory needs
// snapshots from before a connection's last exchange to prove it idle, so the real monitor
// samples at its poll interval from the moment it is made (lastcall run's start) until its
// first poll, on a thread of its own; then the polls take over. Connections on
// multiplexed_ports count whenever open (see InFlightHistory).
// A missing /proc/net/tcp6 (IPv6 disabled) is fine; both missing is an error.
// Bounded whatever the namespace holds (a flood of TIME_WAIT sockets on other ports): the tables
// are streamed in chunks and only counted, the read stops once the count is over drained_at
// (past the first kExactChunks) and, as an error, once the poll's deadline has passed; the
// in-flight observer asks the kernel only for the sockets on the ports (traffic_observer.h).
// No connection and no LISTEN socket on any of the ports means the app is gone: that is
// kRefused, as for the HTTP monitors, so refused_means and the app-gone shortcut apply alike.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/proc_net_tcp.h"
#include "monitors/monitor.h"
#include "monitors/traffic_observer.h"

namespace lastcall {
namespace {

constexpr const char* kTables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
// 256 KiB of a table, some 1700 sockets: counted exactly before the count may stop the read.
constexpr size_t kExactChunks = 4;

class ConnectionsMonitor final : public DrainMonitor {
 public:
  // Exactly one of `files` (count: connections) and `observer` (count: in_flight) is set.
  // With `sample_every` above zero (and an observer), a thread observes at that pace until the
  // first poll, so the first polls already have history.
  ConnectionsMonitor(const Config& config, FileReader* files,
                     std::unique_ptr<TrafficObserver> observer, Millis sample_every = Millis(0))
      : files_(files),
        observer_(std::move(observer)),
        history_(config.shutdown.drain.monitor.multiplexed_ports),
        ports_(config.shutdown.drain.monitor.ports),
        drained_at_(config.shutdown.drain.monitor.drained_at) {
    states_ = {TcpState::kEstablished, TcpState::kSynRecv};
    if (config.shutdown.drain.monitor.count_close_wait) states_.push_back(TcpState::kCloseWait);
    if (observer_ && sample_every.count() > 0) {
      sampler_ = std::thread([this, sample_every] { Sample(sample_every); });
    }
  }

  ~ConnectionsMonitor() override {
    StopSampling();
    if (sampler_.joinable()) sampler_.join();
  }
  ConnectionsMonitor(const ConnectionsMonitor&) = delete;
  ConnectionsMonitor& operator=(const ConnectionsMonitor&) = delete;

  // With a socket flood in the namespace a read can take long: both paths stop at `deadline`
  // (between two chunks of /proc, two datagrams of sock_diag) and say so as an error.
  PollResult Poll(Deadline deadline) override {
    return observer_ ? PollInFlight(deadline) : PollConnections(deadline);
  }

  std::string_view kind() const override { return "connections"; }

 private:
  void StopSampling() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sampling_ = false;
    }
    wake_.notify_all();
  }

  // Runs on sampler_. A failed observation is skipped: the next one serves as well. The /proc
  // fallback gives nothing to remember (no tcp_info), so sampling ends there.
  void Sample(Millis every) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (sampling_) {
      // One look never takes longer than the pause between two.
      Observation seen = observer_->Observe(std::chrono::steady_clock::now() + every);
      if (seen.snapshot) {
        if (seen.snapshot->source != TrafficSource::kNetlink) return;
        history_.Classify(*seen.snapshot);
      }
      wake_.wait_for(lock, every, [this] { return !sampling_; });
    }
  }

  // Observes and classifies under mutex_ (the sampler may be mid-observation at the first poll).
  Observation ObserveClassified(Deadline deadline) {
    StopSampling();
    std::lock_guard<std::mutex> lock(mutex_);
    Observation seen = observer_->Observe(deadline);
    if (seen.snapshot) history_.Classify(*seen.snapshot);
    return seen;
  }

  PollResult PollInFlight(Deadline deadline) {
    PollResult result;
    result.outcome = PollOutcome::kError;
    Observation seen = ObserveClassified(deadline);
    if (!seen.snapshot) {
      result.detail = seen.error;
      return result;
    }
    const TrafficSnapshot& now = *seen.snapshot;
    size_t connections = 0;
    size_t in_flight = 0;
    for (const TrafficConnection& c : now.connections) {
      if (std::find(states_.begin(), states_.end(), c.state) == states_.end()) continue;
      ++connections;
      if (c.in_flight) ++in_flight;
    }
    const bool fallback = now.source != TrafficSource::kNetlink;
    const size_t listeners = now.listeners;
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
      // Past the first kExactChunks, more than drained_at counted is the answer: busy.
      auto known = [&](size_t chunks) {
        return chunks >= kExactChunks && static_cast<double>(count) > drained_at_;
      };
      const TableReadResult read =
          StreamProcNetTcp(*files_, path, kProcChunkBytes, deadline, on_row, known);
      if (read.outcome == TableRead::kStopped) {
        busy = true;
        break;
      }
      if (read.outcome == TableRead::kMissing) continue;  // IPv6 disabled, or unreadable
      if (read.outcome == TableRead::kFailed) {
        result.detail = read.error;
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
  std::mutex mutex_;  // guards observer_, history_ and sampling_ while sampler_ runs
  std::condition_variable wake_;
  bool sampling_ = true;
  InFlightHistory history_;
  std::thread sampler_;  // started in the constructor body, once every member exists
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
        config, MakeKernelTrafficObserver(config.shutdown.drain.monitor.ports, files, {}, false),
        config.shutdown.drain.monitor.interval);
  }
  return std::make_unique<ConnectionsMonitor>(config, &files, nullptr);
}

std::unique_ptr<DrainMonitor> MakeInFlightMonitor(const Config& config,
                                                  std::unique_ptr<TrafficObserver> observer,
                                                  Millis sample_every) {
  return std::make_unique<ConnectionsMonitor>(config, nullptr, std::move(observer), sample_every);
}

}  // namespace lastcall

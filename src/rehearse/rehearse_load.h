#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

// `lastcall rehearse`'s load: an open-loop HTTP/1.1 client. Request k is sent at start + k/rps
// whether or not earlier ones were answered (a closed loop would slow down exactly when the app
// struggles and hide the failures a rehearsal is for).
//
// Connections are kept alive and reused like a typical HTTP client pool (Go's net/http): the most
// recently idle connection first, and an idle connection that the server (or the balancer) closes
// is noticed at once and dropped from the pool, so a request is never sent on a connection known
// to be closed. A request that fails after it was sent is a failure, even on a reused connection:
// no retries, so the report shows what a client without retries would see.
namespace lastcall {

enum class RequestOutcome : uint8_t {
  kOk,            // a 2xx answer from the replica
  kOtherReplica,  // a 2xx answer from the rest of the Service (the balancer's stand-in)
  kRefused,       // the connection was refused: nobody listened (directly, or behind the balancer)
  kReset,         // the connection was closed or reset before a complete answer
  kTimeout,       // no complete answer within the request timeout (or connect timed out)
  kNon2xx,        // a complete answer whose status is not 2xx
  kMalformed,     // an answer that is not HTTP
  kNotSent,       // the client itself ran out of connections or descriptors: not the app's fault
};
inline constexpr int kRequestOutcomeCount = 8;
std::string_view ToString(RequestOutcome outcome);
// True for the outcomes that lose a request: refused, reset, timeout, non-2xx, malformed.
bool IsFailure(RequestOutcome outcome);

struct RequestRecord {
  Millis sent_at{0};      // since the load started
  Millis finished_at{0};  // since the load started
  RequestOutcome outcome = RequestOutcome::kOk;
  int status = 0;  // 0 when no complete answer arrived
  uint16_t path_index = 0;
  bool reused_connection = false;
};

struct LoadOptions {
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 literal
  uint16_t port = 0;
  std::vector<std::string> paths{"/"};  // request targets, used in turn
  int rps = 100;
  Millis duration{6000};          // sending stops after this (or at StopSending)
  Millis request_timeout{10000};  // from sending to a complete answer
  size_t max_open_connections = 4096;
  size_t max_idle_connections = 256;
};

// Live figures for the progress display. in_flight: requests sent and not yet finished.
struct LoadSnapshot {
  uint64_t sent = 0;
  uint64_t ok = 0;
  uint64_t other_replica = 0;
  uint64_t failed = 0;
  uint64_t not_sent = 0;
  uint64_t in_flight = 0;
};

class LoadGenerator {
 public:
  explicit LoadGenerator(LoadOptions options);
  ~LoadGenerator();  // Finish()es at once when still running
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Starts the sending thread; the first request leaves now. Returns "" or the problem.
  // REQUIRES: called once.
  std::string Start();
  std::chrono::steady_clock::time_point started_at() const;

  // Stops sending new requests (before options.duration); those in flight continue. Thread-safe.
  void StopSending();
  // True once sending has ended (the duration passed or StopSending). Thread-safe.
  bool sending_done() const;

  // Waits until sending has ended (the duration passed, or StopSending) and every request has an
  // outcome, or until `deadline` (sending stops then, and requests still open count as
  // timeouts); joins the thread and returns every request in the order sent.
  // REQUIRES: Start succeeded; called once.
  std::vector<RequestRecord> Finish(std::chrono::steady_clock::time_point deadline);

  LoadSnapshot Snapshot() const;  // thread-safe

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lastcall

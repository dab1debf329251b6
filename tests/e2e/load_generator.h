#pragma once

// A bounded HTTP/1.1 load generator for the end-to-end tests: a fixed set of keep-alive
// connections to one address, each sending one path back to back. A request counts as ok only
// when a complete 2xx answer arrives; everything else is counted, with its time, by kind.
// Why not wrk: wrk counts a connection closed by the load balancer as a socket error only in
// aggregate; here each failure is kept with its offset so the report can place it on the
// termination's timeline.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lastcall::e2e {

using Millis = std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

struct PathLoad {
  std::string target;  // "/work?ms=5"
  int connections = 1;
  // Connection i starts i * stagger / connections after Start(), so that requests of a fixed
  // length do not all begin and end together.
  Millis stagger{0};
};

struct Failure {
  Millis at{0};      // since the load started
  std::string what;  // "status 503", "closed before a response", "timeout", "connect: ..."
  std::string target;
};

struct LoadReport {
  long long sent = 0;
  long long ok = 0;       // complete 2xx answers
  long long non_2xx = 0;  // complete answers with another status
  long long failed = 0;   // no complete answer: reset, closed, timed out, cannot connect
  std::map<std::string, long long> ok_by_target;
  std::vector<Failure> failures;  // non-2xx and failed, in time order (the first 1000)
  Millis elapsed{0};
};

class LoadGenerator {
 public:
  // `request_timeout` bounds every request from its first byte sent to its last byte read.
  LoadGenerator(uint16_t port, std::vector<PathLoad> paths, Millis request_timeout);
  ~LoadGenerator();  // Stop()s
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  void Start();
  Steady::time_point started() const { return start_; }
  // Stops sending new requests, waits for those in flight (each bounded by request_timeout),
  // joins every connection and returns the counts. Idempotent.
  LoadReport Stop();

 private:
  void RunConnection(const std::string& target, Millis start_after);
  void Record(const std::string& target, int status, const std::string& error);

  const uint16_t port_;
  const std::vector<PathLoad> paths_;
  const Millis request_timeout_;
  Steady::time_point start_{};
  std::atomic<bool> running_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  LoadReport report_;  // GUARDED_BY(mu_)
};

}  // namespace lastcall::e2e

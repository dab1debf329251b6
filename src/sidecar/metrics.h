#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/phase.h"

// lastcall's own metrics, rendered in the Prometheus text format 0.0.4 on GET /metrics.
// Counters are monotonic for the life of the process. Thread-safe.
namespace lastcall {

class Metrics {
 public:
  Metrics();

  void SetPhase(Phase phase, double unix_seconds);  // also records the transition timestamp
  void SetDrainDuration(double seconds);
  void SetDrainValue(double value);
  void CountPoll(std::string_view monitor_kind, std::string_view outcome);
  void CountTriggerAttempt(std::string_view outcome);  // accepted, rejected, failed
  void CountProbe(std::string_view path, int status);
  void CountSignal(std::string_view name);
  void CountRecovery();
  // lastcall restarted mid-termination and took up the sequence from its state file.
  void CountResume();
  // The configured shutdown.drain.timeout: alerts compare a running drain's age with it.
  void SetDrainTimeout(double seconds);
  void CountSequence(std::string_view result);  // drained, timed_out
  // lb_delay auto: how long the last lb wait lasted and why it ended (quiet, max, deadline, ...).
  void SetLbWait(double seconds, std::string_view reason);
  // Since the trigger, when every EndpointSlice that held the pod stopped routing to it.
  void ObserveEndpointRemoved(double seconds);

  // The whole exposition, ending in a newline.
  std::string Render() const;

 private:
  using Labels = std::string;  // already rendered label set, e.g. kind="json",outcome="busy"
  mutable std::mutex mu_;
  Phase phase_ = Phase::kServing;
  std::map<Phase, double> transitions_;             // GUARDED_BY(mu_)
  std::optional<double> drain_duration_;            // GUARDED_BY(mu_)
  std::optional<double> drain_value_;               // GUARDED_BY(mu_)
  std::map<Labels, double> polls_;                  // GUARDED_BY(mu_)
  std::map<Labels, double> trigger_attempts_;       // GUARDED_BY(mu_)
  std::map<Labels, double> probes_;                 // GUARDED_BY(mu_)
  std::map<Labels, double> signals_;                // GUARDED_BY(mu_)
  std::map<Labels, double> sequences_;              // GUARDED_BY(mu_)
  double recoveries_ = 0;                           // GUARDED_BY(mu_)
  double resumes_ = 0;                              // GUARDED_BY(mu_)
  std::optional<double> drain_timeout_;             // GUARDED_BY(mu_)
  std::optional<double> lb_wait_seconds_;           // GUARDED_BY(mu_)
  std::map<Labels, double> lb_waits_;               // GUARDED_BY(mu_)
  std::vector<uint64_t> endpoint_removed_buckets_;  // GUARDED_BY(mu_): per kEndpointBuckets
  double endpoint_removed_sum_ = 0;                 // GUARDED_BY(mu_)
  uint64_t endpoint_removed_count_ = 0;             // GUARDED_BY(mu_)
  double start_time_ = 0;
};

// Escapes a label value for the text format (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace lastcall

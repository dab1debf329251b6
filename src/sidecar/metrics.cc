#include "sidecar/metrics.h"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cmath>

#include "version.h"

namespace lastcall {
namespace {

// lastcall_endpoint_removed_seconds' buckets: the endpoint controller acts within a second or
// two of a pod's deletion; a slow control plane takes tens.
constexpr std::array<double, 10> kEndpointBuckets{0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60};

constexpr Phase kAllPhases[] = {Phase::kServing, Phase::kUnready, Phase::kDraining, Phase::kDrained,
                                Phase::kTimedOut};

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

void AppendHeader(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void AppendFamily(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, const std::map<std::string, double>& samples) {
  AppendHeader(out, name, type, help);
  for (const auto& [labels, value] : samples) {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, FormatValue(value));
  }
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Metrics::Metrics() : start_time_(UnixNow()) {}

void Metrics::SetPhase(Phase phase, double unix_seconds) {
  std::lock_guard lock(mu_);
  phase_ = phase;
  transitions_[phase] = unix_seconds;
}

void Metrics::SetDrainDuration(double seconds) {
  std::lock_guard lock(mu_);
  drain_duration_ = seconds;
}

void Metrics::SetDrainValue(double value) {
  std::lock_guard lock(mu_);
  drain_value_ = value;
}

void Metrics::CountPoll(std::string_view monitor_kind, std::string_view outcome) {
  std::lock_guard lock(mu_);
  polls_[fmt::format("kind=\"{}\",outcome=\"{}\"", EscapeLabelValue(monitor_kind),
                     EscapeLabelValue(outcome))] += 1;
}

void Metrics::CountTriggerAttempt(std::string_view outcome) {
  std::lock_guard lock(mu_);
  trigger_attempts_[fmt::format("outcome=\"{}\"", EscapeLabelValue(outcome))] += 1;
}

void Metrics::CountProbe(std::string_view path, int status) {
  std::lock_guard lock(mu_);
  probes_[fmt::format("path=\"{}\",code=\"{}\"", EscapeLabelValue(path), status)] += 1;
}

void Metrics::CountSignal(std::string_view name) {
  std::lock_guard lock(mu_);
  signals_[fmt::format("signal=\"{}\"", EscapeLabelValue(name))] += 1;
}

void Metrics::CountRecovery() {
  std::lock_guard lock(mu_);
  recoveries_ += 1;
}

void Metrics::CountResume() {
  std::lock_guard lock(mu_);
  resumes_ += 1;
}

void Metrics::SetDrainTimeout(double seconds) {
  std::lock_guard lock(mu_);
  drain_timeout_ = seconds;
}

void Metrics::CountSequence(std::string_view result) {
  std::lock_guard lock(mu_);
  sequences_[fmt::format("result=\"{}\"", EscapeLabelValue(result))] += 1;
}

void Metrics::ObserveEndpointRemoved(double seconds) {
  std::lock_guard lock(mu_);
  if (endpoint_removed_buckets_.empty())
    endpoint_removed_buckets_.assign(kEndpointBuckets.size(), 0);
  for (size_t i = 0; i < kEndpointBuckets.size(); ++i) {
    if (seconds <= kEndpointBuckets[i]) endpoint_removed_buckets_[i] += 1;
  }
  endpoint_removed_sum_ += seconds;
  endpoint_removed_count_ += 1;
}

void Metrics::SetLbWait(double seconds, std::string_view reason) {
  std::lock_guard lock(mu_);
  lb_wait_seconds_ = seconds;
  lb_waits_[fmt::format("reason=\"{}\"", EscapeLabelValue(reason))] += 1;
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(4096);
  AppendHeader(out, "lastcall_build_info", "gauge", "Build information; the value is always 1.");
  fmt::format_to(std::back_inserter(out), "lastcall_build_info{{version=\"{}\"}} 1\n", kVersion);

  AppendHeader(out, "lastcall_start_time_seconds", "gauge",
               "Unix time when this lastcall process started.");
  fmt::format_to(std::back_inserter(out), "lastcall_start_time_seconds {}\n",
                 FormatValue(start_time_));

  AppendHeader(out, "lastcall_phase", "gauge",
               "The shutdown phase lastcall is in: 1 for the current phase, 0 for the others.");
  for (Phase phase : kAllPhases) {
    fmt::format_to(std::back_inserter(out), "lastcall_phase{{phase=\"{}\"}} {}\n", ToString(phase),
                   phase == phase_ ? 1 : 0);
  }

  AppendHeader(out, "lastcall_phase_transition_timestamp_seconds", "gauge",
               "Unix time of the most recent entry into each phase.");
  for (const auto& [phase, when] : transitions_) {
    fmt::format_to(std::back_inserter(out),
                   "lastcall_phase_transition_timestamp_seconds{{phase=\"{}\"}} {}\n",
                   ToString(phase), FormatValue(when));
  }

  AppendHeader(out, "lastcall_drain_duration_seconds", "gauge",
               "How long the last DRAINING phase lasted, until drained or timed out.");
  if (drain_duration_) {
    fmt::format_to(std::back_inserter(out), "lastcall_drain_duration_seconds {}\n",
                   FormatValue(*drain_duration_));
  }
  AppendHeader(out, "lastcall_drain_timeout_seconds", "gauge",
               "The configured drain timeout (shutdown.drain.timeout).");
  if (drain_timeout_) {
    fmt::format_to(std::back_inserter(out), "lastcall_drain_timeout_seconds {}\n",
                   FormatValue(*drain_timeout_));
  }
  AppendHeader(out, "lastcall_drain_value", "gauge",
               "The last value the drain monitor observed (in-flight work).");
  if (drain_value_) {
    fmt::format_to(std::back_inserter(out), "lastcall_drain_value {}\n",
                   FormatValue(*drain_value_));
  }

  AppendFamily(out, "lastcall_monitor_polls_total", "counter",
               "Drain monitor polls by monitor kind and outcome (drained, busy, refused, error).",
               polls_);
  AppendFamily(out, "lastcall_drain_trigger_attempts_total", "counter",
               "Drain trigger requests sent to the app, by outcome.", trigger_attempts_);
  AppendFamily(out, "lastcall_probe_requests_total", "counter",
               "Requests on the probe listener by path and status code.", probes_);
  AppendFamily(out, "lastcall_signals_total", "counter", "Signals received, by name.", signals_);
  AppendFamily(out, "lastcall_sequences_total", "counter",
               "Shutdown sequences that ended, by result.", sequences_);

  AppendHeader(out, "lastcall_lb_wait_seconds", "gauge",
               "lb_delay auto: how long the last wait for load balancers lasted.");
  if (lb_wait_seconds_) {
    fmt::format_to(std::back_inserter(out), "lastcall_lb_wait_seconds {}\n",
                   FormatValue(*lb_wait_seconds_));
  }
  AppendFamily(out, "lastcall_lb_waits_total", "counter",
               "lb_delay auto: waits for load balancers that ended, by reason (quiet: traffic "
               "stopped; max: it did not; deadline: the grace period; cancelled: app gone).",
               lb_waits_);

  AppendHeader(out, "lastcall_endpoint_removed_seconds", "histogram",
               "Since the trigger, when every EndpointSlice that held the pod stopped routing to "
               "it (the cluster's view; needs list/watch on endpointslices).");
  for (size_t i = 0; i < kEndpointBuckets.size(); ++i) {
    fmt::format_to(std::back_inserter(out),
                   "lastcall_endpoint_removed_seconds_bucket{{le=\"{}\"}} {}\n",
                   FormatValue(kEndpointBuckets[i]),
                   endpoint_removed_buckets_.empty() ? 0 : endpoint_removed_buckets_[i]);
  }
  fmt::format_to(std::back_inserter(out),
                 "lastcall_endpoint_removed_seconds_bucket{{le=\"+Inf\"}} {}\n"
                 "lastcall_endpoint_removed_seconds_sum {}\n"
                 "lastcall_endpoint_removed_seconds_count {}\n",
                 endpoint_removed_count_, FormatValue(endpoint_removed_sum_),
                 endpoint_removed_count_);

  AppendHeader(out, "lastcall_recoveries_total", "counter",
               "Times lastcall returned to serving after a preStop hook without termination "
               "(a container restart, not a pod deletion).");
  fmt::format_to(std::back_inserter(out), "lastcall_recoveries_total {}\n",
                 FormatValue(recoveries_));
  // Always present (0 or 1 per process), so that a restarted lastcall's 1 reads as an increase.
  AppendHeader(out, "lastcall_resumes_total", "counter",
               "Times this process took up a shutdown sequence from the state file (lastcall "
               "restarted mid-termination).");
  fmt::format_to(std::back_inserter(out), "lastcall_resumes_total {}\n", FormatValue(resumes_));
  return out;
}

}  // namespace lastcall

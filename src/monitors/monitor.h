#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/file_reader.h"
#include "config/config.h"
#include "http/http_client.h"

// A drain monitor answers one question, many times during DRAINING: is the app idle yet?
// Adding a monitor kind is one file (monitor_<kind>.cc) plus one line in MakeMonitor
// (monitor_factory.cc), one value in MonitorKind (config.h) and one name in the config's key
// table (kMonitorKinds, config_keys.cc).
namespace lastcall {

class TrafficObserver;

enum class PollOutcome {
  kDrained,  // at or below the threshold (or a drained status)
  kBusy,     // work still in flight
  kRefused,  // the app is gone: nothing listens on its port in any address family (the kernel's
             // tables say so, not one refused connection: port_listeners.h); the sequence
             // applies refused_means
  kError,    // the answer could not be read (timeout, malformed body, missing field): not drained
};
std::string_view ToString(PollOutcome outcome);

struct PollResult {
  PollOutcome outcome = PollOutcome::kError;
  std::optional<double> value;  // the observed number (in-flight count, status code, ...)
  std::string detail;           // what was wrong, for kError; what was seen, otherwise
  // A long poll the app held until its wait was (nearly) over and then answered busy: the next
  // poll may follow at once, since the app itself paced this one.
  bool held = false;
};

class DrainMonitor {
 public:
  virtual ~DrainMonitor() = default;
  // One observation. Must return by `deadline`. Thread-compatible (one caller at a time).
  // A monitor that long-polls (status with monitor.long_poll) asks the app to hold a busy answer
  // for long_poll at most, and only as long as leaves monitor.timeout before `deadline` for the
  // answer to arrive: a deadline within monitor.timeout of now means one plain poll.
  virtual PollResult Poll(Deadline deadline) = 0;
  virtual std::string_view kind() const = 0;
};

// One factory per kind, each in its own file (monitor_<kind>.cc). REQUIRES: a config LoadConfig
// returned (or one as valid). A URL-polling monitor without any URL errs on every poll; alone, it
// answers kRefused for any refused connection (MakeMonitor adds the proof).
std::unique_ptr<DrainMonitor> MakeStatusMonitor(const Config& config, HttpClient& http);
std::unique_ptr<DrainMonitor> MakeJsonMonitor(const Config& config, HttpClient& http);
std::unique_ptr<DrainMonitor> MakePrometheusMonitor(const Config& config, HttpClient& http);
// count: in_flight reads through MakeKernelTrafficObserver (files only for its /proc fallback).
std::unique_ptr<DrainMonitor> MakeConnectionsMonitor(const Config& config, FileReader& files);
// The connections monitor counting requests in flight, seen through `observer` (a test's fake).
// With `sample_every` above zero it observes at that pace on a thread of its own from now until
// its first poll (history for the first polls; MakeConnectionsMonitor passes the poll interval).
std::unique_ptr<DrainMonitor> MakeInFlightMonitor(const Config& config,
                                                  std::unique_ptr<TrafficObserver> observer,
                                                  Millis sample_every = Millis(0));
std::unique_ptr<DrainMonitor> MakeNoneMonitor();

// Builds the monitor config.shutdown.drain.monitor asks for. `http` and `files` must outlive it.
// The URL-polling kinds come wrapped in WithGoneCheck (port_listeners.h): they answer kRefused
// only when the kernel's listening table shows nothing on the URL's port.
// REQUIRES: a config LoadConfig returned: its URLs are parsed already, and the selector and
// JSON pointer were checked by the same parsers the monitors run.
std::unique_ptr<DrainMonitor> MakeMonitor(const Config& config, HttpClient& http,
                                          FileReader& files);

}  // namespace lastcall

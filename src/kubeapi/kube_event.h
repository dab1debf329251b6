#pragma once

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "base/status.h"
#include "kubeapi/in_cluster.h"
#include "kubeapi/kube_client.h"

// Kubernetes Events about lastcall's pod (docs/kubernetes.md, "Kubernetes Events"): one per
// termination, so the outcome outlives the pod. lastcall writes events.k8s.io/v1 Events: the
// API's current version, whose fields (regarding, note, reportingController, action) say what
// lastcall means; the API server stores one Event for both APIs, so `kubectl describe pod` and
// `kubectl get events` (which read the core v1 view) show it as well.
namespace lastcall::kubeapi {

inline constexpr std::string_view kReportingController = "lastcall.dev/lastcall";
// The API allows a note of at most 1 KiB; a longer one is cut with "...".
inline constexpr size_t kMaxNoteBytes = 1024;

struct EventSpec {
  std::string reason;    // Drained, DrainTimedOut, Recovered, ConfigRefused
  bool warning = false;  // type Warning (else Normal)
  std::string action;    // what lastcall did: Drain, Recover, Start
  std::string note;      // the message: one line
  std::chrono::system_clock::time_point time;
};

// The Event object as JSON for POST /apis/events.k8s.io/v1/namespaces/<ns>/events: regarding the
// pod (with its UID, so `kubectl describe pod` finds it), reportingInstance the pod's name,
// eventTime `time` in microseconds. Its name is the pod's and the time's, as client-go names
// Events. Pure.
std::string EventJson(const InClusterSettings& settings, const EventSpec& spec);

// The API path Events of `settings`' namespace are created at.
std::string EventsPath(const InClusterSettings& settings);

// "2026-12-05T03:10:11.123456Z" (a MicroTime). Pure.
std::string FormatMicroTime(std::chrono::system_clock::time_point time);

// Creates Events through a KubeClient: retries what may pass (429, 5xx, a failed connection)
// until the deadline, and logs each kind of failure once per process, not once per retry or per
// Event (a 403 from missing RBAC is one warning). Thread-safe.
class EventSender {
 public:
  explicit EventSender(KubeClient& client) : client_(client) {}
  // OK when the API server created the Event (201, or 200/202).
  Status Send(const EventSpec& spec, Deadline deadline);

 private:
  void LogOnce(const std::string& kind, std::string_view message, const std::string& detail);
  KubeClient& client_;
  std::mutex mu_;
  std::set<std::string> logged_;  // GUARDED_BY(mu_)
};

}  // namespace lastcall::kubeapi

#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include "base/logging.h"
#include "kubeapi/endpoint_slices.h"
#include "kubeapi/watch_source.h"

// Watches the EndpointSlices of the pod's namespace on its own thread and keeps the tracker
// (endpoint_slices.h) current: list (in pages), then watch from the list's resourceVersion with
// bookmarks, resume each watch from the last resourceVersion seen, relist on 410 Gone.
//
// Why the whole namespace: the Services that select the pod (and so the label
// kubernetes.io/service-name of their slices) are not known to the pod; the slices are filtered
// here by targetRef.uid. RBAC: `list` and `watch` on endpointslices.discovery.k8s.io in the
// namespace (deploy/kubernetes).
//
// When it runs: from the trigger on (the sidecar starts it then), not for the pod's whole life.
// A watch held from the start would cost the API server one namespace-wide watch per pod (a
// rollout of N pods: N watchers each told of every slice change) and each sidecar a TLS
// connection's buffers held while idle (PRODUCT.md's idle RSS); the list at the trigger costs one
// round trip, and its resourceVersion lets the watch miss nothing after it. A change made before
// the list answered counts at the time the list was read: late, never early. lb_delay auto waits
// for the first list at most shutdown.lb_auto.endpoint_wait (lb_wait.h), so a watch that cannot
// start in time costs that bound, never the deadline.
//
// Failures: 403 (RBAC) and 404 (no discovery.k8s.io/v1: Kubernetes < 1.21) end the watch for
// good (the view is unavailable); 401, 429, 5xx and transport failures are retried with backoff
// (kBackoffMin doubling to kBackoffMax); each kind of failure is logged once as a warning, then
// at debug level.
namespace lastcall::kubeapi {

struct EndpointWatchSettings {
  std::string namespace_name;  // the pod's (POD_NAMESPACE)
  std::string pod_uid;         // the pod's (POD_UID)
  // One list page's deadline, from its start.
  std::chrono::milliseconds list_timeout{5000};
  // A watch's timeoutSeconds: the server ends it then and the loop resumes. The request's own
  // deadline is this plus kWatchGrace.
  std::chrono::seconds watch_timeout{60};
  std::chrono::milliseconds backoff_min{250};
  std::chrono::milliseconds backoff_max{5000};
};

// Slices asked for per list page: a page stays far below kMaxListBytes.
inline constexpr int kSliceListPage = 100;
inline constexpr std::chrono::seconds kWatchGrace{10};

// The namespace's list path (`?limit=` and `continue=` follow) and one watch's path. Pure.
std::string SliceListPath(std::string_view namespace_name, std::string_view continue_token);
std::string SliceWatchPath(std::string_view namespace_name, std::string_view resource_version,
                           std::chrono::seconds timeout);

enum class EndpointWatchState {
  kIdle,      // not started
  kStarting,  // started; the first list has not completed yet
  kListed,    // the view is current (watching, or resuming after a failure)
  kFailed,    // given up for good (403, 404, a bad namespace): no view
};
std::string_view ToString(EndpointWatchState state);

class EndpointWatch {
 public:
  // Called on the watch thread after each change of the view (and once the first list is in),
  // outside the watch's lock: it may call Removal(), not Stop().
  using OnChange = std::function<void()>;
  // Where its lines go: Log (base/logging.h) by default; tests collect them.
  using LogSink = std::function<void(LogLevel, std::string_view)>;

  // `source` must outlive the watch.
  EndpointWatch(WatchSource& source, EndpointWatchSettings settings, OnChange on_change = {},
                LogSink log = {});
  ~EndpointWatch();  // Stop()
  EndpointWatch(const EndpointWatch&) = delete;
  EndpointWatch& operator=(const EndpointWatch&) = delete;

  // Starts the thread; nothing when it runs already. A bad namespace or pod UID fails at once
  // (kFailed). Thread-safe.
  void Start();
  // Asks the thread to stop, without waiting (it may be called from on_change). Thread-safe.
  void RequestStop();
  // Stops the thread and waits for it (a WatchSource returns within ~100 ms of the request).
  // REQUIRES: not on the watch thread.
  void Stop();

  struct View {
    EndpointWatchState state = EndpointWatchState::kIdle;
    std::string why;          // kFailed: why; kStarting: the last failure, if any
    EndpointRemoval removal;  // kListed: for the trigger asked about
  };
  // What the cluster says of the pod's endpoint, for a trigger at `trigger`. Thread-safe.
  View Removal(SliceTime trigger) const;

 private:
  void Run(std::stop_token stop);
  // Lists every page into the tracker. Returns false when the watch must back off (or stop).
  bool Relist(std::stop_token stop);
  // Watches from the tracker's resourceVersion until the stream ends. Returns whether to relist.
  // kRelistLater: relist after a backoff, as a stream that is broken at once (a line that does
  // not parse or is too long, a 410 before any event) would break again, in a tight loop.
  enum class Next { kResume, kRelist, kRelistLater, kBackOff, kStop };
  Next WatchOnce(std::stop_token stop);
  // A failed answer: kFailed for good, or back off. Logs its kind once.
  Next Failure(int status, std::string_view body, std::string_view what);
  void Warn(std::string_view kind, std::string_view line);
  bool SleepBackoff(std::stop_token stop);
  void Changed();

  WatchSource& source_;
  const EndpointWatchSettings settings_;
  const OnChange on_change_;
  const LogSink log_;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  EndpointSliceTracker tracker_;                          // GUARDED_BY(mu_)
  EndpointWatchState state_ = EndpointWatchState::kIdle;  // GUARDED_BY(mu_)
  std::string why_;                                       // GUARDED_BY(mu_)
  std::set<std::string> warned_;          // the watch thread's: kinds of failure logged already
  std::chrono::milliseconds backoff_{0};  // the watch thread's
  std::jthread thread_;
};

}  // namespace lastcall::kubeapi

#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

// The cluster's view of the pod's endpoint: what the EndpointSlices (discovery.k8s.io/v1) of the
// pod's namespace say of it, and since when every slice that held it has stopped routing to it
// (KEP-1672: a terminating pod's endpoint turns ready=false, terminating=true; the endpoint
// controller may also drop it, or the slice, outright). Pure: the watch (endpoint_watch.h) feeds
// it what the API server sends, stamped with the time it arrived.
//
// A slice is matched by its endpoints' targetRef.uid (the pod's UID, from the downward API), not
// by name or address: addresses are reused, names are not unique across restarts of a pod.
namespace lastcall::kubeapi {

using SliceTime = std::chrono::steady_clock::time_point;

// The deepest JSON nesting read (an EndpointSlice is 5 levels deep; the watch event wraps it once
// more): deeper input is refused, so a hostile answer cannot exhaust the stack or the heap.
inline constexpr size_t kMaxJsonDepth = 32;
// The most slices holding the pod that are tracked (a pod sits in one slice per Service and
// address family: a handful). Past it, the view gives up (erring late: the LB wait ignores it).
inline constexpr size_t kMaxTrackedSlices = 256;

// What one slice says of the pod. The conditions follow the API's reading of an absent value:
// ready and serving unknown mean true, terminating unknown means false.
struct SliceOfPod {
  std::string name;
  std::string resource_version;
  std::string address_type;  // IPv4, IPv6, FQDN
  bool holds_pod = false;    // an endpoint of it has targetRef.uid == the pod's UID
  bool ready = true;         // of that endpoint (several: any ready counts as ready, erring late)
  bool serving = true;
  bool terminating = false;
  // The slice routes to the pod no more: it does not hold it, or holds it not ready.
  bool Removed() const { return !holds_pod || !ready; }
};

// One page of an EndpointSliceList: only the slices that hold the pod are kept.
struct SliceListPage {
  std::string resource_version;  // metadata.resourceVersion: where a watch resumes
  std::string continue_token;    // metadata.continue: "" on the last page
  std::vector<SliceOfPod> slices;
  size_t items = 0;  // slices in the page, the pod's or not
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
std::string_view ToString(WatchEventType type);

// One line of a watch stream.
struct SliceWatchEvent {
  WatchEventType type = WatchEventType::kError;
  SliceOfPod slice;  // added, modified, deleted; bookmark: resource_version only
  // error: the Status object (code 410, reason Expired or Gone, when the resourceVersion is too
  // old to resume from)
  int code = 0;
  std::string reason;
  std::string message;
};

// Parse an EndpointSliceList (one page) and a watch line. `pod_uid` selects the endpoints that
// are the pod's. A failure names what was wrong ("watch line: endpoints[3].conditions.ready is
// not a boolean"). Streamed (SAX): memory stays at what is kept, whatever the answer holds.
Expected<SliceListPage> ParseSliceList(std::string_view json, std::string_view pod_uid);
Expected<SliceWatchEvent> ParseSliceWatchEvent(std::string_view line, std::string_view pod_uid);

// Since when every slice that held the pod shows it removed, asked for one trigger.
struct EndpointRemoval {
  // Slices that held the pod at the trigger or after it.
  size_t slices = 0;
  // Of them, those that route to it no more.
  size_t removed = 0;
  // When the last of them stopped routing to it (never before the trigger: a slice that showed
  // the pod not ready already counts from the trigger); nullopt until all did, and when no slice
  // holds the pod (slices == 0).
  std::optional<SliceTime> everywhere;
  // One line for people: "web-x7k2p (IPv4) at +0.812s, web-9fz1q (IPv6) still ready".
  std::string detail;
};

// Keeps, per slice that holds (or held) the pod, its conditions and since when it stopped routing
// to the pod. Thread-compatible.
class EndpointSliceTracker {
 public:
  explicit EndpointSliceTracker(std::string pod_uid) : pod_uid_(std::move(pod_uid)) {}

  const std::string& pod_uid() const { return pod_uid_; }
  // Where a watch resumes: the last list's or event's (bookmarks included); "" before a list.
  const std::string& resource_version() const { return resource_version_; }
  bool listed() const { return listed_; }

  // A whole list (every page of one), read at `seen`: it replaces what was known. A tracked
  // slice the list lacks was deleted meanwhile (removed at `seen`); one whose state did not
  // change keeps the time it changed.
  void ApplyList(const std::vector<SliceOfPod>& slices, std::string resource_version,
                 SliceTime seen);

  enum class Applied {
    kApplied,
    kStale,  // older than what is known of that slice (an event replayed after a resume)
    kGone,   // ERROR 410: the resourceVersion is too old; relist
    kError,  // another ERROR: the watch must restart (from the last resourceVersion)
    kFull,   // kMaxTrackedSlices reached: the view cannot be trusted
  };
  Applied Apply(const SliceWatchEvent& event, SliceTime seen);

  EndpointRemoval Removal(SliceTime trigger) const;
  // Slices tracked (holding the pod or having dropped it), for tests and the log.
  size_t tracked() const { return slices_.size(); }

 private:
  struct Tracked {
    SliceOfPod slice;
    bool deleted = false;
    std::optional<SliceTime> removed_since;  // the start of its current stretch of Removed()
  };
  void Update(SliceOfPod slice, bool deleted, SliceTime seen);

  std::string pod_uid_;
  std::string resource_version_;
  bool listed_ = false;
  std::vector<Tracked> slices_;  // by name; a handful
};

// Whether resource version `next` is older than `known`. The API calls them opaque, but every
// etcd-backed server writes decimal integers that grow; anything else is never called older.
bool OlderResourceVersion(std::string_view next, std::string_view known);

}  // namespace lastcall::kubeapi

#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"

// The seam through which `lb_delay: auto` asks what the cluster itself says of the pod's
// endpoint: since when every EndpointSlice that held it stopped routing to it (ready=false,
// terminating, dropped, or the slice deleted). The sidecar implements it over the EndpointSlice
// watch (kubeapi/endpoint_watch.h); tests with a script. Without one, or when it says
// kUnavailable, the LB wait is exactly what it is without a cluster (lb_wait.h).
namespace lastcall {

enum class EndpointViewState {
  kUnavailable,  // no view: no API access, RBAC refused, the watch failed
  kStarting,     // the watch is starting: nothing known yet
  kRouted,       // known: some slice still routes to the pod
  kRemoved,      // every slice that held the pod shows the change (removed_at)
  kNotListed,    // no EndpointSlice holds the pod: no Service routes to it
};
std::string_view ToString(EndpointViewState state);

struct EndpointRemovalView {
  EndpointViewState state = EndpointViewState::kUnavailable;
  // kRemoved: when the last slice showed it, on the Clock's time line, never before the trigger.
  std::optional<Clock::time_point> removed_at;
  size_t slices = 0;   // slices that held the pod at the trigger or after
  size_t removed = 0;  // of them, those that show the change
  std::string detail;  // one line for people: the slices and their state, or why unavailable
};

class EndpointView {
 public:
  virtual ~EndpointView() = default;
  // What is known now, for the sequence triggered at `trigger`. Never blocks. Thread-safe.
  virtual EndpointRemovalView Removal(Clock::time_point trigger) = 0;
};

}  // namespace lastcall

#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "config/config.h"
#include "monitors/traffic_observer.h"
#include "sequence/endpoint_view.h"

// `lb_delay: auto`: the wait for load balancers to stop routing to the pod ends when the traffic
// says so, not after a guessed time. Once unready, it ends when `min` has passed and no new
// connection and no new request bytes reached the app's ports for `quiet`, as the kernel sees
// them (TrafficObserver); `max` bounds it.
//
// With the cluster's view of the endpoint (EndpointView: the EndpointSlices, given API access),
// it also never ends before every slice that held the pod stopped routing to it, plus `quiet`:
// the quiet window counts from the later of the last traffic and that removal. The view has
// `endpoint_wait` from unready to start; a view that is not there by then, or says it is
// unavailable, is ignored from then on, and the wait is what it is without one.
//
// The honest limit: at very low traffic (a request every few seconds), a quiet window can fall
// between two requests that the balancer still routes here; `min` is the user's floor for that,
// and the drain that follows still serves whatever arrives.
namespace lastcall {

enum class LbWaitEnd {
  kQuiet,      // no traffic for `quiet`, after `min`
  kMax,        // traffic kept arriving (or could not be observed) until `max`
  kDeadline,   // the caller's hard end (the grace period) came first
  kCancelled,  // the caller's `cancelled` said stop (the app is gone)
};
std::string_view ToString(LbWaitEnd end);

struct LbWaitOutcome {
  LbWaitEnd end = LbWaitEnd::kMax;
  std::string detail;  // one sentence for the log and /status: why it ended
  Clock::time_point ended{};
  std::optional<Clock::time_point> last_activity;  // the last traffic seen on the ports
  // The cluster's view, when one was given: its state when the wait ended, and when every
  // EndpointSlice showed the pod removed (kRemoved).
  std::optional<EndpointViewState> endpoints;
  std::optional<Clock::time_point> endpoint_removed;
};

// How often the ports are looked at: often enough to end within quiet + 100 ms of the last
// request, and to see a connection that opens and closes between two looks in TIME_WAIT.
inline constexpr Millis kLbWaitInterval{50};

// Waits from `unready_at` until the traffic stops (see above), `hard_end` at the latest, or until
// `cancelled()` (asked after each look) returns true. Observations come from `traffic`, whose
// snapshot times must be on `clock`'s time line (steady_clock for the real ones); each look is
// given the wait's own end as its deadline, so a slow one (a socket flood) cannot overrun it.
// A failed observation is not quiet: the wait goes on, and ends at `max` if none succeeds.
// `endpoints` (may be null: no cluster view) is asked after each look (see above).
LbWaitOutcome WaitForQuietPorts(const LbDelay::Auto& config, Clock::time_point unready_at,
                                Clock::time_point hard_end, Clock& clock, TrafficObserver& traffic,
                                const std::function<bool()>& cancelled = {},
                                EndpointView* endpoints = nullptr);

}  // namespace lastcall

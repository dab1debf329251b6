#include "sequence/lb_wait.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/duration.h"

namespace lastcall {
namespace {

using TimePoint = Clock::time_point;

std::string Since(TimePoint when, TimePoint unready_at) {
  const auto ms = std::chrono::duration_cast<Millis>(when - unready_at).count();
  return fmt::format("{}{:.3f}s after unready", ms < 0 ? "-" : "+",
                     static_cast<double>(ms < 0 ? -ms : ms) / 1000.0);
}

}  // namespace

std::string_view ToString(EndpointViewState state) {
  switch (state) {
    case EndpointViewState::kUnavailable:
      return "unavailable";
    case EndpointViewState::kStarting:
      return "starting";
    case EndpointViewState::kRouted:
      return "routed";
    case EndpointViewState::kRemoved:
      return "removed";
    case EndpointViewState::kNotListed:
      return "not_listed";
  }
  return "unavailable";
}

std::string_view ToString(LbWaitEnd end) {
  switch (end) {
    case LbWaitEnd::kQuiet:
      return "quiet";
    case LbWaitEnd::kMax:
      return "max";
    case LbWaitEnd::kDeadline:
      return "deadline";
    case LbWaitEnd::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

LbWaitOutcome WaitForQuietPorts(const LbDelay::Auto& config, TimePoint unready_at,
                                TimePoint hard_end, Clock& clock, TrafficObserver& traffic,
                                const std::function<bool()>& cancelled, EndpointView* endpoints) {
  const TimePoint min_end = unready_at + config.min;
  const TimePoint max_end = std::min(unready_at + config.max, hard_end);
  // Quiet counts from the moment the pod turned unready at the earliest: traffic before it is
  // what the balancers were meant to send.
  TimePoint last_activity = unready_at;
  std::optional<TimePoint> seen_activity;
  TrafficSnapshot previous;  // empty at first: every connection then is "new"
  bool observed = false;
  std::string last_error;
  // The cluster's view: consulted while it may still tell (given, not unavailable, and started
  // within endpoint_wait); `view` is its last answer.
  bool consult = endpoints != nullptr;
  EndpointRemovalView view;
  const TimePoint view_start_end = unready_at + config.endpoint_wait;

  LbWaitOutcome outcome;
  auto finish = [&](LbWaitEnd end, std::string detail) {
    outcome.end = end;
    outcome.detail = std::move(detail);
    outcome.ended = clock.Now();
    outcome.last_activity = seen_activity;
    if (endpoints != nullptr) {
      outcome.endpoints = view.state;
      if (view.state == EndpointViewState::kRemoved) outcome.endpoint_removed = view.removed_at;
    }
    return outcome;
  };
  // What the view adds to the sentence: nothing without one (the sentence stays as it was).
  auto cluster = [&]() -> std::string {
    if (endpoints == nullptr) return "";
    switch (view.state) {
      case EndpointViewState::kRemoved:
        return fmt::format("; EndpointSlices: all {} removed the pod, the last at {}", view.slices,
                           Since(view.removed_at.value_or(unready_at), unready_at));
      case EndpointViewState::kRouted:
        return fmt::format("; EndpointSlices: {} of {} still route to the pod ({})",
                           view.slices - view.removed, view.slices, view.detail);
      case EndpointViewState::kNotListed:
        return "; EndpointSlices: none holds the pod";
      case EndpointViewState::kStarting:
      case EndpointViewState::kUnavailable:
        return "; EndpointSlices: no view (" + view.detail + ")";
    }
    return "";
  };
  auto last_seen = [&] {
    return seen_activity ? "the last at " + Since(*seen_activity, unready_at)
                         : std::string("none since unready");
  };

  while (true) {
    if (clock.Now() >= max_end) {
      if (max_end < unready_at + config.max) {
        return finish(LbWaitEnd::kDeadline,
                      "lb_delay auto: stopped waiting to fit the grace period; traffic: " +
                          last_seen() + cluster());
      }
      if (!observed) {
        return finish(LbWaitEnd::kMax, "lb_delay auto: traffic could not be observed (" +
                                           last_error + "): waited max " +
                                           FormatDuration(config.max) + cluster());
      }
      if (consult && view.state == EndpointViewState::kRouted) {
        return finish(LbWaitEnd::kMax,
                      "lb_delay auto: the cluster still routed to the pod at max " +
                          FormatDuration(config.max) + "; traffic: " + last_seen() + cluster());
      }
      return finish(LbWaitEnd::kMax, "lb_delay auto: traffic kept arriving until max " +
                                         FormatDuration(config.max) + "; " + last_seen() +
                                         cluster());
    }
    Observation look = traffic.Observe(max_end);
    const bool looked = look.snapshot.has_value();
    if (looked) {
      observed = true;
      const TrafficSince since = CompareTraffic(previous, *look.snapshot);
      if (since.last_activity && *since.last_activity > last_activity) {
        last_activity = *since.last_activity;
        seen_activity = last_activity;
      }
      previous = std::move(*look.snapshot);
    } else {
      last_error = look.error;
    }
    if (cancelled && cancelled()) return finish(LbWaitEnd::kCancelled, "the app is gone");
    TimePoint quiet_end = std::max(min_end, last_activity + config.quiet);
    // The view holds the end back while it may still tell: starting (within endpoint_wait), or
    // some slice still routing to the pod.
    bool view_holds = false;
    if (consult) {
      view = endpoints->Removal(unready_at);
      switch (view.state) {
        case EndpointViewState::kStarting:
          if (clock.Now() >= view_start_end) {
            view.state = EndpointViewState::kUnavailable;
            view.detail = "the EndpointSlice watch did not start within endpoint_wait " +
                          FormatDuration(config.endpoint_wait);
            consult = false;
          } else {
            view_holds = true;
          }
          break;
        case EndpointViewState::kRouted:
          view_holds = true;
          break;
        case EndpointViewState::kRemoved:
          if (view.removed_at) quiet_end = std::max(quiet_end, *view.removed_at + config.quiet);
          break;
        case EndpointViewState::kUnavailable:
        case EndpointViewState::kNotListed:
          consult = false;
          break;
      }
    }
    const TimePoint now = clock.Now();
    // Only a successful look at or after quiet_end proves the quiet.
    if (looked && now >= quiet_end && !view_holds) {
      return finish(LbWaitEnd::kQuiet,
                    fmt::format("lb_delay auto: no new connection or request for quiet {}; "
                                "traffic: {}{}",
                                FormatDuration(config.quiet), last_seen(), cluster()));
    }
    TimePoint next = now + kLbWaitInterval;
    if (quiet_end > now) next = std::min(next, quiet_end);
    // A view still starting is given up at endpoint_wait to the millisecond.
    if (consult && view.state == EndpointViewState::kStarting && view_start_end > now) {
      next = std::min(next, view_start_end);
    }
    next = std::min(next, max_end);
    while (clock.Now() < next) clock.SleepUntil(next);
  }
}

}  // namespace lastcall

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
                                const std::function<bool()>& cancelled) {
  const TimePoint min_end = unready_at + config.min;
  const TimePoint max_end = std::min(unready_at + config.max, hard_end);
  // Quiet counts from the moment the pod turned unready at the earliest: traffic before it is
  // what the balancers were meant to send.
  TimePoint last_activity = unready_at;
  std::optional<TimePoint> seen_activity;
  TrafficSnapshot previous;  // empty at first: every connection then is "new"
  bool observed = false;
  std::string last_error;

  LbWaitOutcome outcome;
  auto finish = [&](LbWaitEnd end, std::string detail) {
    outcome.end = end;
    outcome.detail = std::move(detail);
    outcome.ended = clock.Now();
    outcome.last_activity = seen_activity;
    return outcome;
  };
  auto last_seen = [&] {
    return seen_activity ? "the last at " + Since(*seen_activity, unready_at)
                         : std::string("none since unready");
  };

  while (true) {
    if (clock.Now() >= max_end) {
      if (max_end < unready_at + config.max) {
        return finish(
            LbWaitEnd::kDeadline,
            "lb_delay auto: stopped waiting to fit the grace period; traffic: " + last_seen());
      }
      if (!observed) {
        return finish(LbWaitEnd::kMax, "lb_delay auto: traffic could not be observed (" +
                                           last_error + "): waited max " +
                                           FormatDuration(config.max));
      }
      return finish(LbWaitEnd::kMax, "lb_delay auto: traffic kept arriving until max " +
                                         FormatDuration(config.max) + "; " + last_seen());
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
    const TimePoint quiet_end = std::max(min_end, last_activity + config.quiet);
    const TimePoint now = clock.Now();
    // Only a successful look at or after quiet_end proves the quiet.
    if (looked && now >= quiet_end) {
      return finish(LbWaitEnd::kQuiet,
                    fmt::format("lb_delay auto: no new connection or request for quiet {}; "
                                "traffic: {}",
                                FormatDuration(config.quiet), last_seen()));
    }
    TimePoint next = now + kLbWaitInterval;
    if (quiet_end > now) next = std::min(next, quiet_end);
    next = std::min(next, max_end);
    while (clock.Now() < next) clock.SleepUntil(next);
  }
}

}  // namespace lastcall

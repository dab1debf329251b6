#include "kubeapi/endpoint_watch.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "base/text.h"

namespace lastcall::kubeapi {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The most pages one list reads (100 slices each): a namespace with more slices than this is
// beyond what the view was made for, and the list gives up rather than loop.
constexpr int kMaxListPages = 1000;

std::string PercentEncode(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", byte);
    }
  }
  return out;
}

// A DNS-1123 label, as Kubernetes names namespaces: it goes into a path unescaped.
bool ValidNamespace(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

void DefaultLog(LogLevel level, std::string_view line) { Log(level, line); }

}  // namespace

std::string SliceListPath(std::string_view namespace_name, std::string_view continue_token) {
  std::string path = fmt::format("/apis/discovery.k8s.io/v1/namespaces/{}/endpointslices?limit={}",
                                 namespace_name, kSliceListPage);
  if (!continue_token.empty()) path += "&continue=" + PercentEncode(continue_token);
  return path;
}

std::string SliceWatchPath(std::string_view namespace_name, std::string_view resource_version,
                           std::chrono::seconds timeout) {
  return fmt::format(
      "/apis/discovery.k8s.io/v1/namespaces/{}/endpointslices?allowWatchBookmarks=true&"
      "resourceVersion={}&timeoutSeconds={}&watch=1",
      namespace_name, PercentEncode(resource_version), timeout.count());
}

std::string_view ToString(WatchEnd end) {
  switch (end) {
    case WatchEnd::kClosed:
      return "closed";
    case WatchEnd::kStatus:
      return "status";
    case WatchEnd::kDeadline:
      return "deadline";
    case WatchEnd::kStopped:
      return "stopped";
    case WatchEnd::kTooLarge:
      return "too_large";
    case WatchEnd::kFailed:
      return "failed";
  }
  return "failed";
}

std::string_view ToString(EndpointWatchState state) {
  switch (state) {
    case EndpointWatchState::kIdle:
      return "idle";
    case EndpointWatchState::kStarting:
      return "starting";
    case EndpointWatchState::kListed:
      return "listed";
    case EndpointWatchState::kFailed:
      return "failed";
  }
  return "failed";
}

EndpointWatch::EndpointWatch(WatchSource& source, EndpointWatchSettings settings,
                             OnChange on_change, LogSink log)
    : source_(source),
      settings_(std::move(settings)),
      on_change_(std::move(on_change)),
      log_(log ? std::move(log) : LogSink(DefaultLog)),
      tracker_(settings_.pod_uid) {}

EndpointWatch::~EndpointWatch() { Stop(); }

void EndpointWatch::Start() {
  std::lock_guard lock(mu_);
  if (state_ != EndpointWatchState::kIdle) return;
  if (!ValidNamespace(settings_.namespace_name) || settings_.pod_uid.empty()) {
    state_ = EndpointWatchState::kFailed;
    why_ = settings_.pod_uid.empty()
               ? std::string("the pod's UID is not known (POD_UID from the downward API)")
               : fmt::format("the namespace \"{}\" is no Kubernetes namespace name",
                             EscapeForDisplay(settings_.namespace_name));
    log_(LogLevel::kWarn, "EndpointSlice watch not started: " + why_ +
                              "; lb_delay auto goes on without the cluster's view");
    return;
  }
  state_ = EndpointWatchState::kStarting;
  thread_ = std::jthread([this](std::stop_token stop) { Run(std::move(stop)); });
}

void EndpointWatch::RequestStop() {
  std::lock_guard lock(mu_);
  thread_.request_stop();
  cv_.notify_all();
}

void EndpointWatch::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

EndpointWatch::View EndpointWatch::Removal(SliceTime trigger) const {
  std::lock_guard lock(mu_);
  View view;
  view.state = state_;
  view.why = why_;
  if (state_ == EndpointWatchState::kListed) view.removal = tracker_.Removal(trigger);
  return view;
}

void EndpointWatch::Changed() {
  if (on_change_) on_change_();
}

void EndpointWatch::Warn(std::string_view kind, std::string_view line) {
  const bool first = warned_.insert(std::string(kind)).second;
  log_(first ? LogLevel::kWarn : LogLevel::kDebug, line);
}

bool EndpointWatch::SleepBackoff(std::stop_token stop) {
  backoff_ =
      backoff_.count() == 0 ? settings_.backoff_min : std::min(backoff_ * 2, settings_.backoff_max);
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, stop, backoff_, [] { return false; });
  return !stop.stop_requested();
}

EndpointWatch::Next EndpointWatch::Failure(int status, std::string_view body,
                                           std::string_view what) {
  std::string message;
  const Expected<SliceWatchEvent> parsed = ParseSliceWatchEvent(
      fmt::format("{{\"type\":\"ERROR\",\"object\":{}}}", body.empty() ? "{}" : body), "");
  if (parsed.ok() && !parsed->message.empty()) message = ": " + parsed->message;
  const std::string ns = settings_.namespace_name;
  if (status == 403 || status == 404) {
    const std::string why =
        status == 403 ? fmt::format(
                            "403 Forbidden: RBAC does not allow this service account to {} "
                            "endpointslices in namespace {} (grant it the Role in "
                            "deploy/kubernetes){}",
                            what, ns, message)
                      : fmt::format(
                            "404 Not Found: the API server does not serve "
                            "discovery.k8s.io/v1 endpointslices in namespace {} (Kubernetes 1.21 "
                            "or later is needed){}",
                            ns, message);
    {
      std::lock_guard lock(mu_);
      state_ = EndpointWatchState::kFailed;
      why_ = why;
    }
    log_(LogLevel::kWarn, "EndpointSlice watch given up: " + why +
                              "; lb_delay auto goes on without the cluster's view");
    Changed();
    return Next::kStop;
  }
  std::string kind;
  std::string line;
  if (status == 401) {
    kind = "401";
    line = fmt::format(
        "EndpointSlice {}: 401 Unauthorized: the service account token was "
        "refused (expired or revoked?); retrying with backoff{}",
        what, message);
  } else if (status == 429) {
    kind = "429";
    line = fmt::format(
        "EndpointSlice {}: 429 Too Many Requests: the API server is throttling; retrying with "
        "backoff{}",
        what, message);
  } else if (status >= 500) {
    kind = "5xx";
    line = fmt::format("EndpointSlice {}: {} from the API server; retrying with backoff{}", what,
                       status, message);
  } else {
    kind = fmt::format("status {}", status);
    line = fmt::format("EndpointSlice {}: unexpected status {}; retrying with backoff{}", what,
                       status, message);
  }
  {
    std::lock_guard lock(mu_);
    if (state_ == EndpointWatchState::kStarting) why_ = line;
  }
  Warn(kind, line);
  return Next::kBackOff;
}

bool EndpointWatch::Relist(std::stop_token stop) {
  std::vector<SliceOfPod> slices;
  std::string continue_token;
  std::string resource_version;
  for (int page = 0; page < kMaxListPages; ++page) {
    const Deadline deadline = SteadyClock::now() + settings_.list_timeout;
    Expected<ListAnswer> answer =
        source_.List(SliceListPath(settings_.namespace_name, continue_token), deadline, stop);
    if (stop.stop_requested()) return false;
    if (!answer.ok()) {
      const std::string line =
          "EndpointSlice list failed: " + answer.status().message() + "; retrying with backoff";
      {
        std::lock_guard lock(mu_);
        if (state_ == EndpointWatchState::kStarting) why_ = line;
      }
      Warn("list transport", line);
      return false;
    }
    if (answer->status == 410 && !continue_token.empty()) {
      // The continue token expired between two pages: the list starts over.
      log_(LogLevel::kDebug, "EndpointSlice list: the continue token expired; listing again");
      slices.clear();
      continue_token.clear();
      continue;
    }
    if (answer->status != 200) {
      Failure(answer->status, answer->body, "list");
      return false;
    }
    Expected<SliceListPage> parsed = ParseSliceList(answer->body, settings_.pod_uid);
    if (!parsed.ok()) {
      Warn("list parse", "EndpointSlice list unreadable: " + parsed.status().message() +
                             "; retrying with backoff");
      return false;
    }
    for (SliceOfPod& slice : parsed->slices) slices.push_back(std::move(slice));
    resource_version = parsed->resource_version;
    continue_token = parsed->continue_token;
    if (continue_token.empty()) break;
  }
  if (!continue_token.empty()) {
    Warn("list pages", fmt::format("EndpointSlice list: more than {} pages in namespace {}; "
                                   "giving up this list",
                                   kMaxListPages, settings_.namespace_name));
    return false;
  }
  bool first = false;
  {
    std::lock_guard lock(mu_);
    tracker_.ApplyList(slices, resource_version, SteadyClock::now());
    first = state_ == EndpointWatchState::kStarting;
    state_ = EndpointWatchState::kListed;
    why_.clear();
  }
  if (first) {
    log_(LogLevel::kDebug, fmt::format("EndpointSlice watch: listed namespace {}: {} slice(s) "
                                       "hold the pod",
                                       settings_.namespace_name, slices.size()));
  }
  Changed();
  return true;
}

EndpointWatch::Next EndpointWatch::WatchOnce(std::stop_token stop) {
  std::string resource_version;
  {
    std::lock_guard lock(mu_);
    resource_version = tracker_.resource_version();
  }
  Next next = Next::kResume;
  size_t lines = 0;
  auto on_line = [&](std::string_view line) {
    lines += 1;
    Expected<SliceWatchEvent> event = ParseSliceWatchEvent(line, settings_.pod_uid);
    if (!event.ok()) {
      // An event missed: only a new list makes the view whole again.
      Warn("watch parse", "EndpointSlice watch: " + event.status().message() + "; listing again");
      next = Next::kRelistLater;
      return false;
    }
    EndpointSliceTracker::Applied applied;
    {
      std::lock_guard lock(mu_);
      applied = tracker_.Apply(*event, SteadyClock::now());
    }
    switch (applied) {
      case EndpointSliceTracker::Applied::kApplied:
        backoff_ = std::chrono::milliseconds(0);
        if (event->type != WatchEventType::kBookmark) Changed();
        return true;
      case EndpointSliceTracker::Applied::kStale:
        return true;
      case EndpointSliceTracker::Applied::kGone:
        log_(LogLevel::kDebug,
             "EndpointSlice watch: 410 Gone (" + event->message + "): listing again");
        // Right after a list, a 410 says the server cannot serve its own version: not at once.
        next = lines == 1 ? Next::kRelistLater : Next::kRelist;
        return false;
      case EndpointSliceTracker::Applied::kError:
        Warn("watch error event",
             fmt::format("EndpointSlice watch: the API server sent an error ({} {}: {}); "
                         "resuming with backoff",
                         event->code, event->reason, event->message));
        next = Next::kBackOff;
        return false;
      case EndpointSliceTracker::Applied::kFull: {
        const std::string why =
            fmt::format("more than {} EndpointSlices hold the pod", kMaxTrackedSlices);
        {
          std::lock_guard lock(mu_);
          state_ = EndpointWatchState::kFailed;
          why_ = why;
        }
        log_(LogLevel::kWarn, "EndpointSlice watch given up: " + why);
        Changed();
        next = Next::kStop;
        return false;
      }
    }
    return true;
  };
  const auto started = SteadyClock::now();
  const Deadline deadline = started + settings_.watch_timeout + kWatchGrace;
  const WatchResult result = source_.Watch(
      SliceWatchPath(settings_.namespace_name, resource_version, settings_.watch_timeout), deadline,
      stop, on_line);
  if (stop.stop_requested()) return Next::kStop;
  switch (result.end) {
    case WatchEnd::kStopped:
      return next;
    case WatchEnd::kClosed:
    case WatchEnd::kDeadline:
      // The server's timeoutSeconds, or a stream that went silent past it: resume. A server that
      // closes every watch at once, saying nothing, is not asked again in a tight loop.
      if (lines == 0 && SteadyClock::now() - started < std::chrono::seconds(1)) {
        Warn("watch closed",
             "EndpointSlice watch: the API server closed the stream at once; "
             "resuming with backoff");
        return Next::kBackOff;
      }
      return Next::kResume;
    case WatchEnd::kStatus:
      if (result.status == 410) return Next::kRelistLater;  // not an event: nothing came first
      return Failure(result.status, result.body, "watch");
    case WatchEnd::kTooLarge:
      Warn("watch too large", "EndpointSlice watch: " + result.error + "; listing again");
      return Next::kRelistLater;
    case WatchEnd::kFailed:
      Warn("watch transport",
           "EndpointSlice watch failed: " + result.error + "; resuming with backoff");
      return Next::kBackOff;
  }
  return Next::kBackOff;
}

void EndpointWatch::Run(std::stop_token stop) {
  bool need_list = true;
  while (!stop.stop_requested()) {
    if (need_list) {
      if (!Relist(stop)) {
        {
          std::lock_guard lock(mu_);
          if (state_ == EndpointWatchState::kFailed) return;
        }
        if (!SleepBackoff(stop)) return;
        continue;
      }
      need_list = false;
    }
    switch (WatchOnce(stop)) {
      case Next::kResume:
        break;
      case Next::kRelist:
        need_list = true;
        break;
      case Next::kRelistLater:
        need_list = true;
        if (!SleepBackoff(stop)) return;
        break;
      case Next::kBackOff:
        if (!SleepBackoff(stop)) return;
        break;
      case Next::kStop:
        return;
    }
  }
}

}  // namespace lastcall::kubeapi

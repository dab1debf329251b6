#include "sidecar/cluster_endpoint_view.h"

#include <utility>

namespace lastcall {

EndpointRemovalView ToRemovalView(const kubeapi::EndpointWatch::View& view) {
  EndpointRemovalView out;
  switch (view.state) {
    case kubeapi::EndpointWatchState::kIdle:
    case kubeapi::EndpointWatchState::kStarting:
      out.state = EndpointViewState::kStarting;
      out.detail = view.why.empty() ? std::string("the EndpointSlice watch is starting") : view.why;
      return out;
    case kubeapi::EndpointWatchState::kFailed:
      out.state = EndpointViewState::kUnavailable;
      out.detail = view.why;
      return out;
    case kubeapi::EndpointWatchState::kListed:
      break;
  }
  out.slices = view.removal.slices;
  out.removed = view.removal.removed;
  out.detail = view.removal.detail;
  if (out.slices == 0) {
    out.state = EndpointViewState::kNotListed;
  } else if (view.removal.everywhere) {
    out.state = EndpointViewState::kRemoved;
    out.removed_at = *view.removal.everywhere;
  } else {
    out.state = EndpointViewState::kRouted;
  }
  return out;
}

ClusterEndpointView::ClusterEndpointView(kubeapi::WatchSource& source,
                                         kubeapi::EndpointWatchSettings settings,
                                         OnRemoved on_removed, kubeapi::EndpointWatch::LogSink log)
    : source_(source),
      settings_(std::move(settings)),
      on_removed_(std::move(on_removed)),
      log_(std::move(log)) {}

ClusterEndpointView::~ClusterEndpointView() { Stop(); }

void ClusterEndpointView::Stop() {
  std::unique_ptr<kubeapi::EndpointWatch> watch = Take();
  if (watch) watch->Stop();
}

std::unique_ptr<kubeapi::EndpointWatch> ClusterEndpointView::Take() {
  std::lock_guard lock(mu_);
  trigger_.reset();
  return std::move(watch_);
}

EndpointRemovalView ClusterEndpointView::Removal(Clock::time_point trigger) {
  std::lock_guard lock(mu_);
  // Asked before the listener heard the trigger (listeners run outside the coordinator's lock):
  // the watch is about to start.
  if (!watch_) return ToRemovalView(kubeapi::EndpointWatch::View{});
  return ToRemovalView(watch_->Removal(trigger));
}

void ClusterEndpointView::OnEvent(const SequenceEvent& event, const EventContext& context) {
  if (event.kind == EventKind::kTriggered) {
    StartWatch(context.wall);
  } else if (event.kind == EventKind::kResumed && !event.ended) {
    // A sequence that runs on after lastcall restarted: its LB wait may still be waiting for the
    // view, from the original trigger on.
    StartWatch(context.state.triggered_at);
  } else if (event.kind == EventKind::kRecovered || event.kind == EventKind::kExit) {
    Stop();
  }
}

void ClusterEndpointView::StartWatch(std::chrono::system_clock::time_point triggered) {
  std::lock_guard lock(mu_);
  if (watch_) return;
  // The trigger on the steady time line: the event tells its wall time.
  const auto ago = std::chrono::system_clock::now() - triggered;
  trigger_ = Clock::time_point(std::chrono::steady_clock::now()) -
             std::chrono::duration_cast<Clock::duration>(
                 std::max(ago, std::chrono::system_clock::duration::zero()));
  published_ = false;
  watch_ = std::make_unique<kubeapi::EndpointWatch>(
      source_, settings_, [this] { Changed(); }, log_);
  watch_->Start();
}

void ClusterEndpointView::Changed() {
  EndpointRemovalView view;
  {
    std::lock_guard lock(mu_);
    if (!watch_ || !trigger_ || published_) return;
    view = ToRemovalView(watch_->Removal(*trigger_));
    if (view.state != EndpointViewState::kRemoved) return;
    published_ = true;
  }
  if (on_removed_ && view.removed_at) {
    on_removed_(*view.removed_at, static_cast<int>(view.slices), view.detail);
  }
}

}  // namespace lastcall

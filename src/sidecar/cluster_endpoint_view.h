#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "kubeapi/endpoint_watch.h"
#include "kubeapi/watch_source.h"
#include "sequence/endpoint_view.h"
#include "sidecar/sequence_listener.h"

// The cluster's view of the pod's endpoint for `lastcall run`: a listener that starts the
// EndpointSlice watch (kubeapi/endpoint_watch.h) when a sequence is triggered and stops it at
// the exit or a recovery; the EndpointView lb_delay auto consults (sequence/endpoint_view.h);
// and, once every slice that held the pod stopped routing to it, `on_removed` (the coordinator's
// OnEndpointRemoved: the endpoint_removed event, hence /status, the log and the histogram).
// Built only when the API is reachable (the in-cluster configuration); without it there is no
// view and everything works as without a cluster.
namespace lastcall {

class ClusterEndpointView final : public EndpointView, public SequenceListener {
 public:
  // Called on the watch thread, once per sequence.
  using OnRemoved =
      std::function<void(Clock::time_point at, int slices, const std::string& detail)>;

  // `source` must outlive it.
  ClusterEndpointView(kubeapi::WatchSource& source, kubeapi::EndpointWatchSettings settings,
                      OnRemoved on_removed, kubeapi::EndpointWatch::LogSink log = {});
  ~ClusterEndpointView() override;  // Stop()

  // Stops the watch and waits for its thread: on_removed is not called after this returns. Call
  // it before what on_removed calls (the coordinator) goes away. Thread-safe; not from on_removed.
  void Stop();

  // EndpointView.
  EndpointRemovalView Removal(Clock::time_point trigger) override;
  // SequenceListener: triggered (or resumed, when the sequence runs on after a restart) starts
  // the watch; recovered and exit stop it.
  void OnEvent(const SequenceEvent& event, const EventContext& context) override;

 private:
  // Starts the watch for a sequence triggered at `triggered`, unless one runs.
  void StartWatch(std::chrono::system_clock::time_point triggered);
  void Changed();
  std::unique_ptr<kubeapi::EndpointWatch> Take();

  kubeapi::WatchSource& source_;
  const kubeapi::EndpointWatchSettings settings_;
  const OnRemoved on_removed_;
  const kubeapi::EndpointWatch::LogSink log_;

  std::mutex mu_;
  std::unique_ptr<kubeapi::EndpointWatch> watch_;  // GUARDED_BY(mu_): while a sequence runs
  std::optional<Clock::time_point> trigger_;       // GUARDED_BY(mu_)
  bool published_ = false;                         // GUARDED_BY(mu_)
};

// What the watch's view means to the LB wait. Pure.
EndpointRemovalView ToRemovalView(const kubeapi::EndpointWatch::View& view);

}  // namespace lastcall

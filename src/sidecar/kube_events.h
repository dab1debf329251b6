#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/duration.h"
#include "config/config.h"
#include "kubeapi/kube_event.h"
#include "sidecar/sequence_listener.h"

// Reports each termination's outcome as a Kubernetes Event on the pod (kubeapi/kube_event.h):
// reason Drained, DrainTimedOut or Recovered, and a note that tells the sequence in one line,
// built from the typed records (sequence_event.h), never from log sentences:
//
//   unready at +0 ms by signal SIGTERM; LB wait ended at +5003 ms (lb_delay passed); drain ended
//   at +7310 ms (monitor: in_flight 0); traffic after unready: last at +1200 ms; exit code 0
//
// The Event is sent on its own thread as soon as the outcome is known, with a deadline of
// kEventBudget after it; the exit waits for it (AwaitSent) at most that long, so a hanging API
// server costs the exit at most kEventBudget, logged once.
namespace lastcall {

inline constexpr std::chrono::milliseconds kEventBudget{500};

class KubeEventReporter final : public SequenceListener {
 public:
  // Sends through `send` (kubeapi::EventSender::Send in lastcall; a fake in tests).
  using SendFn = std::function<Status(const kubeapi::EventSpec&, kubeapi::Deadline)>;
  explicit KubeEventReporter(SendFn send) : send_(std::move(send)) {}
  ~KubeEventReporter() override;
  KubeEventReporter(const KubeEventReporter&) = delete;
  KubeEventReporter& operator=(const KubeEventReporter&) = delete;

  void OnEvent(const SequenceEvent& event, const EventContext& context) override;

  // Blocks until every Event in flight is sent or failed, or until `deadline`; a give-up is
  // logged. The exit calls it with now + kEventBudget.
  void AwaitSent(std::chrono::steady_clock::time_point deadline);

  // The note of the sequence so far, ending with `outcome` (what decided the end). Tests read it.
  std::string NoteFor(const std::string& outcome) const;

 private:
  struct Sequence {
    std::string trigger;  // "signal SIGTERM", "preStop"
    bool resumed = false;
    std::optional<Millis> lb_end;
    std::string lb_why;
    std::optional<Millis> endpoint_removed;  // when every EndpointSlice had dropped the pod
    int endpoint_slices = 0;
    std::optional<Millis> last_traffic;
    std::optional<Millis> drain_end;
    std::string drain_why;
    int exit_code = 0;
  };
  void Start(kubeapi::EventSpec spec);  // REQUIRES: mu_ held
  std::string NoteLocked(const std::string& outcome) const;

  const SendFn send_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Sequence sequence_;                 // GUARDED_BY(mu_)
  bool reported_ = false;             // GUARDED_BY(mu_): this sequence's Event is out
  int in_flight_ = 0;                 // GUARDED_BY(mu_)
  std::vector<std::thread> senders_;  // GUARDED_BY(mu_)
};

// ConfigRefused: one best-effort Event before `lastcall run` exits 2 on a configuration error,
// when the in-cluster configuration is there; bounded by kEventBudget. `error` is what was
// refused, as the log says it.
void ReportConfigRefused(const Config::KubeApi& config, const std::string& error);

}  // namespace lastcall

#include "sidecar/cluster_endpoint_view.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube_api_fixtures.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;
using test::kFixturePodUid;
using test::KubeApiFixture;

// Answers the fixture list, then streams the fixture's watch lines up to (not including) its
// 410, then holds the stream open until stopped.
class FixtureSource final : public kubeapi::WatchSource {
 public:
  std::atomic<int> lists{0};
  Expected<kubeapi::ListAnswer> List(std::string_view /*path*/, kubeapi::Deadline /*deadline*/,
                                     std::stop_token /*stop*/) override {
    lists += 1;
    return kubeapi::ListAnswer{200, KubeApiFixture("endpointslice_list.json")};
  }
  kubeapi::WatchResult Watch(std::string_view /*path*/, kubeapi::Deadline deadline,
                             std::stop_token stop,
                             const std::function<bool(std::string_view)>& on_line) override {
    for (const std::string& line : test::WatchFixtureLines()) {
      if (line.find("\"ERROR\"") != std::string::npos) break;
      if (!on_line(line)) return {kubeapi::WatchEnd::kStopped, 200, "", ""};
    }
    while (!stop.stop_requested() && Steady::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    return {kubeapi::WatchEnd::kStopped, 200, "", ""};
  }
};

kubeapi::EndpointWatchSettings Settings() {
  kubeapi::EndpointWatchSettings settings;
  settings.namespace_name = "shop";
  settings.pod_uid = kFixturePodUid;
  return settings;
}

SequenceEvent Kind(EventKind kind) {
  SequenceEvent event;
  event.kind = kind;
  return event;
}

TEST_CASE("ClusterEndpointView: starts at the trigger, tells the removal once, stops at exit") {
  FixtureSource source;
  std::mutex mu;
  std::vector<std::pair<int, std::string>> removed;
  ClusterEndpointView view(
      source, Settings(),
      [&](Clock::time_point /*at*/, int slices, const std::string& detail) {
        std::lock_guard lock(mu);
        removed.emplace_back(slices, detail);
      },
      [](LogLevel, std::string_view) {});
  const Clock::time_point trigger = Steady::now();
  // Before the trigger reached the listener: starting, not unavailable.
  CHECK(view.Removal(trigger).state == EndpointViewState::kStarting);
  CHECK(source.lists.load() == 0);
  EventContext context;
  context.wall = std::chrono::system_clock::now();
  view.OnEvent(Kind(EventKind::kTriggered), context);
  const auto end = Steady::now() + milliseconds(3000);
  // The view turns removed, then tells on_removed on the watch thread: wait for both.
  const auto told = [&] {
    std::lock_guard lock(mu);
    return !removed.empty();
  };
  while ((view.Removal(trigger).state != EndpointViewState::kRemoved || !told()) &&
         Steady::now() < end) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  const EndpointRemovalView seen = view.Removal(trigger);
  CHECK(seen.state == EndpointViewState::kRemoved);
  CHECK(seen.slices == 2);
  REQUIRE(seen.removed_at.has_value());
  CHECK(*seen.removed_at >= trigger);
  {
    std::lock_guard lock(mu);
    REQUIRE(removed.size() == 1);
    CHECK(removed[0].first == 2);
    CHECK(removed[0].second.find("web-v6-9fz1q (IPv6) terminating") != std::string::npos);
  }
  // A second trigger (a join) starts nothing new.
  view.OnEvent(Kind(EventKind::kTriggered), context);
  CHECK(source.lists.load() == 1);
  const auto before = Steady::now();
  view.OnEvent(Kind(EventKind::kExit), context);
  CHECK(Steady::now() - before < milliseconds(500));
  CHECK(view.Removal(trigger).state == EndpointViewState::kStarting);
}

TEST_CASE("ClusterEndpointView: a sequence resumed after a restart watches from its trigger") {
  FixtureSource source;
  std::atomic<int> removals{0};
  ClusterEndpointView view(
      source, Settings(),
      [&](Clock::time_point /*at*/, int /*slices*/, const std::string& /*detail*/) {
        removals += 1;
      },
      [](LogLevel, std::string_view) {});
  EventContext context;
  context.wall = std::chrono::system_clock::now();
  context.state.triggered_at = context.wall - milliseconds(1500);
  SequenceEvent ended = Kind(EventKind::kResumed);
  ended.ended = true;
  view.OnEvent(ended, context);  // already over: nothing to watch
  CHECK(source.lists.load() == 0);
  view.OnEvent(Kind(EventKind::kResumed), context);
  const Clock::time_point trigger = Steady::now() - milliseconds(1500);
  const auto end = Steady::now() + milliseconds(3000);
  while (removals.load() == 0 && Steady::now() < end) std::this_thread::sleep_for(milliseconds(2));
  CHECK(source.lists.load() == 1);
  CHECK(removals.load() == 1);
  const EndpointRemovalView seen = view.Removal(trigger);
  CHECK(seen.state == EndpointViewState::kRemoved);
  view.Stop();
}

TEST_CASE("ToRemovalView: what the watch's view means to the LB wait") {
  kubeapi::EndpointWatch::View watch;
  watch.state = kubeapi::EndpointWatchState::kFailed;
  watch.why = "403 Forbidden";
  CHECK(ToRemovalView(watch).state == EndpointViewState::kUnavailable);
  CHECK(ToRemovalView(watch).detail == "403 Forbidden");
  watch.state = kubeapi::EndpointWatchState::kListed;
  CHECK(ToRemovalView(watch).state == EndpointViewState::kNotListed);
  watch.removal.slices = 2;
  watch.removal.removed = 1;
  CHECK(ToRemovalView(watch).state == EndpointViewState::kRouted);
  watch.removal.removed = 2;
  watch.removal.everywhere = Steady::now();
  CHECK(ToRemovalView(watch).state == EndpointViewState::kRemoved);
  CHECK(ToRemovalView(watch).removed_at == watch.removal.everywhere);
}

}  // namespace
}  // namespace lastcall

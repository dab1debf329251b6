#include "kubeapi/endpoint_slices.h"

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kube_api_fixtures.h"

namespace lastcall::kubeapi {
namespace {

using std::chrono::milliseconds;
using test::kFixturePodUid;
using test::KubeApiFixture;

const SliceTime kT0{std::chrono::seconds(1000)};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

SliceWatchEvent Event(const std::string& line) {
  Expected<SliceWatchEvent> event = ParseSliceWatchEvent(line, kFixturePodUid);
  REQUIRE_MESSAGE(event.ok(), event.status().message());
  return *event;
}

// A watch line of one slice holding the pod (or not), as the API server writes it.
std::string SliceLine(std::string_view type, std::string_view name, std::string_view rv,
                      std::string_view conditions, bool holds = true,
                      std::string_view family = "IPv4") {
  const std::string endpoint =
      holds ? std::string(R"({"addresses":["10.0.0.1"],"conditions":)") + std::string(conditions) +
                  R"(,"targetRef":{"kind":"Pod","name":"web-1","uid":")" + kFixturePodUid + R"("}})"
            : std::string();
  return std::string(R"({"type":")") + std::string(type) +
         R"(","object":{"kind":"EndpointSlice","metadata":{"name":")" + std::string(name) +
         R"(","resourceVersion":")" + std::string(rv) + R"("},"addressType":")" +
         std::string(family) + R"(","endpoints":[)" + endpoint + "]}}";
}

constexpr const char* kReady = R"({"ready":true,"serving":true,"terminating":false})";
constexpr const char* kTerminating = R"({"ready":false,"serving":true,"terminating":true})";

EndpointSliceTracker Listed() {
  Expected<SliceListPage> page =
      ParseSliceList(KubeApiFixture("endpointslice_list.json"), kFixturePodUid);
  REQUIRE_MESSAGE(page.ok(), page.status().message());
  EndpointSliceTracker tracker(kFixturePodUid);
  tracker.ApplyList(page->slices, page->resource_version, kT0);
  return tracker;
}

TEST_CASE("endpoint slices: the API reference's list keeps only the pod's slices") {
  Expected<SliceListPage> page =
      ParseSliceList(KubeApiFixture("endpointslice_list.json"), kFixturePodUid);
  REQUIRE_MESSAGE(page.ok(), page.status().message());
  CHECK(page->resource_version == "184467");
  CHECK(page->continue_token.empty());
  CHECK(page->items == 3);
  REQUIRE(page->slices.size() == 2);
  CHECK(page->slices[0].name == "web-x7k2p");
  CHECK(page->slices[0].address_type == "IPv4");
  CHECK(page->slices[0].resource_version == "184410");
  CHECK(page->slices[0].holds_pod);
  CHECK(page->slices[0].ready);
  CHECK_FALSE(page->slices[0].terminating);
  CHECK(page->slices[1].name == "web-v6-9fz1q");
  CHECK(page->slices[1].address_type == "IPv6");
}

TEST_CASE("endpoint slices: dual-stack, both slices must show the change (fixture stream)") {
  EndpointSliceTracker tracker = Listed();
  const SliceTime trigger = kT0 + milliseconds(100);
  CHECK(tracker.Removal(trigger).slices == 2);
  CHECK_FALSE(tracker.Removal(trigger).everywhere);
  const std::vector<std::string> lines = Lines(KubeApiFixture("endpointslice_watch.jsonl"));
  REQUIRE(lines.size() == 6);
  // The initial bookmark only moves the resourceVersion.
  CHECK(tracker.Apply(Event(lines[0]), trigger) == EndpointSliceTracker::Applied::kApplied);
  CHECK(tracker.resource_version() == "184470");
  // IPv4 turns terminating at +800 ms: one of two.
  CHECK(tracker.Apply(Event(lines[1]), trigger + milliseconds(800)) ==
        EndpointSliceTracker::Applied::kApplied);
  EndpointRemoval half = tracker.Removal(trigger);
  CHECK(half.removed == 1);
  CHECK_FALSE(half.everywhere);
  CHECK(half.detail == "web-x7k2p (IPv4) terminating at +0.800s, web-v6-9fz1q (IPv6) still ready");
  // Another pod's slice changes nothing.
  CHECK(tracker.Apply(Event(lines[2]), trigger + milliseconds(900)) ==
        EndpointSliceTracker::Applied::kApplied);
  CHECK(tracker.tracked() == 2);
  // IPv6 at +1.3 s: removed everywhere then.
  CHECK(tracker.Apply(Event(lines[3]), trigger + milliseconds(1300)) ==
        EndpointSliceTracker::Applied::kApplied);
  const EndpointRemoval all = tracker.Removal(trigger);
  REQUIRE(all.everywhere.has_value());
  CHECK(*all.everywhere == trigger + milliseconds(1300));
  CHECK(all.slices == 2);
  CHECK(all.removed == 2);
  CHECK(tracker.resource_version() == "184504");
  CHECK(tracker.Apply(Event(lines[4]), trigger) == EndpointSliceTracker::Applied::kApplied);
  CHECK(tracker.resource_version() == "184530");
  // 410 Gone: the caller relists.
  const SliceWatchEvent gone = Event(lines[5]);
  CHECK(gone.type == WatchEventType::kError);
  CHECK(gone.code == 410);
  CHECK(gone.reason == "Expired");
  CHECK(tracker.Apply(gone, trigger) == EndpointSliceTracker::Applied::kGone);
  CHECK(tracker.resource_version() == "184530");
}

TEST_CASE("endpoint slices: deleted, dropped, and a slice seen only after the trigger") {
  const SliceTime trigger = kT0;
  EndpointSliceTracker tracker(kFixturePodUid);
  tracker.ApplyList({}, "10", kT0);
  CHECK(tracker.Removal(trigger).slices == 0);
  CHECK_FALSE(tracker.Removal(trigger).everywhere);  // holds nothing: no time to give
  CHECK(tracker.Removal(trigger).detail == "no EndpointSlice holds the pod");
  // A slice first seen already changed counts when seen, erring late.
  tracker.Apply(Event(SliceLine("ADDED", "a", "11", kTerminating)), trigger + milliseconds(500));
  REQUIRE(tracker.Removal(trigger).everywhere);
  CHECK(*tracker.Removal(trigger).everywhere == trigger + milliseconds(500));
  // A ready one: the view waits again.
  tracker.Apply(Event(SliceLine("ADDED", "b", "12", kReady)), trigger + milliseconds(600));
  CHECK_FALSE(tracker.Removal(trigger).everywhere);
  // The slice deleted outright counts as removed.
  tracker.Apply(Event(SliceLine("DELETED", "b", "13", kReady)), trigger + milliseconds(900));
  REQUIRE(tracker.Removal(trigger).everywhere);
  CHECK(*tracker.Removal(trigger).everywhere == trigger + milliseconds(900));
  CHECK(tracker.Removal(trigger).detail ==
        "a (IPv4) terminating at +0.500s, b (IPv4) deleted at +0.900s");
  // An endpoint dropped from its slice (the controller repacks, or removes it).
  tracker.Apply(Event(SliceLine("ADDED", "c", "14", kReady)), trigger + milliseconds(950));
  tracker.Apply(Event(SliceLine("MODIFIED", "c", "15", kReady, /*holds=*/false)),
                trigger + milliseconds(1200));
  REQUIRE(tracker.Removal(trigger).everywhere);
  CHECK(*tracker.Removal(trigger).everywhere == trigger + milliseconds(1200));
}

TEST_CASE("endpoint slices: ready again after the trigger undoes the change") {
  EndpointSliceTracker tracker(kFixturePodUid);
  tracker.ApplyList({}, "1", kT0);
  tracker.Apply(Event(SliceLine("ADDED", "a", "2", kTerminating)), kT0 + milliseconds(100));
  tracker.Apply(Event(SliceLine("MODIFIED", "a", "3", kReady)), kT0 + milliseconds(200));
  CHECK_FALSE(tracker.Removal(kT0).everywhere);
  tracker.Apply(Event(SliceLine("MODIFIED", "a", "4", kTerminating)), kT0 + milliseconds(700));
  REQUIRE(tracker.Removal(kT0).everywhere);
  CHECK(*tracker.Removal(kT0).everywhere == kT0 + milliseconds(700));
}

TEST_CASE("endpoint slices: before the trigger") {
  // Not ready before the trigger: counts from the trigger, never earlier.
  EndpointSliceTracker tracker(kFixturePodUid);
  tracker.ApplyList({}, "1", kT0);
  tracker.Apply(Event(SliceLine("ADDED", "a", "2", kTerminating)), kT0);
  const SliceTime trigger = kT0 + milliseconds(5000);
  REQUIRE(tracker.Removal(trigger).everywhere);
  CHECK(*tracker.Removal(trigger).everywhere == trigger);
  // A slice that dropped the pod before the trigger was not routing to it: it does not count.
  tracker.Apply(Event(SliceLine("ADDED", "b", "3", kReady)), kT0);
  tracker.Apply(Event(SliceLine("MODIFIED", "b", "4", kReady, false)), kT0 + milliseconds(10));
  CHECK(tracker.Removal(trigger).slices == 1);
}

TEST_CASE("endpoint slices: an event older than what is known is stale") {
  EndpointSliceTracker tracker(kFixturePodUid);
  tracker.ApplyList({}, "100", kT0);
  tracker.Apply(Event(SliceLine("ADDED", "a", "105", kTerminating)), kT0 + milliseconds(10));
  // Replayed after a resume: older resourceVersion, and must not undo the change.
  CHECK(tracker.Apply(Event(SliceLine("MODIFIED", "a", "103", kReady)), kT0 + milliseconds(20)) ==
        EndpointSliceTracker::Applied::kStale);
  CHECK(tracker.Removal(kT0).everywhere);
  CHECK(tracker.resource_version() == "105");
  CHECK(OlderResourceVersion("99", "100"));
  CHECK_FALSE(OlderResourceVersion("100", "99"));
  CHECK_FALSE(OlderResourceVersion("abc", "100"));  // opaque: never older
  CHECK_FALSE(OlderResourceVersion("", "100"));
}

TEST_CASE("endpoint slices: a relist reconciles what was missed") {
  EndpointSliceTracker tracker(kFixturePodUid);
  SliceOfPod a;
  a.name = "a";
  a.holds_pod = true;
  a.resource_version = "5";
  SliceOfPod b = a;
  b.name = "b";
  tracker.ApplyList({a, b}, "10", kT0);
  CHECK(tracker.Removal(kT0).slices == 2);
  // 410, then a relist: b is gone, a unchanged keeps no removal time.
  tracker.ApplyList({a}, "20", kT0 + milliseconds(3000));
  const EndpointRemoval removal = tracker.Removal(kT0);
  CHECK(removal.slices == 2);
  CHECK(removal.removed == 1);
  CHECK(tracker.resource_version() == "20");
  a.ready = false;
  tracker.ApplyList({a}, "30", kT0 + milliseconds(4000));
  REQUIRE(tracker.Removal(kT0).everywhere);
  CHECK(*tracker.Removal(kT0).everywhere == kT0 + milliseconds(4000));
}

TEST_CASE("endpoint slices: unknown conditions read as the API says") {
  const SliceWatchEvent event = Event(
      std::string(R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"},)") +
      R"("endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":null},"targetRef":{"uid":")" +
      kFixturePodUid + R"("}}]}})");
  CHECK(event.slice.holds_pod);
  CHECK(event.slice.ready);
  CHECK(event.slice.serving);
  CHECK_FALSE(event.slice.terminating);
  // No conditions object at all.
  const SliceWatchEvent bare =
      Event(std::string(R"({"type":"ADDED","object":{"metadata":{"name":"a"},"endpoints":[)") +
            R"({"targetRef":{"uid":")" + kFixturePodUid + R"("}}]}})");
  CHECK(bare.slice.ready);
}

TEST_CASE("endpoint slices: hostile input is refused with a clear error") {
  auto error = [](std::string_view line) {
    Expected<SliceWatchEvent> event = ParseSliceWatchEvent(line, kFixturePodUid);
    REQUIRE_FALSE(event.ok());
    return event.status().message();
  };
  CHECK(error("{\"type\":\"ADDED\",") == "watch line: not valid JSON (at byte 17)");
  CHECK(error(R"({"object":{}})") == "watch line: no \"type\"");
  CHECK(error(R"({"type":"SPLIT","object":{}})") == "watch line: unknown type \"SPLIT\"");
  CHECK(error(R"({"type":"ADDED"})") == "watch line: no \"object\"");
  CHECK(error(R"({"type":"ADDED","object":{"metadata":{}}})") ==
        "watch line: ADDED of an object without metadata.name");
  CHECK(error(R"({"type":"ADDED","object":{"metadata":{"name":"a"},"endpoints":[{"conditions":)"
              R"({"ready":"yes"}}]}})") ==
        "watch line: endpoints[0].conditions.ready is not a boolean");
  CHECK(error(R"({"type":"ADDED","object":{"metadata":{"name":7}}})") ==
        "watch line: object.metadata.name is not a string");
  std::string deep = R"({"type":"ADDED","object":)";
  for (int i = 0; i < 10000; ++i) deep += "[";
  CHECK(error(deep) == "watch line: nested deeper than 32 levels");
  Expected<SliceListPage> list = ParseSliceList("[", kFixturePodUid);
  CHECK_FALSE(list.ok());
  CHECK(list.status().message().rfind("EndpointSliceList: ", 0) == 0);
}

TEST_CASE("endpoint slices: a list page's continue token") {
  Expected<SliceListPage> page = ParseSliceList(
      R"({"kind":"EndpointSliceList","metadata":{"resourceVersion":"7","continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ=="},"items":[]})",
      kFixturePodUid);
  REQUIRE(page.ok());
  CHECK(page->continue_token == "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ==");
  CHECK(page->items == 0);
}

}  // namespace
}  // namespace lastcall::kubeapi

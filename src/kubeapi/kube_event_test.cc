#include "kubeapi/kube_event.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "kube_api_stand_in.h"

namespace lastcall::kubeapi {
namespace {

InClusterSettings Settings() {
  InClusterSettings settings;
  settings.host = "10.96.0.1";
  settings.pod_name = "shop-7d9f8-x2x4q";
  settings.pod_namespace = "shop";
  settings.pod_uid = "6f1c2a4e-93b1-4c2e-a0f7-1d2e3f4a5b6c";
  return settings;
}

EventSpec Spec() {
  EventSpec spec;
  spec.reason = "DrainTimedOut";
  spec.warning = true;
  spec.action = "Drain";
  spec.note = "unready at +0 ms by preStop;\nexit code 1";
  spec.time = std::chrono::system_clock::time_point(std::chrono::microseconds(1796440211123456));
  return spec;
}

TEST_CASE("EventJson writes an events.k8s.io/v1 Event regarding the pod") {
  const nlohmann::json event = nlohmann::json::parse(EventJson(Settings(), Spec()));
  CHECK(event["apiVersion"] == "events.k8s.io/v1");
  CHECK(event["kind"] == "Event");
  CHECK(event["metadata"]["namespace"] == "shop");
  CHECK(event["metadata"]["name"] == "shop-7d9f8-x2x4q.18ee3cdaa43dc800");
  CHECK(event["eventTime"] == "2026-12-05T03:10:11.123456Z");
  CHECK(event["reportingController"] == "lastcall.dev/lastcall");
  CHECK(event["reportingInstance"] == "shop-7d9f8-x2x4q");
  CHECK(event["reason"] == "DrainTimedOut");
  CHECK(event["type"] == "Warning");
  CHECK(event["action"] == "Drain");
  CHECK(event["note"] == "unready at +0 ms by preStop; exit code 1");
  CHECK(event["regarding"] == nlohmann::json{{"apiVersion", "v1"},
                                             {"kind", "Pod"},
                                             {"name", "shop-7d9f8-x2x4q"},
                                             {"namespace", "shop"},
                                             {"uid", "6f1c2a4e-93b1-4c2e-a0f7-1d2e3f4a5b6c"}});
  CHECK(EventsPath(Settings()) == "/apis/events.k8s.io/v1/namespaces/shop/events");
}

TEST_CASE("EventJson uses the API reference's field names, none other") {
  // An Event as the API returns it (tests/fixtures/kube_api/event_created.json): every field
  // lastcall writes must be one the API knows, at the same place, or the server drops it.
  const nlohmann::json reference =
      nlohmann::json::parse(test::KubeApiFixture("event_created.json"));
  const nlohmann::json event = nlohmann::json::parse(EventJson(Settings(), Spec()));
  // Named copies, not structured bindings: clang before 16 cannot capture those in INFO's lambda.
  for (const auto& item : event.items()) {
    const std::string key = item.key();
    const nlohmann::json& value = item.value();
    INFO(key);
    REQUIRE(reference.contains(key));
    CHECK(reference[key].type() == value.type());
    if (value.is_object()) {
      for (const auto& inner_item : value.items()) {
        const std::string inner = inner_item.key();
        INFO(inner);
        CHECK(reference[key].contains(inner));
      }
    }
  }
}

TEST_CASE("EventJson cuts a long note to the API's 1 KiB, never inside a character") {
  EventSpec spec = Spec();
  spec.note = std::string(1020, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9";
  const nlohmann::json event = nlohmann::json::parse(EventJson(Settings(), spec));
  const std::string note = event["note"];
  CHECK(note.size() <= kMaxNoteBytes);
  CHECK(note == std::string(1020, 'a') + "...");
}

TEST_CASE("DescribeApiFailure says what each refusal means and quotes the Status") {
  const std::string forbidden = DescribeApiFailure(
      403, test::KubeApiFixture("status_forbidden.json"), "create events.k8s.io Events");
  CHECK(forbidden.rfind("403 Forbidden: RBAC", 0) == 0);
  CHECK(forbidden.find("cannot create resource \\\"events\\\"") == std::string::npos);
  CHECK(forbidden.find("cannot create resource \"events\" in API group \"events.k8s.io\"") !=
        std::string::npos);
  CHECK(DescribeApiFailure(401, test::KubeApiFixture("status_unauthorized.json"), "x")
            .rfind("401 Unauthorized", 0) == 0);
  CHECK(DescribeApiFailure(429, test::KubeApiFixture("status_too_many_requests.json"), "x")
            .find("Too many requests, please try again later.") != std::string::npos);
  CHECK(DescribeApiFailure(503, "<html>", "x") == "503 Server Error: the API server failed to x");
  CHECK(StatusMessage("{\"kind\":[") == "");
}

}  // namespace
}  // namespace lastcall::kubeapi

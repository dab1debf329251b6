#include "admission.h"

#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "admission_review.h"
#include "json_patch.h"
#include "pod_yaml.h"
#include "test_fixtures.h"
#include "test_timing.h"

namespace lastcall {
namespace {

using Json = nlohmann::json;

// An AdmissionReview for `pod` as the API server sends it for a CREATE (admission v1).
Json Review(const Json& pod, const std::string& namespace_name = "shop") {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"namespace", namespace_name},
            {"operation", "CREATE"},
            {"object", pod},
            {"oldObject", nullptr},
            {"dryRun", false}}}};
}

Json WebPod() {
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"generateName": "web-7d9f6c-", "namespace": "shop",
                 "labels": {"app": "web"}, "annotations": {"prometheus.io/port": "8080"}},
    "spec": {"containers": [{"name": "app", "image": "ghcr.io/example/app:1.0",
                             "ports": [{"name": "http", "containerPort": 8080}],
                             "env": [{"name": "PORT", "value": "8080"},
                                     {"name": "ON", "value": "on"}]}]}})");
}

struct Answer {
  AdmissionResult result;
  Json response;
  Json patch = Json::array();
};

Answer AdmitJson(const Json& review, const AdmitOptions& options = {}) {
  Answer answer;
  answer.result = Admit(review.dump(), options);
  REQUIRE(answer.result.status == 200);
  const Json body = Json::parse(answer.result.body);
  CHECK(body["apiVersion"] == "admission.k8s.io/v1");
  CHECK(body["kind"] == "AdmissionReview");
  answer.response = body["response"];
  CHECK(answer.response["uid"] == review["request"]["uid"]);
  CHECK(answer.response["allowed"] == true);
  if (answer.response.contains("patch")) {
    CHECK(answer.response["patchType"] == "JSONPatch");
    // Decoded with nlohmann's own binary reader: base64 is no JSON, so decode by hand here.
    const std::string encoded = answer.response["patch"].get<std::string>();
    std::string decoded;
    int bits = 0;
    unsigned buffer = 0;
    for (const char c : encoded) {
      if (c == '=') break;
      const std::string alphabet =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      const size_t value = alphabet.find(c);
      REQUIRE(value != std::string::npos);
      buffer = buffer << 6 | static_cast<unsigned>(value);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        decoded += static_cast<char>(buffer >> bits & 0xFF);
      }
    }
    answer.patch = Json::parse(decoded);
    CHECK(!answer.patch.empty());
  }
  return answer;
}

Json Patched(const Json& review, const Answer& answer) {
  return review["request"]["object"].patch(answer.patch);
}

TEST_CASE("Admit injects a pod from a generateName, and the patch adds what inject adds") {
  const Json review = Review(WebPod());
  const Answer answer = AdmitJson(review);
  CHECK(answer.result.outcome == AdmitOutcome::kInjected);
  CHECK(answer.response.count("warnings") == 0);
  const Json pod = Patched(review, answer);
  REQUIRE(pod["spec"]["containers"].size() == 2);
  CHECK(pod["spec"]["containers"][1]["name"] == "lastcall");
  CHECK(pod["spec"]["initContainers"][0]["name"] == "lastcall-install");
  CHECK(pod["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][0] ==
        "/lastcall/bin/lastcall");
  CHECK(pod["metadata"]["annotations"].contains("lastcall.dev/status"));
  CHECK(!pod["metadata"]["annotations"].contains("lastcall.dev/original"));
  // Strings stay strings (YAML would read "8080" and "on" otherwise), numbers stay numbers.
  CHECK(pod["spec"]["containers"][0]["env"][0]["value"] == "8080");
  CHECK(pod["spec"]["containers"][0]["env"][1]["value"] == "on");
  CHECK(pod["spec"]["terminationGracePeriodSeconds"].is_number_integer());
  // Untouched fields are not in the patch.
  for (const auto& op : answer.patch) {
    CHECK(op["path"].get<std::string>().find("/metadata/labels") == std::string::npos);
  }
}

TEST_CASE("Admit, called again on the pod it patched, answers without a patch") {
  Json review = Review(WebPod());
  const Answer first = AdmitJson(review);
  review["request"]["object"] = Patched(review, first);
  const Answer again = AdmitJson(review);
  CHECK(again.result.outcome == AdmitOutcome::kAlreadyInjected);
  CHECK(again.response.count("patch") == 0);
}

TEST_CASE("on reinvocation, a mesh proxy added by a later webhook is wired in") {
  Json original = WebPod();
  // What uninject could not get back from the pod alone: a sleep hook (it raised lb_delay) and
  // the grace period.
  original["spec"]["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] = 7;
  original["spec"]["terminationGracePeriodSeconds"] = 45;
  Json review = Review(original);
  const Answer first = AdmitJson(review);
  Json pod = Patched(review, first);
  const Json first_args = pod["spec"]["containers"][1]["args"];
  CHECK(first_args.dump().find("\"--lb-delay\",\"7s\"") != std::string::npos);
  // Istio's injector, running after lastcall's webhook, adds its proxy.
  pod["spec"]["containers"].push_back(
      {{"name", "istio-proxy"}, {"image", "docker.io/istio/proxyv2:1.22.0"}});
  review["request"]["object"] = pod;
  const Answer second = AdmitJson(review);
  CHECK(second.result.outcome == AdmitOutcome::kReinjected);
  const Json rewired = Patched(review, second);
  CHECK(second.result.summary.find("mesh istio") != std::string::npos);
  REQUIRE(rewired["spec"]["containers"].size() == 3);
  // The same wiring, and now the proxy is told to quit after the drain.
  // lastcall's container stays where it was: the patch rewrites its arguments, not its place.
  CHECK(rewired["spec"]["containers"][1]["name"] == "lastcall");
  CHECK(second.patch.dump().find("/spec/containers/2") == std::string::npos);
  Json args = rewired["spec"]["containers"][1]["args"];
  CHECK(args.dump().find("\"--lb-delay\",\"7s\"") != std::string::npos);
  CHECK(args.dump().find("quitquitquit") != std::string::npos);
  CHECK(rewired["spec"]["terminationGracePeriodSeconds"] ==
        pod["spec"]["terminationGracePeriodSeconds"]);
  CHECK(rewired["spec"]["containers"][0]["lifecycle"] == pod["spec"]["containers"][0]["lifecycle"]);
  // And then it is stable.
  review["request"]["object"] = rewired;
  const Answer third = AdmitJson(review);
  CHECK(third.result.outcome == AdmitOutcome::kAlreadyInjected);
  CHECK(third.response.count("patch") == 0);
}

TEST_CASE("Admit leaves alone what it must never mutate") {
  SUBCASE("kube-system") {
    const Answer answer = AdmitJson(Review(WebPod(), "kube-system"));
    CHECK(answer.result.outcome == AdmitOutcome::kExcluded);
    CHECK(answer.response.count("patch") == 0);
  }
  SUBCASE("opted out by annotation or label") {
    for (const char* where : {"annotations", "labels"}) {
      Json pod = WebPod();
      pod["metadata"][where]["lastcall.dev/inject"] = "disabled";
      const Answer answer = AdmitJson(Review(pod));
      CHECK(answer.result.outcome == AdmitOutcome::kOptedOut);
      CHECK(answer.response.count("patch") == 0);
      CHECK(answer.response.count("warnings") == 0);
    }
  }
  SUBCASE("lastcall's own pods: the webhook's label, or lastcall's image") {
    Json labelled = WebPod();
    labelled["metadata"]["labels"]["lastcall.dev/component"] = "webhook";
    CHECK(AdmitJson(Review(labelled)).result.outcome == AdmitOutcome::kExcluded);
    Json own = WebPod();
    own["spec"]["containers"][0]["image"] = "ghcr.io/lastcall/lastcall@sha256:0123";
    CHECK(AdmitJson(Review(own)).result.outcome == AdmitOutcome::kExcluded);
  }
  SUBCASE("hostNetwork: allowed, no patch, a warning with the reason") {
    Json pod = WebPod();
    pod["spec"]["hostNetwork"] = true;
    const Answer answer = AdmitJson(Review(pod));
    CHECK(answer.result.outcome == AdmitOutcome::kExcluded);
    CHECK(answer.response.count("patch") == 0);
    REQUIRE(answer.response["warnings"].size() == 1);
    const std::string warning = answer.response["warnings"][0];
    CHECK(warning.find("hostNetwork") != std::string::npos);
    CHECK(warning.find("web-7d9f6c-*") != std::string::npos);
    CHECK(warning.size() <= 256);
  }
  SUBCASE("a Job's pod and a pod that runs to completion: quietly") {
    Json job = WebPod();
    job["metadata"]["ownerReferences"] = Json::array({{{"kind", "Job"}, {"name", "x"}}});
    CHECK(AdmitJson(Review(job)).result.outcome == AdmitOutcome::kOptedOut);
    Json once = WebPod();
    once["spec"]["restartPolicy"] = "Never";
    const Answer answer = AdmitJson(Review(once));
    CHECK(answer.result.outcome == AdmitOutcome::kOptedOut);
    CHECK(answer.response.count("warnings") == 0);
  }
  SUBCASE("a pod wired by hand") {
    Json pod = WebPod();
    pod["spec"]["containers"].push_back({{"name", "lastcall"}, {"image", "x"}});
    CHECK(AdmitJson(Review(pod)).result.outcome == AdmitOutcome::kAlreadyInjected);
  }
  SUBCASE("not a CREATE, or a subresource") {
    Json update = Review(WebPod());
    update["request"]["operation"] = "UPDATE";
    CHECK(AdmitJson(update).result.outcome == AdmitOutcome::kExcluded);
    Json status = Review(WebPod());
    status["request"]["subResource"] = "status";
    CHECK(AdmitJson(status).result.outcome == AdmitOutcome::kExcluded);
  }
}

TEST_CASE("a pod the planner cannot wire is admitted unchanged, with warnings that say the fix") {
  Json pod = WebPod();
  pod["spec"]["containers"][0].erase("ports");  // nothing to watch, no drain endpoint
  const Answer answer = AdmitJson(Review(pod));
  CHECK(answer.result.outcome == AdmitOutcome::kNotPlanned);
  CHECK(answer.response.count("patch") == 0);
  REQUIRE(answer.response["warnings"].size() == 2);
  CHECK(answer.response["warnings"][0].get<std::string>().find("not injected into pod "
                                                               "web-7d9f6c-* in shop") !=
        std::string::npos);
  CHECK(answer.response["warnings"][1].get<std::string>().find("lastcall.dev/drain-url") !=
        std::string::npos);
  for (const auto& warning : answer.response["warnings"])
    CHECK(warning.get<std::string>().size() <= 256);

  SUBCASE("a bad annotation names itself") {
    Json bad = WebPod();
    bad["metadata"]["annotations"]["lastcall.dev/lb-delay"] = "soon";
    const Answer refused = AdmitJson(Review(bad));
    CHECK(refused.result.outcome == AdmitOutcome::kNotPlanned);
    CHECK(refused.response["warnings"].dump().find("lastcall.dev/lb-delay") != std::string::npos);
  }
}

TEST_CASE("dryRun: the same answer, counted apart") {
  Json review = Review(WebPod());
  review["request"]["dryRun"] = true;
  const Answer answer = AdmitJson(review);
  CHECK(answer.result.dry_run);
  CHECK(answer.result.outcome == AdmitOutcome::kInjected);
  AdmissionCounters counters;
  counters.Record(answer.result);
  CHECK(counters.Count(AdmitOutcome::kInjected) == 1);
  CHECK(counters.DryRuns() == 1);
  const std::string text = counters.PrometheusText();
  CHECK(text.find("lastcall_webhook_admissions_total{outcome=\"injected\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("lastcall_webhook_admissions_total{outcome=\"refused\"} 0\n") !=
        std::string::npos);
  CHECK(text.find("lastcall_webhook_dry_run_admissions_total 1\n") != std::string::npos);
}

// Hostile and wrong input: a 400 with a message that names what is wrong, in bounded time.
void CheckRefused(const std::string& body, const std::string& expected) {
  const auto start = std::chrono::steady_clock::now();
  const AdmissionResult result = Admit(body, AdmitOptions{});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  INFO(result.body);
  CHECK(result.status == 400);
  CHECK(result.outcome == AdmitOutcome::kRefused);
  CHECK(result.content_type.starts_with("text/plain"));
  CHECK(result.body.find(expected) != std::string::npos);
  CHECK(elapsed < std::chrono::seconds(1));
}

TEST_CASE("Admit refuses what is not an admission v1 AdmissionReview for a Pod") {
  CheckRefused("", "not JSON");
  CheckRefused("{\"apiVersion\": ", "not JSON: at byte");
  CheckRefused("{} trailing", "not JSON");
  CheckRefused("[1, 2]", "the body is a JSON array, not an object");
  CheckRefused("\"AdmissionReview\"", "not an object");
  CheckRefused(R"({"apiVersion": "admission.k8s.io/v1", "kind": "Pod"})",
               "kind Pod: expected AdmissionReview");
  CheckRefused(R"({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"})",
               "admissionReviewVersions: [v1]");
  CheckRefused(R"({"apiVersion": 1, "kind": "AdmissionReview"})", "apiVersion is number");
  CheckRefused(R"({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})", "no request");
  CheckRefused(R"({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": [1]})",
               "request is array, not an object");
  CheckRefused(R"({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": {"kind": {"version": "v1", "kind": "Pod"}}})",
               "no request.uid");

  Json review = Review(WebPod());
  review["request"]["kind"] = {{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}};
  CheckRefused(review.dump(), "request.kind is apps/v1 Deployment");
  review = Review(WebPod());
  review["request"]["object"] = "a pod";
  CheckRefused(review.dump(), "request.object is string, not an object");
  review = Review(WebPod());
  review["request"]["object"]["kind"] = "Secret";
  CheckRefused(review.dump(), "request.object is a Secret, not a Pod");
  review = Review(WebPod());
  review["request"]["dryRun"] = "yes";
  CheckRefused(review.dump(), "request.dryRun is string, not a boolean");
  review = Review(WebPod());
  review["request"].erase("operation");
  CheckRefused(review.dump(), "no request.operation");
}

TEST_CASE("Admit refuses bodies past its bounds before building anything") {
  SUBCASE("3 MiB + 1") {
    Json review = Review(WebPod());
    std::string body = review.dump();
    body.insert(body.size() - 1, std::string(kMaxAdmissionBodyBytes + 1 - body.size(), ' '));
    REQUIRE(body.size() == kMaxAdmissionBodyBytes + 1);
    CheckRefused(body, "3145729 bytes, above the API server's limit");
  }
  SUBCASE("exactly 3 MiB is read") {
    Json review = Review(WebPod());
    std::string body = review.dump();
    body.insert(body.size() - 1, std::string(kMaxAdmissionBodyBytes - body.size(), ' '));
    CHECK(Admit(body, AdmitOptions{}).status == 200);
  }
  SUBCASE("deep nesting, as arrays and as objects, at any depth up to the whole body") {
    CheckRefused(std::string(1000000, '['), "nested deeper than 100 levels");
    std::string objects;
    for (int i = 0; i < 200000; ++i) objects += "{\"a\":";
    CheckRefused(objects, "nested deeper than 100 levels");
    Json review = Review(WebPod());
    Json deep = Json::array();
    for (int i = 0; i < 150; ++i) deep = Json::array({deep});
    review["request"]["object"]["metadata"]["annotations"] = {{"x", "y"}};
    review["request"]["object"]["spec"]["deep"] = deep;
    CheckRefused(review.dump(), "nested deeper than 100 levels");
  }
  SUBCASE("too many values") {
    std::string many = "[";
    for (int i = 0; i < 200000; ++i) many += "0,";
    many += "0]";
    CheckRefused(many, "more than 100000 JSON values");
  }
  SUBCASE("invalid UTF-8") { CheckRefused("{\"a\": \"\xff\"}", "not JSON"); }
}

TEST_CASE("Admit answers a pod with huge strings and wide maps in bounded time") {
  Json pod = WebPod();
  pod["metadata"]["annotations"]["huge"] = std::string(2 * 1024 * 1024, 'x');
  for (int i = 0; i < 20000; ++i) pod["metadata"]["labels"]["l" + std::to_string(i)] = "v";
  const auto start = std::chrono::steady_clock::now();
  const Answer answer = AdmitJson(Review(pod));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(answer.result.outcome == AdmitOutcome::kInjected);
  CHECK(elapsed < std::chrono::seconds(2) * testing::kSanitizerSlowdown);
  // The patch does not carry the pod's own big fields.
  CHECK(answer.result.body.size() < 64 * 1024);
}

TEST_CASE("Admit answers the admission v1 reference's example request: a Scale is no Pod") {
  CheckRefused(testing::ReadFixture("webhook/docs-example-scale.json"),
               "request.kind is autoscaling/v1 Scale");
  const Answer pod = AdmitJson(Json::parse(testing::ReadFixture("webhook/docs-example-pod.json")));
  CHECK(pod.result.outcome == AdmitOutcome::kInjected);
}

TEST_CASE("JsonPatchDiff: small patches that apply") {
  const Json before = Json::parse(R"({"a": [1, 2, 3], "b": {"c/d": 1, "e~f": 2}, "g": [1]})");
  const Json after = Json::parse(R"({"a": [0, 1, 2, 3], "b": {"c/d": 2}, "g": {"x": 1}})");
  const Json patch = JsonPatchDiff(before, after);
  CHECK(before.patch(patch) == after);
  CHECK(
      patch.dump() ==
      R"([{"op":"add","path":"/a/0","value":0},{"op":"remove","path":"/b/e~0f"},)"
      R"({"op":"replace","path":"/b/c~1d","value":2},{"op":"replace","path":"/g","value":{"x":1}}])");
  CHECK(JsonPatchDiff(before, before).empty());
  const Json shrink_before = Json::parse(R"([1, 2, 3, 4, 5])");
  const Json shrink_after = Json::parse(R"([1, 5])");
  CHECK(shrink_before.patch(JsonPatchDiff(shrink_before, shrink_after)) == shrink_after);
  const Json mixed_before = Json::parse(R"([1, 2, 3])");
  const Json mixed_after = Json::parse(R"([9, 2, 3, 4, 3])");
  CHECK(mixed_before.patch(JsonPatchDiff(mixed_before, mixed_after)) == mixed_after);
}

TEST_CASE("Base64Encode: RFC 4648's test vectors") {
  CHECK(Base64Encode("") == "");
  CHECK(Base64Encode("f") == "Zg==");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK(Base64Encode("foo") == "Zm9v");
  CHECK(Base64Encode("foob") == "Zm9vYg==");
  CHECK(Base64Encode("fooba") == "Zm9vYmE=");
  CHECK(Base64Encode("foobar") == "Zm9vYmFy");
  CHECK(Base64Encode("\xff\xfe") == "//4=");
}

TEST_CASE("JsonToYaml and YamlToJson keep every JSON value and its type") {
  const Json values = Json::parse(R"({"s": "8080", "t": "true", "n": "null", "e": "",
    "i": 8080, "neg": -3, "big": 18446744073709551615, "f": 1.5, "g": 1e300, "b": true,
    "z": null, "a": [], "o": {}, "tilde": "~", "nested": [{"x": ["1", 1, false]}]})");
  CHECK(YamlToJson(JsonToYaml(values)) == values);
  CHECK(YamlToJson(JsonToYaml(values))["s"].is_string());
  CHECK(YamlToJson(JsonToYaml(values))["i"].is_number_integer());
}

}  // namespace
}  // namespace lastcall

namespace lastcall {
namespace {

TEST_CASE("pods of unexpected shapes are answered 200, never a crash") {
  const char* const shapes[] = {
      R"({"metadata": [], "spec": {}})",
      R"({"metadata": {"annotations": [1], "labels": "x"}, "spec": {"containers": {}}})",
      R"({"spec": {"containers": ["app"]}})",
      R"({"spec": {"containers": [{"name": 1, "ports": "8080"}]}})",
      R"({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": "http"}]}]}})",
      R"({"metadata": {"ownerReferences": "Job"}, "spec": {"hostNetwork": "true",
          "containers": [{"name": "a", "lifecycle": {"preStop": []}}]}})",
      R"({"metadata": {"annotations": {"lastcall.dev/status": "{not json"}},
          "spec": {"containers": [{"name": "a"}]}})",
      R"({"metadata": {"annotations": {"lastcall.dev/status": "{\"by\": \"webhook\"}"}},
          "spec": {"containers": [{"name": "a"}, {"name": "istio-proxy"}]}})",
      R"({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 8080}]}],
          "terminationGracePeriodSeconds": "soon", "securityContext": []}})",
      R"({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 8080}]}],
          "volumes": {}, "initContainers": "none"}})",
      R"({"spec": null})",
      R"({})",
  };
  for (const char* shape : shapes) {
    CAPTURE(shape);
    const AdmissionResult result = Admit(Review(Json::parse(shape)).dump(), AdmitOptions{});
    INFO(result.summary);
    CHECK(result.status == 200);
    const Json body = Json::parse(result.body);
    CHECK(body["response"]["allowed"] == true);
    if (body["response"].contains("patch")) {
      const Json pod = Json::parse(shape);
      const Answer answer = AdmitJson(Review(pod));
      CHECK_NOTHROW((void)Patched(Review(pod), answer));
    }
  }
}

TEST_CASE("a mesh proxy beside lastcall in a pod `lastcall inject` wired is left as it is") {
  Json review = Review(WebPod());
  const Answer first = AdmitJson(review);
  Json pod = Patched(review, first);
  // The same pod, as inject writes it: a status without the webhook's record.
  Json status =
      Json::parse(pod["metadata"]["annotations"]["lastcall.dev/status"].get<std::string>());
  status.erase("by");
  pod["metadata"]["annotations"]["lastcall.dev/status"] = status.dump();
  pod["spec"]["containers"].push_back({{"name", "istio-proxy"}, {"image", "istio/proxyv2"}});
  review["request"]["object"] = pod;
  const Answer again = AdmitJson(review);
  CHECK(again.result.outcome == AdmitOutcome::kAlreadyInjected);
  CHECK(again.response.count("patch") == 0);
  CHECK(again.result.summary.find("injected by lastcall inject; left as it is") !=
        std::string::npos);
}

TEST_CASE("a large hook is not copied into the status: that pod is then never re-planned") {
  Json original = WebPod();
  Json command = Json::array({"sh", "-c", std::string(20000, 'x')});
  original["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] = command;
  Json review = Review(original);
  const Answer first = AdmitJson(review);
  REQUIRE(first.result.outcome == AdmitOutcome::kInjected);
  Json pod = Patched(review, first);
  const std::string status = pod["metadata"]["annotations"]["lastcall.dev/status"];
  CHECK(status.size() < 1024);
  CHECK(status.find("\"by\":\"webhook\"") != std::string::npos);
  pod["spec"]["containers"].push_back({{"name", "istio-proxy"}, {"image", "istio/proxyv2"}});
  review["request"]["object"] = pod;
  const Answer again = AdmitJson(review);
  CHECK(again.result.outcome == AdmitOutcome::kAlreadyInjected);
  CHECK(again.result.summary.find("not recorded") != std::string::npos);
}

}  // namespace
}  // namespace lastcall

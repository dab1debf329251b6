// The admission webhook over TLS, as the API server calls it: `lastcall webhook` serving
// certificates from `lastcall webhook certs`, each AdmissionReview (the admission v1 reference's
// format) POSTed by curl verifying the chain and the SAN. For every pod template of every inject
// fixture, the patch applied by an independent JSON Patch implementation (python3-jsonpatch)
// equals what the built `lastcall inject` writes for that pod; pods the webhook must leave alone
// get no patch, with warnings where due, and each answer is counted under its outcome in
// /metrics. The admission logic's own cases are in src/webhook/admission_test.cc.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "test_fixtures.h"
#include "webhook_testing.h"

namespace lastcall::test {
namespace {

using Run = ShellRun;

// Runs `command` (a shell command line of fixed, quoted arguments); its stdout and stderr, unless
// it redirects them itself.
Run Shell(const std::string& command) { return RunShell("{ " + command + "; } 2>&1"); }

std::string Quoted(const std::string& text) { return "'" + text + "'"; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Script() { return testing::FixturePath("webhook/patch_equivalence.py"); }

// The manifests inject reads in its fixtures: the INPUT column of inject/cases.txt (an output
// such as deployment.cluster-access.yaml is named like an input).
std::vector<std::string> InjectInputs() {
  std::set<std::string> names;
  std::istringstream cases(ReadFile(testing::FixturePath("inject/cases.txt")));
  for (std::string line; std::getline(cases, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string output;
    std::string input;
    if (words >> output >> input) names.insert(input);
  }
  return {names.begin(), names.end()};
}

// The pods of `manifest` (a path), one AdmissionReview each, into out/N.review.json (and
// N.pod.yaml): patch_equivalence.py's `pods`. Returns how many.
int SplitPods(const std::string& manifest, const std::string& out) {
  const Run split =
      Shell("python3 " + Quoted(Script()) + " pods " + Quoted(manifest) + " " + Quoted(out));
  REQUIRE_MESSAGE(split.exit_code == 0, split.out);
  return std::stoi(split.out);
}

// `lastcall webhook` serving certificates `lastcall webhook certs` made in dir/certs.
Webhook StartCertifiedWebhook(const std::string& dir) {
  REQUIRE(MakeWebhookCerts(dir + "/certs").exit_code == 0);
  return StartWebhook(dir + "/certs");
}

// Over TLS, as the API server calls it: `lastcall webhook` serving certificates from `lastcall
// webhook certs`, each AdmissionReview (the admission v1 reference's format) POSTed by curl
// verifying the chain and the SAN; the patch applied by python3-jsonpatch, not our code.
TEST_CASE(
    "for every inject fixture's pod, the webhook's patch over TLS gives what `lastcall inject` "
    "writes") {
  const std::string dir = TempDir();
  Webhook webhook = StartCertifiedWebhook(dir);
  int pods = 0;
  int patched = 0;
  for (const std::string& fixture : InjectInputs()) {
    CAPTURE(fixture);
    const std::string out = dir + "/" + fixture;
    const int count = SplitPods(testing::FixturePath("inject/" + fixture), out);
    for (int n = 1; n <= count; ++n) {
      const std::string base = out + "/" + std::to_string(n);
      const Run inject =
          Shell(Quoted(LASTCALL_BINARY) + " inject " + Quoted(base + ".pod.yaml") + " >" +
                Quoted(base + ".injected.yaml") + " 2>" + Quoted(base + ".inject.err"));
      REQUIRE_MESSAGE(inject.exit_code == 0, inject.out);
      const ShellRun posted = CurlWebhook(
          webhook, "-H 'Content-Type: application/json' --data-binary @" +
                       Quoted(base + ".review.json") + " -o " + Quoted(base + ".response.json"));
      REQUIRE_MESSAGE(posted.exit_code == 0, posted.out);
      REQUIRE_MESSAGE(posted.out.ends_with("200"), posted.out);
      const nlohmann::json answer = nlohmann::json::parse(ReadFile(base + ".response.json"));
      ++pods;
      if (answer["response"].contains("patch")) ++patched;
    }
    const Run check = Shell("python3 " + Quoted(Script()) + " check " + Quoted(out));
    CHECK_MESSAGE(check.exit_code == 0, check.out);
  }
  MESSAGE(pods << " pods, " << patched << " patched, over TLS");
  // Most fixtures' pods are injectable: a run that patched none would prove nothing.
  CHECK(pods >= 30);
  CHECK(patched >= 20);
}

// POSTs the AdmissionReview in `file` to the webhook; its `response`, after checking what every
// answer must carry (HTTP 200, the review's uid, allowed).
nlohmann::json PostReview(const Webhook& webhook, const std::string& file) {
  const ShellRun posted =
      CurlWebhook(webhook, "-H 'Content-Type: application/json' --data-binary @" + Quoted(file) +
                               " -o " + Quoted(file + ".response"));
  REQUIRE_MESSAGE(posted.exit_code == 0, posted.out);
  REQUIRE_MESSAGE(posted.out.ends_with("200"), posted.out);
  const nlohmann::json answer = nlohmann::json::parse(ReadFile(file + ".response"));
  CHECK(answer["apiVersion"] == "admission.k8s.io/v1");
  CHECK(answer["kind"] == "AdmissionReview");
  const nlohmann::json& response = answer["response"];
  CHECK(response["uid"] == nlohmann::json::parse(ReadFile(file))["request"]["uid"]);
  CHECK(response["allowed"] == true);
  return response;
}

// Writes `review` to `file` and POSTs it.
nlohmann::json PostReview(const Webhook& webhook, const std::string& file,
                          const nlohmann::json& review) {
  std::ofstream(file) << review.dump();
  return PostReview(webhook, file);
}

// The JSON Patch a response carries, base64-decoded by coreutils.
nlohmann::json PatchOf(const nlohmann::json& response) {
  const Run decoded =
      Shell("printf %s " + Quoted(response["patch"].get<std::string>()) + " | base64 -d");
  REQUIRE(decoded.exit_code == 0);
  return nlohmann::json::parse(decoded.out);
}

// The API server calls a webhook again when a later webhook changed the pod
// (reinvocationPolicy: IfNeeded): on a pod it has injected, the webhook answers without a patch.
TEST_CASE("every injected fixture pod, admitted again over TLS, gets no patch (idempotent)") {
  const std::string dir = TempDir();
  Webhook webhook = StartCertifiedWebhook(dir);
  int reinvoked = 0;
  for (const std::string& fixture : InjectInputs()) {
    CAPTURE(fixture);
    const std::string out = dir + "/" + fixture;
    for (int n = 1, count = SplitPods(testing::FixturePath("inject/" + fixture), out); n <= count;
         ++n) {
      const std::string base = out + "/" + std::to_string(n);
      const nlohmann::json first = PostReview(webhook, base + ".review.json");
      if (!first.contains("patch")) continue;
      // Applied here with nlohmann's implementation: the independent check of the patch itself
      // is the test above.
      nlohmann::json review = nlohmann::json::parse(ReadFile(base + ".review.json"));
      nlohmann::json& pod = review["request"]["object"];
      pod = pod.patch(PatchOf(first));
      const nlohmann::json again = PostReview(webhook, base + ".again.json", review);
      CHECK(again.count("patch") == 0);
      CHECK(again.count("warnings") == 0);
      ++reinvoked;
    }
  }
  CHECK(reinvoked >= 20);
  CHECK(AdmissionsCounted(webhook, "already_injected") == reinvoked);
}

// Manifests already injected by `lastcall inject` (every *.injected.yaml fixture): their pods are
// admitted unchanged, whatever flags inject was given and whatever it knew from the bundle (the
// Services, the Namespace) that the webhook does not see. (A workload inject left out may be
// injected now: the webhook decides for the pod alone.)
TEST_CASE("pods of manifests `lastcall inject` wrote are admitted unchanged over TLS") {
  const std::string dir = TempDir();
  Webhook webhook = StartCertifiedWebhook(dir);
  int pods = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testing::FixturePath("inject"))) {
    const std::string fixture = entry.path().filename().string();
    if (!fixture.ends_with(".injected.yaml") && !fixture.ends_with(".native.yaml") &&
        fixture != "legacy-injected.yaml") {
      continue;
    }
    CAPTURE(fixture);
    const std::string out = dir + "/" + fixture;
    for (int n = 1, count = SplitPods(entry.path(), out); n <= count; ++n) {
      const std::string file = out + "/" + std::to_string(n) + ".review.json";
      if (ReadFile(file).find("lastcall.dev/status") == std::string::npos) continue;
      const nlohmann::json response = PostReview(webhook, file);
      CHECK(response.count("patch") == 0);
      ++pods;
    }
  }
  CHECK(pods >= 20);
  CHECK(AdmissionsCounted(webhook, "already_injected") == pods);
}

// The pods the webhook must never mutate, and one it cannot plan for, each a variant of the
// admission v1 reference's example request for a Pod (fixtures/webhook/docs-example-pod.json).
TEST_CASE("over TLS: opted-out, kube-system, hostNetwork and unplannable pods get no patch") {
  const std::string dir = TempDir();
  Webhook webhook = StartCertifiedWebhook(dir);
  const nlohmann::json example =
      nlohmann::json::parse(ReadFile(testing::FixturePath("webhook/docs-example-pod.json")));
  // The unchanged example is injected: each variant below differs from it in one thing.
  REQUIRE(PostReview(webhook, dir + "/example.json", example).contains("patch"));

  const auto warnings_of = [](const nlohmann::json& response) {
    return response.contains("warnings") ? response["warnings"].dump() : std::string();
  };
  nlohmann::json opted_out = example;
  opted_out["request"]["object"]["metadata"]["annotations"]["lastcall.dev/inject"] = "disabled";
  const nlohmann::json quiet = PostReview(webhook, dir + "/opted-out.json", opted_out);
  CHECK(quiet.count("patch") == 0);
  CHECK(quiet.count("warnings") == 0);

  nlohmann::json system = example;
  system["request"]["namespace"] = "kube-system";
  system["request"]["object"]["metadata"]["namespace"] = "kube-system";
  CHECK(PostReview(webhook, dir + "/kube-system.json", system).count("patch") == 0);

  nlohmann::json host = example;
  host["request"]["object"]["spec"]["hostNetwork"] = true;
  const nlohmann::json host_answer = PostReview(webhook, dir + "/host-network.json", host);
  CHECK(host_answer.count("patch") == 0);
  CHECK(warnings_of(host_answer).find("hostNetwork") != std::string::npos);

  // No port to watch and no drain endpoint: the warnings name the annotation that would fix it.
  nlohmann::json unplannable = example;
  unplannable["request"]["object"]["spec"]["containers"][0].erase("ports");
  const nlohmann::json refused = PostReview(webhook, dir + "/unplannable.json", unplannable);
  CHECK(refused.count("patch") == 0);
  CHECK(warnings_of(refused).find("not injected into pod cart-5c9d8b7f4-* in shop") !=
        std::string::npos);
  CHECK(warnings_of(refused).find("lastcall.dev/drain-url") != std::string::npos);

  CHECK(AdmissionsCounted(webhook, "injected") == 1);
  CHECK(AdmissionsCounted(webhook, "opted_out") == 1);
  CHECK(AdmissionsCounted(webhook, "excluded") == 2);
  CHECK(AdmissionsCounted(webhook, "not_planned") == 1);
}

}  // namespace
}  // namespace lastcall::test

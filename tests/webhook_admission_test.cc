// The admission webhook's answers against `lastcall inject`: for every pod template of every
// inject fixture, the AdmissionReview the API server would send for the pod (admission v1
// format), answered by the webhook's admission logic in-process, its patch applied by an
// independent JSON Patch implementation (python3-jsonpatch), equals what the built `lastcall
// inject` writes for that pod. The TLS server around it has its own tests.
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
#include "webhook/admission.h"
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

// Over TLS, as the API server calls it: `lastcall webhook` serving certificates from `lastcall
// webhook certs`, each AdmissionReview (the admission v1 reference's format) POSTed by curl
// verifying the chain and the SAN; the patch applied by python3-jsonpatch, not our code.
TEST_CASE(
    "for every inject fixture's pod, the webhook's patch over TLS gives what `lastcall inject` "
    "writes") {
  const std::string dir = TempDir();
  REQUIRE(MakeWebhookCerts(dir + "/certs").exit_code == 0);
  Webhook webhook = StartWebhook(dir + "/certs");
  int pods = 0;
  int patched = 0;
  for (const std::string& fixture : InjectInputs()) {
    CAPTURE(fixture);
    const std::string out = dir + "/" + fixture;
    const Run split = Shell("python3 " + Quoted(Script()) + " pods " +
                            Quoted(testing::FixturePath("inject/" + fixture)) + " " + Quoted(out));
    REQUIRE_MESSAGE(split.exit_code == 0, split.out);
    const int count = std::stoi(split.out);
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

// The API server calls a webhook again when a later webhook changed the pod
// (reinvocationPolicy: IfNeeded): on a pod it has injected, the webhook answers without a patch.
TEST_CASE("every injected fixture pod, admitted again, gets no patch (idempotent)") {
  const std::string dir = TempDir();
  int reinvoked = 0;
  for (const std::string& fixture : InjectInputs()) {
    CAPTURE(fixture);
    const std::string out = dir + "/" + fixture;
    const Run split = Shell("python3 " + Quoted(Script()) + " pods " +
                            Quoted(testing::FixturePath("inject/" + fixture)) + " " + Quoted(out));
    REQUIRE_MESSAGE(split.exit_code == 0, split.out);
    for (int n = 1, count = std::stoi(split.out); n <= count; ++n) {
      nlohmann::json review =
          nlohmann::json::parse(ReadFile(out + "/" + std::to_string(n) + ".review.json"));
      const AdmissionResult first = Admit(review.dump(), AdmitOptions{});
      if (first.outcome != AdmitOutcome::kInjected) continue;
      const nlohmann::json answer = nlohmann::json::parse(first.body);
      // The patch is applied here with nlohmann's implementation: the independent check of the
      // patch itself is the test above.
      const std::string encoded = answer["response"]["patch"].get<std::string>();
      const Run decoded = Shell("printf %s " + Quoted(encoded) + " | base64 -d");
      REQUIRE(decoded.exit_code == 0);
      nlohmann::json& pod = review["request"]["object"];
      pod = pod.patch(nlohmann::json::parse(decoded.out));
      const AdmissionResult again = Admit(review.dump(), AdmitOptions{});
      INFO(again.summary);
      CHECK(again.outcome == AdmitOutcome::kAlreadyInjected);
      CHECK(nlohmann::json::parse(again.body)["response"].count("patch") == 0);
      ++reinvoked;
    }
  }
  CHECK(reinvoked >= 20);
}

// Manifests already injected by `lastcall inject` (every *.injected.yaml fixture): their pods are
// admitted unchanged, whatever flags inject was given and whatever it knew from the bundle (the
// Services, the Namespace) that the webhook does not see. (A workload inject left out may be
// injected now: the webhook decides for the pod alone.)
TEST_CASE("pods of manifests `lastcall inject` wrote are admitted unchanged") {
  const std::string dir = TempDir();
  int pods = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testing::FixturePath("inject"))) {
    const std::string fixture = entry.path().filename().string();
    if (!fixture.ends_with(".injected.yaml") && !fixture.ends_with(".native.yaml") &&
        fixture != "legacy-injected.yaml") {
      continue;
    }
    CAPTURE(fixture);
    const std::string out = dir + "/" + fixture;
    const Run split =
        Shell("python3 " + Quoted(Script()) + " pods " + Quoted(entry.path()) + " " + Quoted(out));
    REQUIRE_MESSAGE(split.exit_code == 0, split.out);
    for (int n = 1, count = std::stoi(split.out); n <= count; ++n) {
      const std::string review = ReadFile(out + "/" + std::to_string(n) + ".review.json");
      if (review.find("lastcall.dev/status") == std::string::npos) continue;
      const AdmissionResult result = Admit(review, AdmitOptions{});
      INFO(result.summary);
      CHECK(result.outcome == AdmitOutcome::kAlreadyInjected);
      CHECK(result.status == 200);
      CHECK(nlohmann::json::parse(result.body)["response"].count("patch") == 0);
      ++pods;
    }
  }
  CHECK(pods >= 20);
}

}  // namespace
}  // namespace lastcall::test

#include "kubeapi/kube_client.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "kube_api_stand_in.h"
#include "kube_client_fixture.h"
#include "kubeapi/kube_event.h"

namespace lastcall::kubeapi {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test::KubeApiStandIn;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST_CASE("KubeClient sends the token, and a rotated token from the next request on") {
  test::StandInPod f;
  WriteFile(f.token_file, "first-token\n");
  KubeClient client(f.Settings());
  Expected<ApiAnswer> answer = client.Send("POST", "/apis/events.k8s.io/v1/namespaces/shop/events",
                                           "{\"a\":1}", steady_clock::now() + milliseconds(3000));
  REQUIRE_MESSAGE(answer.ok(), answer.status().message());
  CHECK(answer->status == 201);
  CHECK(answer->body == "{\"a\":1}");
  // The kubelet rotates a projected token by swapping the file (a new inode).
  WriteFile(f.dir + "/token.new", "second-token");
  REQUIRE(std::rename((f.dir + "/token.new").c_str(), f.token_file.c_str()) == 0);
  REQUIRE(client.Send("POST", "/x", "{}", steady_clock::now() + milliseconds(3000)).ok());
  const auto seen = f.server.seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].authorization == "Bearer first-token");
  CHECK(seen[0].content_type == "application/json");
  CHECK(seen[1].authorization == "Bearer second-token");
}

TEST_CASE("KubeClient without a token file says which file") {
  test::StandInPod f;
  KubeClient client(f.Settings());
  Expected<ApiAnswer> answer =
      client.Send("GET", "/api", "", steady_clock::now() + milliseconds(1000));
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.status().message().find(f.token_file) != std::string::npos);
  CHECK(f.server.seen().empty());
}

TEST_CASE("KubeClient refuses a 100 MB answer early and keeps its deadline with a trickle") {
  test::StandInPod f;
  WriteFile(f.token_file, "t");
  KubeClient client(f.Settings());
  SUBCASE("huge") {
    f.server.SetMode(KubeApiStandIn::Mode::kHuge);
    const auto start = steady_clock::now();
    Expected<ApiAnswer> answer = client.Send("GET", "/x", "", start + milliseconds(3000));
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.status().message().find("the answer") != std::string::npos);
    CHECK(steady_clock::now() - start < milliseconds(1000));
  }
  SUBCASE("trickle") {
    f.server.SetMode(KubeApiStandIn::Mode::kTrickle);
    const auto start = steady_clock::now();
    Expected<ApiAnswer> answer = client.Send("GET", "/x", "", start + milliseconds(700));
    REQUIRE_FALSE(answer.ok());
    CHECK(steady_clock::now() - start < milliseconds(750));
  }
}

TEST_CASE("EventSender retries a 429 within its deadline, and stops at a 403") {
  test::StandInPod f;
  WriteFile(f.token_file, "t");
  KubeClient client(f.Settings());
  EventSender sender(client);
  EventSpec spec;
  spec.reason = "Drained";
  spec.action = "Drain";
  spec.note = "n";
  spec.time = std::chrono::system_clock::now();
  SUBCASE("429 until the deadline") {
    f.server.Answer(429, test::KubeApiFixture("status_too_many_requests.json"));
    const auto start = steady_clock::now();
    const Status sent = sender.Send(spec, start + milliseconds(500));
    CHECK_FALSE(sent.ok());
    CHECK(sent.message().find("429 Too Many Requests") != std::string::npos);
    CHECK(f.server.seen().size() >= 2);
    CHECK(steady_clock::now() - start < milliseconds(550));
  }
  SUBCASE("403 once") {
    f.server.Answer(403, test::KubeApiFixture("status_forbidden.json"));
    const Status sent = sender.Send(spec, steady_clock::now() + milliseconds(500));
    CHECK(sent.message().find("403 Forbidden") != std::string::npos);
    CHECK(f.server.seen().size() == 1);
  }
  SUBCASE("created") {
    CHECK(sender.Send(spec, steady_clock::now() + milliseconds(500)).ok());
    REQUIRE(f.server.seen().size() == 1);
    CHECK(f.server.seen()[0].path == "/apis/events.k8s.io/v1/namespaces/shop/events");
  }
}

}  // namespace
}  // namespace lastcall::kubeapi

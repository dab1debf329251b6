#include "kubeapi/api_watch_source.h"

#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "kube_api_stand_in.h"
#include "kube_client_fixture.h"
#include "kubeapi/endpoint_slices.h"

namespace lastcall::kubeapi {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test::KubeApiStandIn;

constexpr const char* kListPath = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices";
constexpr const char* kWatchPath =
    "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?resourceVersion=184467&"
    "timeoutSeconds=60&watch=1";

// A watch source whose client sends "slice-token" as the EndpointSlice fixtures' pod.
struct SourceFixture : test::StandInPod {
  explicit SourceFixture(const std::string& dns_name = "kubernetes.default.svc",
                         bool expired = false)
      : StandInPod(dns_name, expired) {
    std::ofstream(token_file) << "slice-token\n";
  }
  KubeClient client{Settings(test::kFixturePodUid)};
  ApiWatchSource source{client};
};

long long MsSince(steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count();
}

TEST_CASE("ApiWatchSource lists with the token, Content-Length or chunked, any status") {
  SourceFixture f;
  SUBCASE("Content-Length") {}
  SUBCASE("chunked") { f.server.SetSliceMode(KubeApiStandIn::SliceMode::kServeChunked); }
  Expected<ListAnswer> answer =
      f.source.List(kListPath, steady_clock::now() + milliseconds(3000), std::stop_token());
  REQUIRE_MESSAGE(answer.ok(), answer.status().message());
  CHECK(answer->status == 200);
  Expected<SliceListPage> page = ParseSliceList(answer->body, test::kFixturePodUid);
  REQUIRE_MESSAGE(page.ok(), page.status().message());
  CHECK(page->slices.size() == 2);
  const auto seen = f.server.seen("list");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].path == kListPath);
  CHECK(seen[0].authorization == "Bearer slice-token");
}

TEST_CASE("ApiWatchSource hands over a 403 with its Status object") {
  SourceFixture f;
  f.server.SetSliceMode(KubeApiStandIn::SliceMode::kForbidden);
  Expected<ListAnswer> answer =
      f.source.List(kListPath, steady_clock::now() + milliseconds(3000), std::stop_token());
  REQUIRE(answer.ok());
  CHECK(answer->status == 403);
  CHECK(answer->body.find("\"Forbidden\"") != std::string::npos);
  const WatchResult watch =
      f.source.Watch(kWatchPath, steady_clock::now() + milliseconds(3000), std::stop_token(),
                     [](std::string_view) { return true; });
  CHECK(watch.end == WatchEnd::kStatus);
  CHECK(watch.status == 403);
  CHECK(watch.body.find("\"Forbidden\"") != std::string::npos);
}

TEST_CASE("ApiWatchSource refuses a 100 MB list as soon as it passes the bound") {
  SourceFixture f;
  f.server.SetSliceMode(KubeApiStandIn::SliceMode::kHuge);
  const auto start = steady_clock::now();
  Expected<ListAnswer> answer =
      f.source.List(kListPath, start + milliseconds(5000), std::stop_token());
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.status().message().find("exceeds 4194304 bytes") != std::string::npos);
  CHECK(MsSince(start) < 2000);
}

TEST_CASE("ApiWatchSource streams the watch's lines as they come, and a close is kClosed") {
  SourceFixture f;
  const std::vector<std::string> fixture = test::WatchFixtureLines();
  REQUIRE(fixture.size() == 6);
  f.server.PushWatchLine(fixture[0]);
  f.server.PushWatchLine(fixture[1]);
  std::vector<std::pair<std::string, steady_clock::time_point>> lines;
  std::jthread pusher([&f, &fixture] {
    std::this_thread::sleep_for(milliseconds(200));
    f.server.PushWatchLine(fixture[3]);
    f.server.CloseWatch();
  });
  const auto start = steady_clock::now();
  const WatchResult result = f.source.Watch(
      kWatchPath, start + milliseconds(5000), std::stop_token(), [&lines](std::string_view line) {
        lines.emplace_back(std::string(line), steady_clock::now());
        return true;
      });
  CHECK(result.end == WatchEnd::kClosed);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].first == fixture[0]);
  CHECK(lines[1].first == fixture[1]);
  CHECK(lines[2].first == fixture[3]);
  // Each line as it arrived, not at the end of the stream.
  CHECK(lines[1].second - start < milliseconds(150));
  CHECK(lines[2].second - start >= milliseconds(190));
  const auto sent = f.server.watch_lines_sent();
  REQUIRE(sent.size() == 3);
  CHECK(lines[2].second - sent[2].at < milliseconds(50));
  CHECK(f.server.seen("watch").at(0).path == kWatchPath);
}

TEST_CASE("ApiWatchSource: on_line returning false ends the watch") {
  SourceFixture f;
  f.server.PushWatchLine(test::WatchFixtureLines()[0]);
  int calls = 0;
  const WatchResult result = f.source.Watch(kWatchPath, steady_clock::now() + milliseconds(3000),
                                            std::stop_token(), [&calls](std::string_view) {
                                              ++calls;
                                              return false;
                                            });
  CHECK(result.end == WatchEnd::kStopped);
  CHECK(calls == 1);
}

TEST_CASE("ApiWatchSource: a line past kMaxWatchLineBytes is kTooLarge, not buffered") {
  SourceFixture f;
  f.server.SetSliceMode(KubeApiStandIn::SliceMode::kHugeWatch);
  const auto start = steady_clock::now();
  const WatchResult result =
      f.source.Watch(kWatchPath, start + milliseconds(5000), std::stop_token(),
                     [](std::string_view) { return true; });
  CHECK(result.end == WatchEnd::kTooLarge);
  CHECK(result.error.find("127.0.0.1") != std::string::npos);
  CHECK(MsSince(start) < 2000);
}

// A server that keeps a client waiting, one way or another.
struct Stalling {
  const char* name;
  KubeApiStandIn::SliceMode slice_mode;
  KubeApiStandIn::Mode mode;
  bool answers_list;  // only its watch stalls
};

TEST_CASE(
    "ApiWatchSource keeps its deadline and answers a stop at once, however the server "
    "behaves") {
  using SliceMode = KubeApiStandIn::SliceMode;
  using Mode = KubeApiStandIn::Mode;
  const Stalling stallings[] = {
      {"open and silent", SliceMode::kServe, Mode::kCreated, true},
      {"never answers", SliceMode::kNeverAnswer, Mode::kCreated, false},
      {"trickles", SliceMode::kTrickle, Mode::kCreated, false},
      {"no TLS handshake", SliceMode::kServe, Mode::kNoHandshake, false},
  };
  Stalling stalling = stallings[0];
  // A subcase a row: each runs alone against a fresh server, and a failure names its row.
  for (const Stalling& each : stallings) {
    SUBCASE(each.name) { stalling = each; }
  }
  INFO(stalling.name);
  SourceFixture f;
  f.server.SetSliceMode(stalling.slice_mode);
  f.server.SetMode(stalling.mode);
  const auto on_line = [](std::string_view) { return true; };
  {
    // The deadline.
    const auto start = steady_clock::now();
    const WatchResult result =
        f.source.Watch(kWatchPath, start + milliseconds(300), std::stop_token(), on_line);
    CHECK(result.end == WatchEnd::kDeadline);
    CHECK(MsSince(start) >= 299);
    CHECK(MsSince(start) < 360);
    const auto list_start = steady_clock::now();
    const bool listed =
        f.source.List(kListPath, list_start + milliseconds(300), std::stop_token()).ok();
    CHECK(listed == stalling.answers_list);
    CHECK(MsSince(list_start) < 360);
  }
  {
    // A stop, with the deadline far away.
    std::stop_source stop;
    std::jthread stopper([&stop] {
      std::this_thread::sleep_for(milliseconds(200));
      stop.request_stop();
    });
    const auto start = steady_clock::now();
    const WatchResult result =
        f.source.Watch(kWatchPath, start + milliseconds(10000), stop.get_token(), on_line);
    CHECK(result.end == WatchEnd::kStopped);
    CHECK(MsSince(start) < 200 + 30);
  }
  {
    std::stop_source stop;
    std::jthread stopper([&stop] {
      std::this_thread::sleep_for(milliseconds(200));
      stop.request_stop();
    });
    const auto start = steady_clock::now();
    Expected<ListAnswer> answer =
        f.source.List(kListPath, start + milliseconds(10000), stop.get_token());
    if (!stalling.answers_list) {
      CHECK_FALSE(answer.ok());
      CHECK(MsSince(start) < 200 + 30);
    }
  }
}

TEST_CASE("ApiWatchSource: a certificate lastcall refuses fails the watch, naming why") {
  SUBCASE("expired") {
    SourceFixture f("kubernetes.default.svc", true);
    const WatchResult result =
        f.source.Watch(kWatchPath, steady_clock::now() + milliseconds(3000), std::stop_token(),
                       [](std::string_view) { return true; });
    CHECK(result.end == WatchEnd::kFailed);
    CHECK(result.error.find("expired") != std::string::npos);
  }
  SUBCASE("another host's") {
    SourceFixture f("not-the-api.example.com");
    Expected<ListAnswer> answer =
        f.source.List(kListPath, steady_clock::now() + milliseconds(3000), std::stop_token());
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.status().message().find("wrong host") != std::string::npos);
  }
}

TEST_CASE("ApiWatchSource: a broken JSON line reaches the watch as a line (its parser decides)") {
  SourceFixture f;
  f.server.SetSliceMode(KubeApiStandIn::SliceMode::kBrokenWatch);
  std::vector<std::string> lines;
  const WatchResult result = f.source.Watch(kWatchPath, steady_clock::now() + milliseconds(3000),
                                            std::stop_token(), [&lines](std::string_view line) {
                                              lines.emplace_back(line);
                                              return false;
                                            });
  CHECK(result.end == WatchEnd::kStopped);
  REQUIRE(lines.size() == 1);
  CHECK_FALSE(ParseSliceWatchEvent(lines[0], test::kFixturePodUid).ok());
}

}  // namespace
}  // namespace lastcall::kubeapi

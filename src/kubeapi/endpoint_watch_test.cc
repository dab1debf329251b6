#include "kubeapi/endpoint_watch.h"

#include <doctest/doctest.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube_api_fixtures.h"

namespace lastcall::kubeapi {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;
using test::kFixturePodUid;
using test::KubeApiFixture;

// One scripted watch: its lines, `gap` before each, then how it ends; `stall`: it then sends
// nothing more until the deadline or a stop (a server that hangs).
struct WatchScript {
  std::vector<std::string> lines;
  milliseconds gap{0};
  WatchResult end{WatchEnd::kClosed, 200, "", ""};
  bool stall = false;
};

// A WatchSource that answers from a script and honours deadlines and stop requests as the
// contract says (within ~10 ms here). With no script left, a list fails and a watch stalls.
class ScriptedSource final : public WatchSource {
 public:
  std::deque<Expected<ListAnswer>> lists;
  std::deque<WatchScript> watches;

  Expected<ListAnswer> List(std::string_view path, Deadline deadline,
                            std::stop_token /*stop*/) override {
    std::lock_guard lock(mu_);
    list_paths_.emplace_back(path);
    deadlines_.push_back(deadline - Steady::now());
    if (lists.empty()) return Status::Unavailable("api.test:443: connection refused");
    Expected<ListAnswer> answer = std::move(lists.front());
    lists.pop_front();
    return answer;
  }

  WatchResult Watch(std::string_view path, Deadline deadline, std::stop_token stop,
                    const std::function<bool(std::string_view)>& on_line) override {
    WatchScript script;
    {
      std::lock_guard lock(mu_);
      watch_paths_.emplace_back(path);
      deadlines_.push_back(deadline - Steady::now());
      if (watches.empty()) {
        script.stall = true;
      } else {
        script = std::move(watches.front());
        watches.pop_front();
      }
    }
    for (const std::string& line : script.lines) {
      if (!Wait(Steady::now() + script.gap, deadline, stop)) {
        return {stop.stop_requested() ? WatchEnd::kStopped : WatchEnd::kDeadline, 200, "", ""};
      }
      if (!on_line(line)) return {WatchEnd::kStopped, 200, "", ""};
    }
    if (script.stall) {
      Wait(deadline, deadline, stop);
      return {stop.stop_requested() ? WatchEnd::kStopped : WatchEnd::kDeadline, 200, "", ""};
    }
    return script.end;
  }

  std::vector<std::string> list_paths() {
    std::lock_guard lock(mu_);
    return list_paths_;
  }
  std::vector<std::string> watch_paths() {
    std::lock_guard lock(mu_);
    return watch_paths_;
  }
  std::vector<Steady::duration> deadlines() {
    std::lock_guard lock(mu_);
    return deadlines_;
  }

 private:
  // Sleeps until `until` in 5 ms steps; false when the deadline or a stop came first.
  static bool Wait(Steady::time_point until, Deadline deadline, const std::stop_token& stop) {
    while (Steady::now() < until) {
      if (stop.stop_requested() || Steady::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return !stop.stop_requested();
  }

  std::mutex mu_;
  std::vector<std::string> list_paths_;
  std::vector<std::string> watch_paths_;
  std::vector<Steady::duration> deadlines_;
};

ListAnswer Answer(int status, std::string body) { return ListAnswer{status, std::move(body)}; }

std::string ForbiddenBody() {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":)"
         R"("endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:shop:)"
         R"(default\" cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\")"
         R"( in the namespace \"shop\"","reason":"Forbidden","details":{"group":)"
         R"("discovery.k8s.io","kind":"endpointslices"},"code":403})";
}

struct Logged {
  std::mutex mu;
  std::vector<std::pair<LogLevel, std::string>> lines;
  EndpointWatch::LogSink Sink() {
    return [this](LogLevel level, std::string_view line) {
      std::lock_guard lock(mu);
      lines.emplace_back(level, std::string(line));
    };
  }
  size_t Count(LogLevel level, std::string_view part) {
    std::lock_guard lock(mu);
    size_t n = 0;
    for (const auto& [l, text] : lines) n += l == level && text.find(part) != std::string::npos;
    return n;
  }
};

EndpointWatchSettings Settings() {
  EndpointWatchSettings settings;
  settings.namespace_name = "shop";
  settings.pod_uid = kFixturePodUid;
  settings.backoff_min = milliseconds(10);
  settings.backoff_max = milliseconds(40);
  return settings;
}

// Waits (bounded) until `done`.
template <typename Done>
bool Eventually(Done done, milliseconds limit = milliseconds(3000)) {
  const auto end = Steady::now() + limit;
  while (Steady::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return done();
}

TEST_CASE("endpoint watch: lists, watches from the list's version, relists on 410") {
  ScriptedSource source;
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  const std::vector<std::string> lines = test::WatchFixtureLines();
  // The stream trickles: the view follows each line as it arrives.
  source.watches.push_back(WatchScript{lines, milliseconds(20)});
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  std::atomic<int> changes{0};
  Logged log;
  EndpointWatch watch(
      source, Settings(), [&] { changes += 1; }, log.Sink());
  const SliceTime trigger = Steady::now();
  CHECK(watch.Removal(trigger).state == EndpointWatchState::kIdle);
  watch.Start();
  REQUIRE(Eventually([&] { return watch.Removal(trigger).removal.everywhere.has_value(); }));
  const EndpointWatch::View view = watch.Removal(trigger);
  CHECK(view.state == EndpointWatchState::kListed);
  CHECK(view.removal.slices == 2);
  // The ERROR 410 at the end of the stream: a new list, then a watch from its version.
  REQUIRE(Eventually([&] { return source.watch_paths().size() >= 2; }));
  const std::vector<std::string> lists = source.list_paths();
  REQUIRE(lists.size() == 2);
  CHECK(lists[0] == "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?limit=100");
  const std::vector<std::string> watches = source.watch_paths();
  CHECK(watches[0] ==
        "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?allowWatchBookmarks=true&"
        "resourceVersion=184467&timeoutSeconds=60&watch=1");
  CHECK(watches[1].find("resourceVersion=184467&") != std::string::npos);
  CHECK(changes.load() >= 3);  // the list, and two slice changes
  // Every request had an absolute deadline: a list's timeout, a watch's timeoutSeconds + grace.
  for (const auto& left : source.deadlines()) CHECK(left <= std::chrono::seconds(70));
  watch.Stop();
  CHECK(log.Count(LogLevel::kWarn, "") == 0);
}

TEST_CASE("endpoint watch: resumes from the last bookmark when the stream closes") {
  ScriptedSource source;
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  WatchScript first;
  first.lines = {R"({"type":"BOOKMARK","object":{"kind":"EndpointSlice","metadata":)"
                 R"({"resourceVersion":"190001"}}})"};
  source.watches.push_back(first);
  EndpointWatch watch(source, Settings());
  watch.Start();
  REQUIRE(Eventually([&] { return source.watch_paths().size() >= 2; }));
  CHECK(source.watch_paths()[1].find("resourceVersion=190001&") != std::string::npos);
  CHECK(source.list_paths().size() == 1);  // resumed, not relisted
  watch.Stop();
}

TEST_CASE("endpoint watch: RBAC refusing the list gives up at once, said once") {
  ScriptedSource source;
  source.lists.push_back(Answer(403, ForbiddenBody()));
  Logged log;
  EndpointWatch watch(source, Settings(), {}, log.Sink());
  watch.Start();
  REQUIRE(Eventually(
      [&] { return watch.Removal(Steady::now()).state == EndpointWatchState::kFailed; }));
  const std::string why = watch.Removal(Steady::now()).why;
  CHECK(why.find("403 Forbidden: RBAC does not allow this service account to list "
                 "endpointslices in namespace shop (grant it the Role in deploy/kubernetes): "
                 "endpointslices.discovery.k8s.io is forbidden") == 0);
  watch.Stop();
  CHECK(source.list_paths().size() == 1);
  CHECK(source.watch_paths().empty());
  CHECK(log.Count(LogLevel::kWarn, "EndpointSlice watch given up: 403 Forbidden") == 1);
}

TEST_CASE("endpoint watch: 429, 5xx and transport failures back off, each kind logged once") {
  ScriptedSource source;
  source.lists.push_back(Answer(429, R"({"kind":"Status","code":429,"message":"slow down"})"));
  source.lists.push_back(Answer(429, ""));
  source.lists.push_back(Answer(503, ""));
  source.lists.push_back(Status::Unavailable("api.test:443: connection refused"));
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  Logged log;
  EndpointWatch watch(source, Settings(), {}, log.Sink());
  const auto started = Steady::now();
  watch.Start();
  REQUIRE(Eventually(
      [&] { return watch.Removal(Steady::now()).state == EndpointWatchState::kListed; }));
  // Four backoffs of 10, 20, 40, 40 ms (the bound): not a tight loop, not unbounded.
  CHECK(Steady::now() - started >= milliseconds(100));
  watch.Stop();
  CHECK(log.Count(LogLevel::kWarn, "429 Too Many Requests") == 1);
  CHECK(log.Count(LogLevel::kDebug, "429 Too Many Requests") == 1);
  CHECK(log.Count(LogLevel::kWarn, "503 from the API server") == 1);
  CHECK(log.Count(LogLevel::kWarn, "connection refused") == 1);
  CHECK(log.Count(LogLevel::kWarn, "slow down") == 1);
}

TEST_CASE("endpoint watch: starting says why while it retries") {
  ScriptedSource source;  // nothing scripted: every list is refused
  Logged log;
  EndpointWatch watch(source, Settings(), {}, log.Sink());
  watch.Start();
  REQUIRE(Eventually([&] { return source.list_paths().size() >= 2; }));
  const EndpointWatch::View view = watch.Removal(Steady::now());
  CHECK(view.state == EndpointWatchState::kStarting);
  CHECK(view.why.find("connection refused") != std::string::npos);
  watch.Stop();
}

TEST_CASE("endpoint watch: a stalled stream never holds the stop") {
  ScriptedSource source;
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  WatchScript stalled;
  stalled.stall = true;
  source.watches.push_back(stalled);
  EndpointWatch watch(source, Settings());
  watch.Start();
  REQUIRE(Eventually([&] { return !source.watch_paths().empty(); }));
  const auto before = Steady::now();
  watch.Stop();
  CHECK(Steady::now() - before < milliseconds(200));
}

TEST_CASE("endpoint watch: list pages follow the continue token; an expired one starts over") {
  ScriptedSource source;
  source.lists.push_back(Answer(
      200, R"({"kind":"EndpointSliceList","metadata":{"resourceVersion":"50","continue":"a+b/c="},)"
           R"("items":[]})"));
  source.lists.push_back(
      Answer(410, R"({"kind":"Status","code":410,"reason":"Expired","message":"expired"})"));
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  EndpointWatch watch(source, Settings());
  watch.Start();
  REQUIRE(Eventually(
      [&] { return watch.Removal(Steady::now()).state == EndpointWatchState::kListed; }));
  watch.Stop();
  const std::vector<std::string> lists = source.list_paths();
  REQUIRE(lists.size() == 3);
  CHECK(lists[1] ==
        "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?limit=100&continue=a%2Bb%2Fc%3D");
  CHECK(lists[2] == "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?limit=100");
  CHECK(watch.Removal(Steady::now()).removal.slices == 2);
}

TEST_CASE("endpoint watch: a broken watch line or an oversized one relists") {
  ScriptedSource source;
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  source.watches.push_back(WatchScript{{"{\"type\":\"MODIFIED\",\"object\":{"}});
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  source.watches.push_back(
      WatchScript{{}, milliseconds(0), {WatchEnd::kTooLarge, 200, "", "a line over 1 MiB"}});
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  Logged log;
  EndpointWatch watch(source, Settings(), {}, log.Sink());
  watch.Start();
  REQUIRE(Eventually([&] { return source.list_paths().size() == 3; }));
  watch.Stop();
  CHECK(log.Count(LogLevel::kWarn, "watch line: not valid JSON") == 1);
  CHECK(log.Count(LogLevel::kWarn, "a line over 1 MiB") == 1);
}

TEST_CASE("endpoint watch: RBAC refusing the watch (list allowed) gives up") {
  ScriptedSource source;
  source.lists.push_back(Answer(200, KubeApiFixture("endpointslice_list.json")));
  source.watches.push_back(WatchScript{{}, milliseconds(0), {WatchEnd::kStatus, 403, "", ""}});
  Logged log;
  EndpointWatch watch(source, Settings(), {}, log.Sink());
  watch.Start();
  REQUIRE(Eventually(
      [&] { return watch.Removal(Steady::now()).state == EndpointWatchState::kFailed; }));
  CHECK(watch.Removal(Steady::now()).why.find("to watch endpointslices") != std::string::npos);
  watch.Stop();
}

TEST_CASE("endpoint watch: no pod UID or a bad namespace fails at once") {
  ScriptedSource source;
  EndpointWatchSettings settings = Settings();
  settings.namespace_name = "../kube-system";
  Logged log;
  EndpointWatch watch(source, settings, {}, log.Sink());
  watch.Start();
  CHECK(watch.Removal(Steady::now()).state == EndpointWatchState::kFailed);
  CHECK(source.list_paths().empty());
  settings = Settings();
  settings.pod_uid.clear();
  EndpointWatch no_uid(source, settings, {}, log.Sink());
  no_uid.Start();
  CHECK(no_uid.Removal(Steady::now()).why.find("POD_UID") != std::string::npos);
}

}  // namespace
}  // namespace lastcall::kubeapi

// Deterministic mutation runs over the parsers of untrusted text: every input must give a value
// or an error, without crashing, hanging or tripping the sanitizers. A bounded stand-in for the
// fuzzers (same inputs every run, a few thousand per parser, well under a second).
#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_field.h"
#include "base/proc_net_tcp.h"
#include "base/prometheus_text.h"
#include "test_fixtures.h"

namespace lastcall {
namespace {

constexpr int kRuns = 3000;

// Flips, inserts, deletes, duplicates or splices bytes, favouring the bytes the grammars use.
class Mutator {
 public:
  explicit Mutator(uint32_t seed) : random_(seed) {}

  std::string Mutate(std::string text) {
    static constexpr std::string_view kInteresting = "{}=\",\\#\n\r \t:~!()[]*+?|.0123456789aeE-";
    const int edits = 1 + Below(8);
    for (int e = 0; e < edits; ++e) {
      const size_t at = text.empty() ? 0 : static_cast<size_t>(Below(text.size()));
      const char byte = Below(4) == 0
                            ? static_cast<char>(Below(256))
                            : kInteresting[static_cast<size_t>(Below(kInteresting.size()))];
      switch (Below(5)) {
        case 0:
          if (!text.empty()) text[at] = byte;
          break;
        case 1:
          text.insert(at, 1, byte);
          break;
        case 2:
          if (!text.empty()) text.erase(at, static_cast<size_t>(1 + Below(16)));
          break;
        case 3:
          if (!text.empty()) text.insert(at, text.substr(at, static_cast<size_t>(Below(64))));
          break;
        default:
          text.resize(at);
      }
    }
    return text;
  }

  int Below(size_t n) {
    return static_cast<int>(std::uniform_int_distribution<size_t>(0, n - 1)(random_));
  }

 private:
  std::mt19937 random_;
};

TEST_CASE("mutated metrics pages and selectors give values or errors") {
  const std::vector<std::string> pages = {
      testing::ReadFixture("envoy_stats_prometheus.txt"),
      testing::ReadFixture("go_client_golang.txt"),
      testing::ReadFixture("python_prometheus_client.txt"),
      testing::ReadFixture("openmetrics.txt"),
  };
  const std::vector<std::string> selectors = {
      R"(envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="ingress_http"})",
      R"(http_server_active_requests{route=~"/api.*",method!="POST"})",
      R"(request_latency_seconds_count{endpoint!~"(a|b)*c?"})",
      R"(acme_inflight_requests{handler=~"(?i)CHECK.*"})",
  };
  Mutator mutator(20240601);
  std::string error;
  std::vector<MetricSelector> parsed;
  for (const std::string& text : selectors) parsed.push_back(*ParseMetricSelector(text, &error));
  const auto start = std::chrono::steady_clock::now();
  size_t errors = 0;
  for (int run = 0; run < kRuns; ++run) {
    const size_t which = static_cast<size_t>(run) % pages.size();
    const std::string page = mutator.Mutate(pages[which]);
    const PrometheusSum sum = SumMatchingSamples(page, parsed[which]);
    if (!sum.ok()) {
      ++errors;
      CHECK(sum.error.starts_with("line "));
    }
    const std::string selector = mutator.Mutate(selectors[which]);
    std::optional<MetricSelector> mutated = ParseMetricSelector(selector, &error);
    if (mutated) {
      SumMatchingSamples(pages[which], *mutated);
    } else {
      CHECK(error.starts_with("column "));
    }
  }
  CHECK(errors > 0);  // the mutations do reach the error paths
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("mutated /proc/net/tcp tables give rows or errors") {
  const std::vector<std::string> tables = {testing::ReadFixture("proc_net_tcp.txt"),
                                           testing::ReadFixture("proc_net_tcp6.txt")};
  Mutator mutator(7);
  size_t errors = 0;
  for (int run = 0; run < kRuns; ++run) {
    std::string error;
    const std::string text = mutator.Mutate(tables[static_cast<size_t>(run) % tables.size()]);
    if (!ParseProcNetTcp(text, &error)) {
      ++errors;
      CHECK((error.starts_with("line ") || error.starts_with("empty: ")));
    }
  }
  CHECK(errors > 0);
}

TEST_CASE("mutated JSON answers give numbers or errors") {
  const std::vector<std::string> bodies = {
      R"({"inflight": 3, "workers": [{"busy": 1}, {"busy": 0}], "state": "draining"})",
      R"({"stats": {"http": {"active": 12.5e-1, "names": ["a\"b", "\u00e9"]}}, "ok": true})",
  };
  const std::vector<std::string> pointers = {"/inflight", "/workers/1/busy", "/stats/http/active"};
  Mutator mutator(99);
  size_t errors = 0;
  for (int run = 0; run < kRuns; ++run) {
    const std::string body = mutator.Mutate(bodies[static_cast<size_t>(run) % bodies.size()]);
    const JsonNumber number =
        ReadJsonNumber(body, pointers[static_cast<size_t>(run) % pointers.size()]);
    if (!number.ok()) {
      ++errors;
      CHECK_FALSE(number.error.empty());
    }
  }
  CHECK(errors > 0);
}

}  // namespace
}  // namespace lastcall

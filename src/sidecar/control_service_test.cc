#include "sidecar/control_service.h"

#include <doctest/doctest.h>

namespace lastcall {
namespace {

TEST_CASE("BearerCredentials: the scheme in any case, one or more spaces, then the token") {
  CHECK(BearerCredentials("Bearer abc") == "abc");
  CHECK(BearerCredentials("bearer abc") == "abc");
  CHECK(BearerCredentials("BEARER abc") == "abc");
  CHECK(BearerCredentials("bEaReR    abc") == "abc");
  CHECK(BearerCredentials("  Bearer abc  ") == "abc");
  CHECK(!BearerCredentials("Bearer"));
  CHECK(!BearerCredentials("Bearer "));
  CHECK(!BearerCredentials("Bearerabc"));
  CHECK(!BearerCredentials("Basic YWJjOmRlZg=="));
  CHECK(!BearerCredentials(""));
}

TEST_CASE("TokenMatches") {
  CHECK(TokenMatches("s3cret", "s3cret"));
  CHECK(!TokenMatches("s3cre", "s3cret"));
  CHECK(!TokenMatches("s3cret!", "s3cret"));
  CHECK(!TokenMatches("", ""));
}

}  // namespace
}  // namespace lastcall

namespace lastcall {
namespace {

TEST_CASE("StatusJson: an event entry in the timeline is no phase of its own") {
  using std::chrono::milliseconds;
  SequenceReport report;
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  report.timeline.push_back(TimelineEntry{Phase::kUnready, t0, milliseconds(0), "", ""});
  report.timeline.push_back(TimelineEntry{Phase::kUnready, t0 + milliseconds(1300),
                                          milliseconds(1300), "both slices", "endpoint_removed"});
  report.timeline.push_back(
      TimelineEntry{Phase::kDraining, t0 + milliseconds(2000), milliseconds(2000), "", ""});
  report.timeline.push_back(
      TimelineEntry{Phase::kDrained, t0 + milliseconds(2500), milliseconds(2500), "", ""});
  const std::string json = StatusJson(report);
  CHECK(json.find(R"("elapsed_ms":1300,"detail":"both slices","event":"endpoint_removed"})") !=
        std::string::npos);
  CHECK(json.find(R"("phase_durations_ms":{"unready":2000,"draining":500})") != std::string::npos);
}

}  // namespace
}  // namespace lastcall

#include "rehearse_html.h"

#include <doctest/doctest.h>

#include <string>

#include "rehearse_advice.h"
#include "rehearse_test_fixtures.h"

namespace lastcall {
namespace {

using testing::MakeInputs;
using testing::Record;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t CountOf(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++count;
  }
  return count;
}

TEST_CASE("EscapeHtml") {
  CHECK(EscapeHtml("plain") == "plain");
  CHECK(EscapeHtml("<script>alert('x') & \"y\"</script>") ==
        "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
}

TEST_CASE("the page holds a timeline with a marker per phase, the series and the verdict") {
  RehearsalInputs inputs = MakeInputs();
  inputs.requests = {Record(100, 110, RequestOutcome::kOk), Record(900, 1700, RequestOutcome::kOk),
                     Record(1600, 1605, RequestOutcome::kOtherReplica)};
  RehearsalReport report = AssembleReport(inputs);
  report.advice = Advise(report);
  const std::string html = RenderHtmlReport(report);

  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(Contains(html, "<body data-verdict=\"passed\">"));
  CHECK(Contains(html, "<title>lastcall rehearse: PASSED</title>"));
  CHECK(CountOf(html, "<svg ") == 1);
  CHECK(CountOf(html, "</svg>") == 1);
  for (const PhaseMark& mark : report.phases) {
    CAPTURE(mark.id);
    CHECK(CountOf(html, " id=\"phase-" + mark.id + "\" data-phase=\"" + mark.id + "\"") == 1);
  }
  for (const std::string id : {"deletion", "unready", "endpoint-removed", "draining", "drained",
                               "app-exited", "grace-deadline"}) {
    CAPTURE(id);
    CHECK(Contains(html, "data-phase=\"" + id + "\""));
  }
  CHECK(Contains(html,
                 "<g class=\"phase\" id=\"phase-draining\" data-phase=\"draining\" "
                 "data-source=\"lastcall\" data-at-ms=\"1000\">"));
  // The grace deadline is far to the right of what happened: a label at the edge.
  CHECK(Contains(html, "<g class=\"phase offscale\" id=\"phase-grace-deadline\""));
  for (const char* series : {"ok", "other_replica", "failed", "in_flight"}) {
    CAPTURE(series);
    CHECK(Contains(html, std::string("data-series=\"") + series + "\""));
  }
  CHECK(Contains(html, "data-band=\"lb-delay\""));
  CHECK(Contains(html, "data-band=\"drain\""));
  CHECK(Contains(html, "data-advice=\"all-good\""));
  CHECK(Contains(html, "setAttribute('data-rendered', 'ok')"));
  // Self-contained: nothing is fetched from elsewhere.
  CHECK_FALSE(Contains(html, "src=\"http"));
  CHECK_FALSE(Contains(html, "href=\"http"));
  CHECK_FALSE(Contains(html, "@import"));
}

TEST_CASE("strings from the outside are escaped everywhere they appear") {
  RehearsalInputs inputs = MakeInputs();
  const std::string evil = "<script>alert(1)</script>\"'&";
  const std::string escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;";
  inputs.settings.app = "app --name " + evil;
  inputs.settings.paths = {"/x?q=" + evil};
  inputs.settings.config_file = "/etc/" + evil + ".yaml";
  inputs.lastcall[1].detail = evil;
  inputs.termination.timeline.push_back({Millis(1500), evil, evil, evil});
  inputs.requests = {Record(1800, 2500, RequestOutcome::kReset)};
  RehearsalReport report = AssembleReport(inputs);
  report.advice = Advise(report);
  report.advice.push_back({Advice::Level::kInfo, evil, evil});
  const std::string html = RenderHtmlReport(report);

  CHECK(Contains(html, "<body data-verdict=\"failed\">"));
  CHECK(CountOf(html, "<script>") == 1);  // only the page's own
  CHECK_FALSE(Contains(html, "alert(1)</script>"));
  CHECK(CountOf(html, escaped) >= 7);
  CHECK(Contains(html, "<code>app --name " + escaped + "</code>"));
  CHECK(Contains(html, "data-advice=\"" + escaped + "\""));
}

TEST_CASE("a failed request stays visible however many succeed around it") {
  RehearsalInputs inputs = MakeInputs();
  for (int i = 0; i < 2000; ++i) {
    inputs.requests.push_back(Record(1000 + i, 1001 + i, RequestOutcome::kOk));
  }
  inputs.requests.push_back(Record(1500, 1510, RequestOutcome::kReset));
  const std::string html = RenderHtmlReport(AssembleReport(inputs));
  const size_t group = html.find("data-series=\"failed\">");
  REQUIRE(group != std::string::npos);
  const std::string bars = html.substr(group, html.find("</g>", group) - group);
  CHECK(CountOf(bars, "<rect ") == 1);
  CHECK(Contains(bars, "height=\"3.0\""));
  CHECK(Contains(bars, "<title>+0.50s: 1 failed</title>"));
}

TEST_CASE("the page says why each wait ended") {
  RehearsalInputs inputs = MakeInputs();
  inputs.settings.config.shutdown.lb_delay = LbDelay::Auto{};
  inputs.lb_wait = LbWaitRecord{"quiet", Millis(990), Millis(300)};
  inputs.lastcall[2].last_poll = "200 (drained): HTTP 200 <ok>";
  const std::string html = RenderHtmlReport(AssembleReport(inputs));
  CHECK(Contains(html,
                 "<tr class=\"wait-end\" data-wait=\"lb\" data-reason=\"quiet\"><td>the lb wait "
                 "ended at +1.00s</td><td>lb_delay auto: quiet for 1s after the last request at "
                 "+0.30s</td></tr>"));
  CHECK(Contains(html,
                 "<tr class=\"wait-end\" data-wait=\"drain\" data-reason=\"monitor\"><td>the "
                 "drain ended at +1.90s</td><td>the status monitor said drained (200 (drained): "
                 "HTTP 200 &lt;ok&gt;)</td></tr>"));
}

}  // namespace
}  // namespace lastcall

#include "base/prometheus_text.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "test_fixtures.h"
#include "test_timing.h"

namespace lastcall {
namespace {

MetricSelector MustParse(std::string_view text) {
  std::string error;
  std::optional<MetricSelector> selector = ParseMetricSelector(text, &error);
  INFO(text, " -> ", error);
  REQUIRE(selector.has_value());
  return *selector;
}

std::string SelectorError(std::string_view text) {
  std::string error;
  std::optional<MetricSelector> selector = ParseMetricSelector(text, &error);
  return selector.has_value() ? "(parsed)" : error;
}

PrometheusSum Sum(std::string_view body, std::string_view selector) {
  return SumMatchingSamples(body, MustParse(selector));
}

TEST_CASE("ParseMetricSelector accepts PromQL selectors and prints them canonically") {
  struct Case {
    std::string text;
    std::string canonical;
  };
  const Case cases[] = {
      {"foo", "foo"},
      {"  foo\t", "foo"},
      {"job:http_inflight:sum", "job:http_inflight:sum"},
      {"foo{}", "foo"},
      {"envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix=\"ingress_http\"}",
       "envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix=\"ingress_http\"}"},
      {R"(foo{a="x",b!="y",c=~"re.*",d!~"re"})", R"(foo{a="x",b!="y",c=~"re.*",d!~"re"})"},
      {R"(foo { a = "x" , b != 'y' , })", R"(foo{a="x",b!="y"})"},
      {R"(foo{a="say \"hi\"\n",b='it\'s'})", R"(foo{a="say \"hi\"\n",b="it's"})"},
      {R"(foo{code=~"5\\d\\d"})", R"(foo{code=~"5\\d\\d"})"},
      {"foo{code=~`5\\d\\d`}", R"(foo{code=~"5\\d\\d"})"},
      {R"(foo{path="C:\\dir"})", R"(foo{path="C:\\dir"})"},
      {R"(foo{a=""})", R"(foo{a=""})"},
      {R"(foo{method=~"(?i)get"})", R"(foo{method=~"(?i)get"})"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(MustParse(c.text).ToString() == c.canonical);
  }
}

TEST_CASE("ParseMetricSelector keeps each matcher's label, operator and unescaped value") {
  MetricSelector s = MustParse(R"(rq{a="x\"y",b!="",c=~"5..",d!~`\d`})");
  CHECK(s.name == "rq");
  REQUIRE(s.matchers.size() == 4);
  CHECK(s.matchers[0].label == "a");
  CHECK(s.matchers[0].op == LabelMatchOp::kEqual);
  CHECK(s.matchers[0].value == "x\"y");
  CHECK(s.matchers[0].regex == nullptr);
  CHECK(s.matchers[1].op == LabelMatchOp::kNotEqual);
  CHECK(s.matchers[1].value.empty());
  CHECK(s.matchers[2].op == LabelMatchOp::kRegexMatch);
  CHECK(s.matchers[2].regex != nullptr);
  CHECK(s.matchers[3].op == LabelMatchOp::kRegexNoMatch);
  CHECK(s.matchers[3].value == "\\d");
}

TEST_CASE("ParseMetricSelector names what is wrong and where") {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"", "column 1: the selector is empty: expected a metric name"},
      {"   ", "column 4: the selector is empty: expected a metric name"},
      {R"({job="x"})", "column 1: expected a metric name before '{'"},
      {"9lives", R"(column 1: expected a metric name, found "9")"},
      {"foo bar", R"(column 5: unexpected "bar" after the selector)"},
      {"foo{", "column 5: expected a label name or '}'"},
      {"foo{1a=\"x\"}", "column 5: expected a label name or '}'"},
      {"foo{a}", R"(column 6: expected '=', '!=', '=~' or '!~' after label "a")"},
      {"foo{a<\"x\"}", R"(column 6: expected '=', '!=', '=~' or '!~' after label "a")"},
      {"foo{a==\"x\"}", R"(column 7: expected a quoted value for label "a")"},
      {"foo{a=x}", R"(column 7: expected a quoted value for label "a")"},
      {"foo{a=\"x", R"(column 9: the value of label "a" is not closed)"},
      {"foo{a=`x", R"(column 9: the value of label "a" is not closed)"},
      {"foo{a=\"x\"", "column 10: expected ',' or '}'"},
      {"foo{a=\"x\" b=\"y\"}", R"(column 11: expected ',' or '}' after the matcher for label "a")"},
      {"foo{__name__=\"foo\"}",
       "column 5: __name__ matchers are not supported: put the metric name before '{'"},
      {R"(foo{code=~"5\d\d"})",
       R"(column 13: unknown escape "\\d" in the value of label "code" (a regex needs "\\d", or use `backticks`))"},
      {R"(foo{a=~"(unclosed"})",
       "column 8: the regex for label \"a\" is invalid: missing ): (unclosed"},
      {R"(foo{a=~"[z-a]"})",
       "column 8: the regex for label \"a\" is invalid: invalid character class range: z-a"},
      {R"(foo{a=~"a++"})",
       "column 8: the regex for label \"a\" is invalid: bad repetition operator: ++"},
      {R"(foo{a=~"(a)\\1"})",
       R"(column 8: the regex for label "a" has a backreference (\1), which PromQL regexes do not support)"},
      {R"(foo{a=~"[\\4]"})",
       R"(column 8: the regex for label "a" has a backreference (\4), which PromQL regexes do not support)"},
      {R"(foo{a=~"x\\8"})",
       R"(column 8: the regex for label "a" has a backreference (\8), which PromQL regexes do not support)"},
      {R"(foo{a=~"a{1001}"})",
       "column 8: the regex for label \"a\" is too complex (over 1000 atoms once counted "
       "repetition is expanded)"},
      {R"(foo{a=~"(a?){2000}"})",
       "column 8: the regex for label \"a\" is too complex (over 1000 atoms once counted "
       "repetition is expanded)"},
      {R"(foo{a=~"((a{30}){30}){30}"})",
       "column 8: the regex for label \"a\" is too complex (over 1000 atoms once counted "
       "repetition is expanded)"},
      {"foo{a=~\"" + std::string(1025, 'a') + "\"}",
       "column 8: the regex for label \"a\" is 1025 bytes, over the limit of 1024"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(SelectorError(c.text) == c.error);
  }
}

TEST_CASE("regex matchers are fully anchored, and an absent label has the empty value") {
  const std::string body =
      "rq{code=\"500\"} 1\n"
      "rq{code=\"1500\"} 10\n"
      "rq{code=\"5000\"} 100\n"
      "rq{code=\"ab\"} 1000\n"
      "rq 10000\n";
  struct Case {
    std::string selector;
    double sum;
  };
  const Case cases[] = {
      {R"(rq{code=~"5.."})", 1},        {R"(rq{code!~"5.."})", 11110},
      {R"(rq{code=~"a|ab"})", 1000},  // leftmost alternative "a" must not hide the full match
      {R"(rq{code=~"(?i)AB"})", 1000},  {R"(rq{code=~"AB"})", 0},
      {R"(rq{code=""})", 10000},        {R"(rq{code!=""})", 1111},
      {R"(rq{code=~".*"})", 11111},     {R"(rq{code=~".+"})", 1111},
      {R"(rq{code=~"[15]\\d+"})", 111}, {R"(rq{code="500",code!="500"})", 0},
      {R"(rq{other="x"})", 0},          {R"(rq{other!="x"})", 11111},
  };
  for (const Case& c : cases) {
    CAPTURE(c.selector);
    PrometheusSum got = Sum(body, c.selector);
    CHECK(got.error == "");
    CHECK(got.sum == c.sum);
    CHECK(got.samples == 5);
  }
  // An escaped backslash before a digit is a literal backslash, not a backreference.
  CHECK(Sum("rq{path=\"a\\\\1\"} 7\n", R"(rq{path=~"a\\\\1"})").sum == 7);
  // RE2 syntax, as PromQL has it: named groups, Unicode classes, POSIX classes, \Q...\E quoting,
  // octal escapes; and '.' matches a newline, as Prometheus anchors with ^(?s:...)$.
  const std::string page =
      "rq{code=\"500\",path=\"/a.b\",m=\"x\\ny\"} 1\nrq{code=\"5x0\",path=\"/axb\",m=\"z\"} 2\n";
  CHECK(Sum(page, R"(rq{code=~"(?P<class>5)\\d\\d"})").sum == 1);
  CHECK(Sum(page, R"(rq{code=~"\\pN+"})").sum == 1);
  CHECK(Sum(page, R"(rq{code=~"[[:digit:]][[:alnum:]]0"})").sum == 3);
  CHECK(Sum(page, R"(rq{path=~"\\Q/a.b\\E"})").sum == 1);
  CHECK(Sum(page, R"(rq{path=~"/\\141.b"})").sum == 3);
  CHECK(Sum(page, R"(rq{m=~"x.y"})").sum == 1);
}

TEST_CASE("SumMatchingSamples reads every sample form of both text formats") {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::string name;
    std::string body;
    std::string selector;
    double sum;
    size_t matched;
    size_t nan;
  };
  const Case cases[] = {
      {"plain", "foo 3\n", "foo", 3, 1, 0},
      {"sums series", "foo{a=\"1\"} 3\nfoo{a=\"2\"} 4.5\n", "foo", 7.5, 2, 0},
      {"name is exact", "foo_bar 1\nfo 2\nfoo 4\nfoo_total 8\n", "foo", 4, 1, 0},
      {"no final newline", "foo 1\nfoo 2", "foo", 3, 2, 0},
      {"CRLF", "# TYPE foo gauge\r\nfoo{a=\"x\"} 1\r\nfoo 2\r\n", "foo{a=\"x\"}", 1, 1, 0},
      {"blank lines", "\n  \n\t\nfoo 1\n\n", "foo", 1, 1, 0},
      {"leading blanks", "   foo 1\n\t foo\t2  \n", "foo", 3, 2, 0},
      {"integer timestamp", "foo 5 1700000000000\n", "foo", 5, 1, 0},
      {"float timestamp", "foo 5 1700000000.123\n", "foo", 5, 1, 0},
      {"exemplar", "foo_bucket{le=\"1\"} 5 # {trace_id=\"a b\"} 0.5 17.1\n", "foo_bucket", 5, 1, 0},
      {"exemplar after timestamp", "foo_total 5 17 # {id=\"x\"} 1\n", "foo_total", 5, 1, 0},
      {"empty label set", "foo{} 2\n", "foo", 2, 1, 0},
      {"trailing comma", "foo{a=\"x\",} 2\n", "foo{a=\"x\"}", 2, 1, 0},
      {"blanks in label set", "foo { a = \"x\" , b=\"y\" } 2\n", "foo{b=\"y\"}", 2, 1, 0},
      {"escaped quote", R"(foo{a="x\"y"} 2)", R"(foo{a="x\"y"})", 2, 1, 0},
      {"escaped backslash", R"(foo{a="C:\\dir"} 2)", R"(foo{a="C:\\dir"})", 2, 1, 0},
      {"escaped newline", R"(foo{a="two\nlines"} 2)", "foo{a=\"two\\nlines\"}", 2, 1, 0},
      {"other escapes kept", R"(foo{a="\d"} 2)", "foo{a=`\\d`}", 2, 1, 0},
      {"comma and brace in a value", R"(foo{a="x,y}",b="#"} 2)", R"(foo{a="x,y}"})", 2, 1, 0},
      {"unknown labels unchecked", "foo{a=\"x\",a=\"y\"} 2\n", "foo", 2, 1, 0},
      {"exponent", "foo 1.5e3\nfoo -2E-1\n", "foo", 1499.8, 2, 0},
      {"plus sign", "foo +7\n", "foo", 7, 1, 0},
      {"NaN skipped", "foo{a=\"1\"} NaN\nfoo{a=\"2\"} 2\n", "foo", 2, 2, 1},
      {"+Inf", "foo 1\nfoo +Inf\n", "foo", inf, 2, 0},
      {"-Inf", "foo -Inf\n", "foo", -inf, 1, 0},
      {"comments", "# a comment\n#\n# HELP foo x y z\n# TYPE foo gauge\nfoo 1\n", "foo", 1, 1, 0},
      {"EOF", "foo 1\n# EOF\n", "foo", 1, 1, 0},
      {"EOF without newline", "foo 1\n# EOF", "foo", 1, 1, 0},
      {"empty body", "", "foo", 0, 0, 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    PrometheusSum got = Sum(c.body, c.selector);
    CHECK(got.error == "");
    CHECK(got.sum == c.sum);
    CHECK(got.matched == c.matched);
    CHECK(got.nan_skipped == c.nan);
  }
}

TEST_CASE("SumMatchingSamples tells a declared metric from an unknown one") {
  struct Case {
    std::string body;
    std::string selector;
    bool seen;
  };
  const Case cases[] = {
      {"foo{a=\"1\"} 1\n", "foo{a=\"2\"}", true},
      {"# HELP foo Jobs.\n# TYPE foo gauge\n", "foo", true},
      {"# TYPE foo gauge\n", "foo{queue=\"x\"}", true},
      {"# TYPE rq summary\n", "rq_count", true},
      {"# TYPE rq histogram\n", "rq_bucket", true},
      {"# TYPE rq counter\n", "rq_total", true},
      {"# UNIT rq_seconds seconds\n", "rq_seconds", true},
      {"# TYPE foo_bar gauge\nfoo_bar 1\n", "foo", false},
      {"# TYPE foo gauge\n", "foo_bar", false},
      {"# foo\n", "foo", false},
      {"", "foo", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body);
    CAPTURE(c.selector);
    PrometheusSum got = Sum(c.body, c.selector);
    CHECK(got.error == "");
    CHECK(got.matched == 0);
    CHECK(got.name_seen == c.seen);
  }
}

TEST_CASE("one malformed line makes the scrape an error that names the line") {
  struct Case {
    std::string body;
    std::string error;
  };
  const Case cases[] = {
      {"foo", R"(line 1: expected a value after "foo": "foo")"},
      {"foo 1\nfoo abc\n", R"(line 2: invalid value "abc": "foo abc")"},
      {"foo 1 abc", R"(line 1: invalid timestamp "abc": "foo 1 abc")"},
      {"foo 1 2 3", R"(line 1: unexpected text after the timestamp: "foo 1 2 3")"},
      {"foo 1e999", R"(line 1: invalid value "1e999": "foo 1e999")"},
      {"foo ++1", R"(line 1: invalid value "++1": "foo ++1")"},
      {"foo 0x10", R"(line 1: invalid value "0x10": "foo 0x10")"},
      {"{a=\"x\"} 1", R"(line 1: expected a metric name: "{a=\"x\"} 1")"},
      {"<html>", R"(line 1: expected a metric name: "<html>")"},
      {"\r\n\r\nfoo{a=\"x\" 1\r\n",
       R"(line 3: expected ',' or '}' after the value of label "a": "foo{a=\"x\" 1")"},
      {"foo{a=\"x} 1", R"(line 1: the value of label "a" is not closed: "foo{a=\"x} 1")"},
      {"foo{a=\"x\\\"} 1", R"(line 1: the value of label "a" is not closed: "foo{a=\"x\\\"} 1")"},
      {"foo{a=x} 1", R"(line 1: expected '"' to open the value of label "a": "foo{a=x} 1")"},
      {"foo{a} 1", R"(line 1: expected '=' after label "a": "foo{a} 1")"},
      {"foo{a=\"x\"", R"(line 1: expected ',' or '}' after the value of label "a": "foo{a=\"x\"")"},
      {"foo{-=\"x\"} 1", R"(line 1: expected a label name or '}': "foo{-=\"x\"} 1")"},
      {"foo{a=\"1\",a=\"2\"} 1", R"(line 1: label "a" appears twice: "foo{a=\"1\",a=\"2\"} 1")"},
      {"other{ 1\nfoo 1\n", R"(line 1: expected a label name or '}': "other{ 1")"},
      {"foo{a=\"x\",", R"(line 1: the label set is not closed with '}': "foo{a=\"x\",")"},
      {"foo 1\n# EOF\nfoo 2\n", R"(line 3: text after # EOF (line 2): "foo 2")"},
      {"foo 1\n# EOF\n\n# HELP late x\n", R"(line 4: text after # EOF (line 2): "# HELP late x")"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body);
    CHECK(Sum(c.body, "foo{a=~\".*\"}").error == c.error);
  }
}

TEST_CASE("the error quotes a long or binary line only in part") {
  const std::string line = "foo{a=\"" + std::string(200, 'x') + "\" 1";
  PrometheusSum got = Sum(line, "foo");
  CHECK(got.error == R"(line 1: expected ',' or '}' after the value of label "a": "foo{a=\")" +
                         std::string(73, 'x') + "\"...");
  CHECK(Sum(std::string("foo\x01 1", 6), "foo").error ==
        R"(line 1: invalid value "\x01": "foo\x01 1")");
}

TEST_CASE("SumMatchingSamples stops when its deadline passes") {
  std::string page;
  for (int i = 0; i < 1000; ++i) page += "rq{code=\"" + std::to_string(i) + "\"} 1\n";
  std::string error;
  const std::optional<MetricSelector> selector = ParseMetricSelector(R"(rq{code=~"5.."})", &error);
  REQUIRE(selector);
  const PrometheusSum late = SumMatchingSamples(
      page, *selector, std::chrono::steady_clock::now() - std::chrono::seconds(1));
  CHECK(late.deadline_passed);
  CHECK_FALSE(late.ok());
  CHECK(late.error == "the deadline passed at line 32 of the page");
  const PrometheusSum in_time =
      SumMatchingSamples(page, *selector, std::chrono::steady_clock::now() + std::chrono::hours(1));
  CHECK_FALSE(in_time.deadline_passed);
  CHECK(in_time.sum == 100);
}

TEST_CASE("regex matchers refuse label values over the limit; equality takes any length") {
  const std::string long_value(kMaxRegexInputBytes + 1, 'a');
  const std::string body = "foo{a=\"" + long_value + "\"} 1\nbar{a=\"" + long_value + "\"} 2\n";
  CHECK(Sum(body, "foo{a=\"" + long_value + "\"}").sum == 1);
  CHECK(Sum(body, "foo{a!=\"b\"}").sum == 1);
  // Only samples of the selected name reach the regex.
  CHECK(Sum(body, "baz{a=~\"a*\"}").error == "");
  CHECK(Sum(body, "foo{a=~\"a*\"}")
            .error.starts_with("line 1: the value of label \"a\" is 4097 bytes, over the 4096 a "
                               "regex matcher examines: "));
  // An equality matcher that already excludes the sample spares the regex.
  CHECK(Sum(body, "foo{a=\"b\",a=~\"a*\"}").error == "");
  const std::string at_limit(kMaxRegexInputBytes, 'a');
  CHECK(Sum("foo{a=\"" + at_limit + "\"} 1\n", "foo{a=~\"(a|b)*\"}").sum == 1);
}

TEST_CASE("the largest regexes the selector allows stay shallow and fast on the longest value") {
  // Patterns just under the size limit, of the shapes that make a backtracking matcher recurse
  // per input byte or blow up exponentially; run under ASan this guards the stack bound.
  const std::string value(kMaxRegexInputBytes, 'a');
  const std::string body = "rq{a=\"" + value + "\"} 1\n";
  const std::string patterns[] = {
      "(a?){240}", "(?:(?:a?)?){130}", "((a|b)?)*",      "(a|a)*b",   "(a*)*b",
      "(a|b|c)*",  ".*a.*a.*a.*b",     "([a-z]+)*[0-9]", "(.*){100}", "((a{0,30}){0,29})",
  };
  for (const std::string& pattern : patterns) {
    CAPTURE(pattern);
    std::string error;
    std::optional<MetricSelector> selector =
        ParseMetricSelector("rq{a=~`" + pattern + "`}", &error);
    REQUIRE_MESSAGE(selector.has_value(), error);
    const auto start = std::chrono::steady_clock::now();
    PrometheusSum got = SumMatchingSamples(body, *selector);
    CHECK(got.error == "");
    CHECK(std::chrono::steady_clock::now() - start <
          std::chrono::seconds(2) * testing::kSanitizerSlowdown);
  }
}

// Real pages, as Envoy, client_golang, Python's prometheus_client and an OpenMetrics exporter
// write them: the selectors a user would point the monitor at.
TEST_CASE("fixtures: sums on the pages real exporters write") {
  struct Case {
    std::string fixture;
    std::string selector;
    double sum;
    size_t matched;
  };
  const Case cases[] = {
      {"envoy_stats_prometheus.txt",
       R"(envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="ingress_http"})", 5, 1},
      {"envoy_stats_prometheus.txt", "envoy_http_downstream_rq_active", 6, 2},
      {"envoy_stats_prometheus.txt", "envoy_cluster_upstream_rq_active", 6, 2},
      {"envoy_stats_prometheus.txt",
       R"(envoy_cluster_upstream_rq_active{envoy_cluster_name!="xds_cluster"})", 5, 1},
      {"envoy_stats_prometheus.txt", "envoy_cluster_upstream_rq_time_count", 48206, 1},
      {"envoy_stats_prometheus.txt", R"(envoy_cluster_upstream_rq_time_bucket{le="+Inf"})", 48206,
       1},
      {"envoy_stats_prometheus.txt",
       R"(envoy_http_downstream_rq_xx{envoy_response_code_class=~"[45]"})", 106, 1},
      {"envoy_stats_prometheus.txt", "envoy_server_live", 1, 1},  // written `{}`
      {"go_client_golang.txt", "http_server_active_requests", 3, 3},
      {"go_client_golang.txt", R"(http_server_active_requests{route="/api"})", 2, 1},
      {"go_client_golang.txt", R"(http_server_active_requests{route=~"/api.*"})", 3, 2},
      {"go_client_golang.txt", R"(http_server_active_requests{route!="/healthz",method="POST"})", 1,
       1},
      {"go_client_golang.txt", "promhttp_metric_handler_requests_in_flight", 1, 1},
      {"go_client_golang.txt", "go_gc_duration_seconds_count", 287, 1},
      {"go_client_golang.txt", R"(go_gc_duration_seconds{quantile="0.5"})", 5.0412e-05, 1},
      {"go_client_golang.txt", "process_max_fds", 1048576, 1},
      {"go_client_golang.txt", R"(http_requests_total{code=~"5.."})", 9, 1},
      {"python_prometheus_client.txt", "inprogress_requests", 4, 1},
      {"python_prometheus_client.txt", "inprogress_jobs", 0, 0},  // HELP/TYPE, no series yet
      {"python_prometheus_client.txt", "request_latency_seconds_count", 1553, 2},
      {"python_prometheus_client.txt", R"(request_latency_seconds_count{endpoint="/users/\"me\""})",
       33, 1},
      {"python_prometheus_client.txt", R"(requests_total{endpoint="C:\\exports\\daily"})", 3, 1},
      {"python_prometheus_client.txt", R"(python_gc_objects_collected_total{generation!="2"})",
       5400, 2},
      {"python_prometheus_client.txt", R"(python_info{implementation="CPython"})", 1, 1},
      {"openmetrics.txt", "acme_inflight_requests", 3, 3},
      {"openmetrics.txt", R"(acme_inflight_requests{handler!="static"})", 3, 2},
      {"openmetrics.txt", "acme_http_requests_total", 10489, 2},
      {"openmetrics.txt", R"(acme_request_duration_seconds_bucket{le="0.5"})", 1170, 1},
      {"openmetrics.txt", "acme_queue_depth_messages", 12, 1},
      {"openmetrics.txt", "acme_build_info", 1, 1},
      {"openmetrics.txt", R"(acme_worker_state{acme_worker_state="draining"})", 1, 1},
  };
  const size_t samples[] = {67, 53, 29, 17};  // sample lines per fixture, in the order above
  const std::string fixtures[] = {"envoy_stats_prometheus.txt", "go_client_golang.txt",
                                  "python_prometheus_client.txt", "openmetrics.txt"};
  for (size_t f = 0; f < 4; ++f) {
    CAPTURE(fixtures[f]);
    const std::string page = testing::ReadFixture(fixtures[f]);
    REQUIRE(!page.empty());
    for (const Case& c : cases) {
      if (c.fixture != fixtures[f]) continue;
      CAPTURE(c.selector);
      PrometheusSum got = Sum(page, c.selector);
      CHECK(got.error == "");
      CHECK(got.sum == doctest::Approx(c.sum));
      CHECK(got.matched == c.matched);
      CHECK(got.samples == samples[f]);
      CHECK(got.name_seen);
    }
  }
}

TEST_CASE("a large page is scanned in linear time") {
  // 100k series, 3 labels each, ~7 MB: a quadratic scan would take minutes.
  std::string page;
  page.reserve(8 << 20);
  for (int i = 0; i < 100000; ++i) {
    page += "rq_active{pod=\"p" + std::to_string(i) + "\",route=\"/api/v1/things/" +
            std::to_string(i % 97) + "\",method=\"GET\"} 1\n";
  }
  PrometheusSum got = Sum(page, R"(rq_active{route=~"/api/v1/things/1\\d*"})");
  CHECK(got.error == "");
  CHECK(got.samples == 100000);
  CHECK(got.matched == 11 * 1031);  // routes 1 and 10..19 of every 97
}

}  // namespace
}  // namespace lastcall

#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The prometheus drain monitor's two pure halves: a PromQL-style metric selector, and a scan of
// a scraped page (Prometheus text format 0.0.4 or OpenMetrics text 1.0) that sums the samples the
// selector picks. Both are fuzzable: any input gives a value or an error, in time linear in its
// size, without deep recursion.
namespace lastcall {

enum class LabelMatchOp {
  kEqual,         // label="v"
  kNotEqual,      // label!="v"
  kRegexMatch,    // label=~"re"
  kRegexNoMatch,  // label!~"re"
};

class LabelRegex;  // a compiled, size-checked RE2 (prometheus_text.cc)

struct LabelMatcher {
  std::string label;
  LabelMatchOp op = LabelMatchOp::kEqual;
  std::string value;                        // the literal, or the regex as written
  std::shared_ptr<const LabelRegex> regex;  // set for the two regex ops
};

struct MetricSelector {
  std::string name;  // the full sample name: `foo_total`, `foo_bucket`, `foo_count`, not `foo`
  std::vector<LabelMatcher> matchers;

  // The canonical spelling, for logs: name{a="x",b=~"re"} (just `name` without matchers).
  std::string ToString() const;
};

// Parses `name` or `name{a="x", b!="y", c=~"re.*", d!~"re"}` as PromQL does:
// - values in "double" or 'single' quotes take the escapes \\ \" \' \n \t (any other escape is
//   an error, as in PromQL: write "5\\d\\d"); values in `backticks` are raw;
// - a label that a sample lacks has the empty value, so a="" selects samples without `a`;
// - regexes are RE2 syntax, as in PromQL (Go's regexp), fully anchored (=~"5.." does not match
//   "1500"), with '.' matching a newline; backreferences do not exist in RE2 and are rejected
//   with a message that says so. Regexes whose expansion is large (over 1000 atoms after
//   counted repetition, e.g. (a?){2000}) are rejected too. Matching is linear in the value.
// The metric name is required and __name__ matchers are rejected (put the name before the braces).
// Returns nullopt and sets *error ("column 12: expected '=', '!=', '=~' or '!~' after label
// \"code\"") on failure. Pure; call it at start-up (the regex is compiled here, once).
std::optional<MetricSelector> ParseMetricSelector(std::string_view text, std::string* error);

// Label values longer than this never reach a regex matcher: the scan reports an error instead
// (a scrape that cannot be judged is not drained). Equality matchers take any length.
inline constexpr size_t kMaxRegexInputBytes = 4096;

struct PrometheusSum {
  double sum = 0;          // of the matched samples' values, NaN ones left out; +Inf stays +Inf
  size_t matched = 0;      // samples whose name and labels match, NaN ones included
  size_t nan_skipped = 0;  // matched samples whose value is NaN (not in `sum`)
  size_t samples = 0;      // sample lines in the whole exposition, any name
  // A sample, or a # HELP / # TYPE / # UNIT line, names the selector's metric (its family
  // counts: `foo` declares `foo_count`, `foo_bucket`, `foo_total`, ...). Tells "no series of
  // this metric is busy" (declared, zero matches) apart from "no such metric" (a typo).
  bool name_seen = false;
  // Non-empty when the exposition is malformed: the first problem, "line 7: <what>: <line>".
  // The other fields are then partial and must not be used to decide anything.
  std::string error;
  bool deadline_passed = false;  // the error is that the deadline passed mid-page

  bool ok() const { return error.empty(); }
};

// Scans a scraped page and sums the samples `selector` picks. Understands text format 0.0.4 and
// OpenMetrics text: # HELP/# TYPE/# UNIT and other comment lines, `# EOF` (text after it is an
// error), optional timestamps (integer or float), exemplars (` # {...} v` after the value),
// escaped label values (\\ \" \n), NaN/+Inf/-Inf values, CRLF line ends, a missing final newline.
// Samples are matched by their full name. One malformed line makes the whole result an error:
// a page that cannot be trusted cannot say "drained". Labels the selector does not mention are
// checked for syntax only (a duplicate of one it mentions is an error). Linear time; when the
// clock passes `deadline` before the end of the page, stops with deadline_passed set and an
// error naming the line it reached. Pure but for reading the clock.
PrometheusSum SumMatchingSamples(
    std::string_view exposition, const MetricSelector& selector,
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());

}  // namespace lastcall

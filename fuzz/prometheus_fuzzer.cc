// The prometheus monitor's parsers: the first line of the input is a metric selector, the rest a
// scraped page. A selector that does not parse is replaced by fixed ones, so that every input
// also exercises the exposition scanner (with equality and regex matchers).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/prometheus_text.h"
#include "fuzz_check.h"

namespace {

using lastcall::MetricSelector;
using lastcall::fuzz::Require;

const std::vector<MetricSelector>& FallbackSelectors() {
  static const std::vector<MetricSelector> selectors = [] {
    std::vector<MetricSelector> out;
    for (const char* text :
         {"envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix=\"ingress_http\"}",
          "http_requests_total{code=~\"5..\",method!=\"GET\",path!~\"/health.*\"}", "a"}) {
      std::string error;
      std::optional<MetricSelector> selector = lastcall::ParseMetricSelector(text, &error);
      Require(selector.has_value(), "the fallback selectors parse");
      out.push_back(std::move(*selector));
    }
    return out;
  }();
  return selectors;
}

void CheckSum(std::string_view exposition, const MetricSelector& selector) {
  const lastcall::PrometheusSum sum = lastcall::SumMatchingSamples(exposition, selector);
  if (!sum.ok()) return;
  Require(sum.matched <= sum.samples, "matched samples are among all samples");
  Require(sum.nan_skipped <= sum.matched, "NaN samples skipped are among the matched");
  Require(!std::isnan(sum.sum) || sum.matched > sum.nan_skipped,
          "the sum is NaN only when non-NaN values (+Inf and -Inf) were added");
  Require(sum.matched == 0 || sum.name_seen, "a matched sample means the name was seen");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [head, body] =
      lastcall::fuzz::SplitFirstLine(std::string_view(reinterpret_cast<const char*>(data), size));
  std::string error;
  const std::optional<MetricSelector> selector = lastcall::ParseMetricSelector(head, &error);
  if (selector) {
    // The canonical spelling logs show must parse back to the same selector.
    const std::string canonical = selector->ToString();
    std::string again_error;
    const std::optional<MetricSelector> again =
        lastcall::ParseMetricSelector(canonical, &again_error);
    Require(again.has_value(), "MetricSelector::ToString parses");
    Require(again->ToString() == canonical, "MetricSelector::ToString is canonical");
    CheckSum(body, *selector);
  } else {
    Require(!error.empty(), "a rejected selector comes with a reason");
    for (const MetricSelector& fallback : FallbackSelectors()) CheckSum(body, fallback);
  }
  return 0;
}

#include "config/budget.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "config/config_keys.h"

namespace lastcall {
namespace {

using std::chrono::seconds;

TEST_CASE("ComputeBudget adds lb_delay, drain timeout, exit_delay and the margin") {
  Config config;
  Budget budget = ComputeBudget(config);
  CHECK(budget.lb_delay == seconds{5});
  CHECK(budget.drain_timeout == seconds{20});
  CHECK(budget.exit_delay == seconds{0});
  CHECK(budget.margin == Config::kBudgetMargin);
  CHECK(budget.total == seconds{27});
  CHECK(budget.grace_period == seconds{30});
  CHECK(budget.fits());
  CHECK(budget.spare() == seconds{3});
  CHECK(budget.MinimumGraceSeconds() == 27);
}

TEST_CASE("FormatBudget") {
  struct Case {
    Millis lb_delay, drain_timeout, exit_delay, grace_period;
    bool fits;
    std::string want;
  };
  const std::vector<Case> cases = {
      {seconds{5}, seconds{20}, seconds{0}, seconds{30}, true,
       "lb_delay 5s + drain.timeout 20s + exit_delay 0s + margin 2s = 27s \xE2\x89\xA4 "
       "grace_period 30s: fits (3s spare)"},
      {seconds{5}, seconds{20}, seconds{0}, seconds{27}, true,
       "lb_delay 5s + drain.timeout 20s + exit_delay 0s + margin 2s = 27s \xE2\x89\xA4 "
       "grace_period 27s: fits (0s spare)"},
      {seconds{5}, seconds{30}, seconds{0}, seconds{30}, false,
       "lb_delay 5s + drain.timeout 30s + exit_delay 0s + margin 2s = 37s > grace_period 30s: "
       "does not fit: raise terminationGracePeriodSeconds to at least 37 or lower drain.timeout "
       "to at most 23s"},
      {Millis{5500}, seconds{20}, seconds{0}, seconds{27}, false,
       "lb_delay 5.5s + drain.timeout 20s + exit_delay 0s + margin 2s = 27.5s > grace_period "
       "27s: does not fit: raise terminationGracePeriodSeconds to at least 28 or lower "
       "drain.timeout to at most 19.5s"},
      {seconds{10}, seconds{25}, seconds{1}, seconds{30}, false,
       "lb_delay 10s + drain.timeout 25s + exit_delay 1s + margin 2s = 38s > grace_period 30s: "
       "does not fit: raise terminationGracePeriodSeconds to at least 38 or lower drain.timeout "
       "to at most 17s"},
      {seconds{40}, seconds{5}, seconds{0}, seconds{30}, false,
       "lb_delay 40s + drain.timeout 5s + exit_delay 0s + margin 2s = 47s > grace_period 30s: "
       "does not fit: raise terminationGracePeriodSeconds to at least 47 or lower lb_delay and "
       "drain.timeout"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.want);
    Config config;
    config.shutdown.lb_delay = LbDelay::Fixed{c.lb_delay};
    config.shutdown.drain.timeout = c.drain_timeout;
    config.shutdown.exit_delay = c.exit_delay;
    config.shutdown.grace_period = c.grace_period;
    Budget budget = ComputeBudget(config);
    CHECK(budget.fits() == c.fits);
    CHECK(FormatBudget(budget) == c.want);
  }
}

TEST_CASE("the check report writes a number in its shortest form, as a person would") {
  // fmt's shortest round trip (std::to_chars wrote 1e-04 for 0.0001 and cost the static binary
  // 127 KB of tables: docs/architecture.md, "What the binary carries").
  const std::vector<std::pair<double, std::string>> cases = {
      {0, "0"}, {1.5, "1.5"}, {2, "2"}, {0.0001, "0.0001"}, {0.1, "0.1"}, {1e20, "1e+20"}};
  for (const auto& item : cases) {
    const double value = item.first;
    const std::string& text = item.second;
    CAPTURE(text);
    Config config;
    config.shutdown.drain.monitor.drained_at = value;
    CHECK(FormatConfigValue(config, "shutdown.drain.monitor.drained_at") == text);
  }
}

}  // namespace
}  // namespace lastcall

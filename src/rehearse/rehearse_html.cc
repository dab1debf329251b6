#include "rehearse_html.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "base/duration.h"

namespace lastcall {
namespace {

// The chart's geometry, in SVG user units.
constexpr double kWidth = 1100;
constexpr double kHeight = 470;
constexpr double kLeft = 66;
constexpr double kRight = 66;
constexpr double kTop = 120;  // room for the marker labels
constexpr double kBottom = 48;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
constexpr double kPlotHeight = kHeight - kTop - kBottom;
constexpr int kLabelRows = 6;
constexpr double kLabelRowHeight = 16;
constexpr double kCharWidth = 6.4;   // average width of an 11px sans-serif character
constexpr double kMinFailedBar = 3;  // one failure must stay visible next to hundreds of successes
constexpr size_t kMaxFailureRows = 200;

struct Scale {
  double x_min = 0;  // ms since T0
  double x_max = 1;
  double rate_max = 1;       // requests/s
  double in_flight_max = 1;  // requests
  double X(double ms) const { return kLeft + (ms - x_min) / (x_max - x_min) * kPlotWidth; }
  double YRate(double rate) const { return kTop + kPlotHeight - rate / rate_max * kPlotHeight; }
  double YInFlight(double n) const { return kTop + kPlotHeight - n / in_flight_max * kPlotHeight; }
};

// The smallest 1, 2 or 5 times a power of ten that is at least `value`.
double NiceCeiling(double value) {
  if (value <= 1) return 1;
  const double power = std::pow(10.0, std::floor(std::log10(value)));
  for (double step : {1.0, 2.0, 5.0, 10.0}) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

std::string Num(double value) { return fmt::format("{:.1f}", value); }

std::string SourceColor(const PhaseMark& mark) {
  if (mark.id == "grace-deadline" || mark.id == "app-killed" || mark.id == "app-sigkill" ||
      mark.id == "timed-out" || mark.id == "sidecar-killed") {
    return "#cf222e";
  }
  if (mark.source == "lastcall") return "#0969da";
  if (mark.source == "balancer") return "#8250df";
  if (mark.source == "load") return "#6e7781";
  return "#24292f";
}

std::string TickLabel(double ms) {
  if (std::fabs(ms) < 0.5) return "T0";
  const double seconds = ms / 1000.0;
  const bool whole = std::fabs(seconds - std::round(seconds)) < 1e-9;
  return whole ? fmt::format("{:+.0f}s", seconds) : fmt::format("{:+.1f}s", seconds);
}

const PhaseMark* FindMark(const RehearsalReport& report, std::string_view id) {
  for (const PhaseMark& mark : report.phases) {
    if (mark.id == id) return &mark;
  }
  return nullptr;
}

Scale MakeScale(const RehearsalReport& report) {
  Scale scale;
  const double width = static_cast<double>(report.bucket_width.count());
  scale.x_min = static_cast<double>(report.buckets_start.count());
  scale.x_max =
      scale.x_min + width * static_cast<double>(std::max<size_t>(report.buckets.size(), 1));
  // Show the grace deadline when it is not far off: it is the line everything must beat.
  const double grace = static_cast<double>(report.settings.config.shutdown.grace_period.count());
  if (grace > scale.x_max && grace <= scale.x_max + (scale.x_max - scale.x_min) * 0.6) {
    scale.x_max = grace + width * 2;
  }
  double rate_max = 0;
  double in_flight_max = 0;
  for (const Bucket& bucket : report.buckets) {
    const double total = bucket.ok + bucket.other_replica + bucket.failed;
    rate_max = std::max(rate_max, total * 1000.0 / width);
    in_flight_max = std::max(in_flight_max, static_cast<double>(bucket.in_flight));
  }
  scale.rate_max = NiceCeiling(rate_max);
  scale.in_flight_max = NiceCeiling(in_flight_max);
  return scale;
}

void RenderAxes(const Scale& scale, Millis bucket_width, std::string* svg) {
  const double span_s = (scale.x_max - scale.x_min) / 1000.0;
  double step_s = 60;
  for (double candidate : {0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0}) {
    if (span_s / candidate <= 16) {
      step_s = candidate;
      break;
    }
  }
  const double step = step_s * 1000;
  *svg += "<g class=\"axes\">";
  for (double t = std::ceil(scale.x_min / step) * step; t <= scale.x_max; t += step) {
    const double x = scale.X(t);
    *svg += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
        Num(x), Num(kTop), Num(kTop + kPlotHeight), Num(kTop + kPlotHeight + 16), TickLabel(t));
  }
  // Five intervals: a 1, 2 or 5 times 10^k maximum gives round ticks on both axes.
  for (int i = 0; i <= 5; ++i) {
    const double rate = scale.rate_max * i / 5;
    const double y = scale.YRate(rate);
    *svg += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5}</text>"
        "<text class=\"tick in-flight-tick\" x=\"{6}\" y=\"{4}\">{7}</text>",
        Num(kLeft), Num(kLeft + kPlotWidth), Num(y), Num(kLeft - 6), Num(y + 4),
        fmt::format("{:g}", rate), Num(kLeft + kPlotWidth + 6),
        fmt::format("{:g}", scale.in_flight_max * i / 5));
  }
  *svg += fmt::format(
      "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>"
      "<text class=\"axis-title\" transform=\"translate(16 {}) rotate(-90)\" "
      "text-anchor=\"middle\">requests/s (per {} bucket)</text>"
      "<text class=\"axis-title in-flight-tick\" transform=\"translate({} {}) rotate(90)\" "
      "text-anchor=\"middle\">in flight</text>"
      "<text class=\"axis-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">time since the pod's "
      "deletion (T0)</text>",
      Num(kLeft), Num(kTop), Num(kPlotWidth), Num(kPlotHeight), Num(kTop + kPlotHeight / 2),
      FormatDuration(bucket_width), Num(kWidth - 14), Num(kTop + kPlotHeight / 2),
      Num(kLeft + kPlotWidth / 2), Num(kHeight - 8));
  *svg += "</g>";
}

void RenderBands(const RehearsalReport& report, const Scale& scale, std::string* svg) {
  const PhaseMark* unready = FindMark(report, "unready");
  const PhaseMark* draining = FindMark(report, "draining");
  const PhaseMark* end = FindMark(report, "drained");
  if (end == nullptr) end = FindMark(report, "timed-out");
  auto band = [&](const PhaseMark* from, const PhaseMark* to, std::string_view id,
                  std::string_view title) {
    if (from == nullptr || to == nullptr || to->at < from->at) return;
    const double x1 = scale.X(static_cast<double>(from->at.count()));
    const double x2 = scale.X(static_cast<double>(to->at.count()));
    *svg += fmt::format(
        "<rect class=\"band {0}\" data-band=\"{0}\" x=\"{1}\" y=\"{2}\" width=\"{3}\" "
        "height=\"{4}\"><title>{5}</title></rect>",
        id, Num(x1), Num(kTop), Num(std::max(x2 - x1, 1.0)), Num(kPlotHeight), title);
  };
  band(unready, draining, "lb-delay", "lb_delay: unready, waiting for load balancers");
  band(draining, end, "drain", "draining: waiting for in-flight work");
}

void RenderSeries(const RehearsalReport& report, const Scale& scale, std::string* svg) {
  const double width = static_cast<double>(report.bucket_width.count());
  const double bar = std::max(scale.X(width) - scale.X(0) - 0.6, 0.8);
  std::string ok = "<g class=\"series ok\" data-series=\"ok\">";
  std::string other = "<g class=\"series other\" data-series=\"other_replica\">";
  std::string failed = "<g class=\"series failed\" data-series=\"failed\">";
  std::string line;
  for (size_t i = 0; i < report.buckets.size(); ++i) {
    const Bucket& bucket = report.buckets[i];
    const double start = scale.x_min + width * static_cast<double>(i);
    const double x = scale.X(start);
    double base = scale.YRate(0);
    auto stack = [&](std::string* group, uint32_t count, double min_height, std::string_view what) {
      if (count == 0) return;
      const double height =
          std::max(count * 1000.0 / width / scale.rate_max * kPlotHeight, min_height);
      base -= height;
      *group += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}: {} {}</title></rect>",
          Num(x), Num(base), Num(bar), Num(height),
          FormatOffset(Millis(static_cast<long long>(start))), count, what);
    };
    stack(&ok, bucket.ok, 0, "answered by the replica");
    stack(&other, bucket.other_replica, 0, "answered by other replicas");
    stack(&failed, bucket.failed, kMinFailedBar, "failed");
    line +=
        fmt::format("{},{} ", Num(scale.X(start + width)), Num(scale.YInFlight(bucket.in_flight)));
  }
  *svg += ok + "</g>" + other + "</g>" + failed + "</g>";
  *svg +=
      "<polyline class=\"series in-flight\" data-series=\"in_flight\" points=\"" + line + "\"/>";
}

void RenderMarkers(const RehearsalReport& report, const Scale& scale, std::string* svg) {
  double row_end[kLabelRows];
  std::fill(std::begin(row_end), std::end(row_end), -1e9);
  *svg += "<g class=\"markers\">";
  for (const PhaseMark& mark : report.phases) {
    const double at = static_cast<double>(mark.at.count());
    // A phase beyond the picture (a distant grace deadline) is a label at the edge, no line.
    const bool after = at > scale.x_max;
    const bool before = at < scale.x_min;
    const double x = scale.X(std::clamp(at, scale.x_min, scale.x_max));
    const std::string label = std::string(before ? "\u2190 " : "") + mark.label + " " +
                              FormatOffset(mark.at) + (after ? " \u2192" : "");
    // Labels near the right edge read leftwards so they stay inside the picture. Each takes the
    // first row where it overlaps no earlier label (or the row that frees up first).
    const double text_width = static_cast<double>(label.size()) * kCharWidth;
    const bool leftwards = x + text_width > kWidth - 4;
    const double start = leftwards ? x - 3 - text_width : x + 3;
    int row = 0;
    for (int r = 0; r < kLabelRows; ++r) {
      if (row_end[r] < start - 4) {
        row = r;
        break;
      }
      if (row_end[r] < row_end[row]) row = r;
    }
    row_end[row] = start + text_width;
    const double label_y = 16 + row * kLabelRowHeight;
    const std::string color = SourceColor(mark);
    const bool dashed = mark.source != "lastcall";
    *svg += fmt::format(
        "<g class=\"phase{13}\" id=\"phase-{0}\" data-phase=\"{0}\" data-source=\"{1}\" "
        "data-at-ms=\"{2}\"><title>{3}</title>"
        "<line x1=\"{4}\" y1=\"{5}\" x2=\"{4}\" y2=\"{6}\" stroke=\"{7}\"{8}/>"
        "<text x=\"{9}\" y=\"{10}\" fill=\"{7}\" text-anchor=\"{11}\">{12}</text></g>",
        EscapeHtml(mark.id), EscapeHtml(mark.source), mark.at.count(),
        EscapeHtml(mark.label + " at " + FormatOffset(mark.at) +
                   (mark.detail.empty() ? "" : ": " + mark.detail)),
        Num(x), Num(label_y + 3), Num(before || after ? label_y + 3 : kTop + kPlotHeight), color,
        dashed ? " stroke-dasharray=\"4 3\"" : "", Num(leftwards ? x - 3 : x + 3), Num(label_y),
        leftwards ? "end" : "start", EscapeHtml(label), before || after ? " offscale" : "");
  }
  *svg += "</g>";
}

std::string RenderChart(const RehearsalReport& report) {
  const Scale scale = MakeScale(report);
  std::string svg = fmt::format(
      "<svg id=\"timeline-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" "
      "role=\"img\" aria-labelledby=\"chart-title\"><title id=\"chart-title\">Requests per second, "
      "failures and requests in flight around the pod's deletion</title>",
      kWidth, kHeight);
  RenderBands(report, scale, &svg);
  RenderAxes(scale, report.bucket_width, &svg);
  RenderSeries(report, scale, &svg);
  RenderMarkers(report, scale, &svg);
  svg += "</svg>";
  return svg;
}

std::string Row(std::initializer_list<std::string> cells, bool header = false) {
  std::string row = "<tr>";
  for (const std::string& cell : cells) {
    row += header ? "<th>" : "<td>";
    row += cell;  // already escaped by the caller
    row += header ? "</th>" : "</td>";
  }
  return row + "</tr>";
}

std::string OptionalOffset(const std::optional<Millis>& at) { return at ? FormatOffset(*at) : "—"; }

std::string RenderSummary(const RehearsalReport& report) {
  const RequestTotals& r = report.requests;
  const Config& config = report.settings.config;
  std::string html = "<section id=\"summary\"><h2>Requests</h2><table class=\"numbers\">";
  html += Row({"sent", std::to_string(r.sent)});
  html += Row({"answered by the replica", std::to_string(r.count(RequestOutcome::kOk))});
  html += Row({"answered by other replicas (after the endpoint removal)",
               std::to_string(r.count(RequestOutcome::kOtherReplica))});
  html += "<tr class=\"" + std::string(r.failed() > 0 ? "bad" : "good") +
          "\" data-count=\"failed\"><td>failed</td><td>" + std::to_string(r.failed()) +
          "</td></tr>";
  for (RequestOutcome outcome :
       {RequestOutcome::kRefused, RequestOutcome::kReset, RequestOutcome::kTimeout,
        RequestOutcome::kNon2xx, RequestOutcome::kMalformed}) {
    html += "<tr class=\"cause\" data-cause=\"" + std::string(ToString(outcome)) + "\"><td>" +
            std::string(ToString(outcome)) + "</td><td>" + std::to_string(r.count(outcome)) +
            "</td></tr>";
  }
  if (r.count(RequestOutcome::kNotSent) > 0) {
    html += Row({"not sent (the load generator's own limit)",
                 std::to_string(r.count(RequestOutcome::kNotSent))});
  }
  html += Row({"longest answer from the replica", FormatMeasured(r.longest_replica)});
  html += Row({"answered by the replica after the endpoint removal (kept-alive connections)",
               std::to_string(r.replica_after_removal)});
  html += "</table><h2>Shutdown</h2><table class=\"numbers\">";
  html += Row({"lastcall's drain (draining phase)",
               report.drain_time ? FormatMeasured(*report.drain_time) : "—"});
  for (const auto& [name, end] :
       {std::pair{"lb", &report.lb_wait_end}, std::pair{"drain", &report.drain_end}}) {
    if (!*end) continue;
    html += "<tr class=\"wait-end\" data-wait=\"" + std::string(name) + "\" data-reason=\"" +
            EscapeHtml((*end)->reason) + "\"><td>" +
            (std::string_view(name) == "lb" ? "the lb wait ended" : "the drain ended") +
            ((*end)->at ? " at " + FormatOffset(*(*end)->at) : "") + "</td><td>" +
            EscapeHtml((*end)->text) + "</td></tr>";
  }
  html +=
      Row({"app exited",
           !report.settings.app_started
               ? std::string("not started by rehearse")
               : OptionalOffset(report.app.exited_at) +
                     (report.app.exit_code ? " (code " + std::to_string(*report.app.exit_code) + ")"
                                           : "")});
  html += "<tr class=\"" + std::string(report.app_exited_in_grace ? "good" : "bad") +
          "\"><td>inside the grace period (" + FormatDuration(config.shutdown.grace_period) +
          ")</td><td>" + (report.app_exited_in_grace ? "yes" : "no") +
          (report.app.killed ? ", killed" : "") + "</td></tr>";
  if (report.sidecar) {
    html += Row(
        {"lastcall exited", OptionalOffset(report.sidecar->exited_at) +
                                (report.sidecar->exit_code
                                     ? " (code " + std::to_string(*report.sidecar->exit_code) + ")"
                                     : "") +
                                (report.sidecar->killed ? ", killed" : "")});
  }
  html += "</table></section>";
  return html;
}

std::string RenderAdvice(const RehearsalReport& report) {
  if (report.advice.empty()) return "";
  std::string html = "<section id=\"advice\"><h2>Advice</h2><ul>";
  for (const Advice& advice : report.advice) {
    const std::string level(ToString(advice.level));
    html += "<li class=\"advice " + level + "\" data-advice=\"";
    html += EscapeHtml(advice.id) + "\"><span class=\"level\">" + level + "</span> ";
    html += EscapeHtml(advice.text) + "</li>";
  }
  return html + "</ul></section>";
}

std::string RenderTables(const RehearsalReport& report) {
  std::string html = "<section id=\"phases\"><h2>Timeline</h2><table>";
  html += Row({"at", "source", "event", "detail"}, true);
  for (const PhaseMark& mark : report.phases) {
    html += Row({FormatOffset(mark.at), EscapeHtml(mark.source), EscapeHtml(mark.label),
                 EscapeHtml(mark.detail)});
  }
  html += "</table><h3>The kubelet's view</h3><table>";
  html += Row({"at", "container", "event", "detail"}, true);
  for (const KubeletEvent& event : report.kubelet) {
    html +=
        Row({FormatOffset(event.at), EscapeHtml(event.container.empty() ? "pod" : event.container),
             EscapeHtml(event.what), EscapeHtml(event.detail)});
  }
  html += "</table></section>";
  if (!report.failures.empty()) {
    html += "<section id=\"failures\"><h2>Failed requests</h2>";
    if (report.failures.size() > kMaxFailureRows) {
      html += "<p>The first " + std::to_string(kMaxFailureRows) + " of " +
              std::to_string(report.failures.size()) + " (the JSON report lists them all).</p>";
    }
    html += "<table>";
    html += Row({"sent", "ended", "cause", "status", "path", "connection"}, true);
    const size_t rows = std::min(report.failures.size(), kMaxFailureRows);
    for (size_t i = 0; i < rows; ++i) {
      const FailedRequest& failure = report.failures[i];
      html += Row({FormatOffset(failure.sent_at), FormatOffset(failure.finished_at),
                   std::string(ToString(failure.outcome)),
                   failure.status == 0 ? "—" : std::to_string(failure.status),
                   EscapeHtml(failure.path), failure.reused_connection ? "reused" : "new"});
    }
    html += "</table></section>";
  }
  return html;
}

std::string RenderSettings(const RehearsalReport& report) {
  const RehearsalSettings& s = report.settings;
  const Config& config = s.config;
  std::string paths;
  for (const std::string& path : s.paths) paths += (paths.empty() ? "" : ", ") + path;
  std::string html = "<section id=\"settings\"><h2>Settings</h2><table>";
  html += Row({"app", "<code>" + EscapeHtml(s.app) + "</code>"});
  html += Row({"app URL", EscapeHtml(s.app_url)});
  html += Row({"load", std::to_string(s.rps) + " requests/s over " + EscapeHtml(paths) + ", " +
                           (s.through_balancer ? "through the built-in load balancer"
                                               : "straight to the app (--direct)")});
  html += Row({"pod shape", s.native_sidecar ? "native sidecar" : "regular sidecar"});
  html += Row({"propagation delay", FormatDuration(s.propagation_delay)});
  html += Row({"lb_delay", FormatDuration(config.shutdown.lb_delay.bound())});
  html += Row({"drain.timeout", FormatDuration(config.shutdown.drain.timeout)});
  html += Row({"exit_delay", FormatDuration(config.shutdown.exit_delay)});
  html += Row({"grace period", FormatDuration(config.shutdown.grace_period)});
  html +=
      Row({"drain monitor poll interval", FormatDuration(config.shutdown.drain.monitor.interval)});
  if (!s.config_file.empty()) html += Row({"config file", EscapeHtml(s.config_file)});
  html += Row({"lastcall", EscapeHtml(report.version)});
  return html + "</table></section>";
}

constexpr const char* kStyle = R"css(
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #24292f;
  margin: 24px auto; max-width: 1160px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.verdict { font-size: 17px; font-weight: 600; padding: 10px 14px; border-radius: 6px; }
.verdict.passed { background: #dafbe1; color: #116329; }
.verdict.failed { background: #ffebe9; color: #a40e26; }
.meta { color: #57606a; }
table { border-collapse: collapse; } td, th { padding: 3px 12px 3px 0; text-align: left;
  vertical-align: top; } th { border-bottom: 1px solid #d0d7de; }
table.numbers td:nth-child(2) { text-align: right; font-variant-numeric: tabular-nums; }
tr.cause td:first-child { padding-left: 18px; color: #57606a; }
tr.bad td { color: #a40e26; font-weight: 600; } tr.good td:nth-child(2) { color: #116329; }
.columns { display: flex; gap: 48px; flex-wrap: wrap; }
ul { padding-left: 0; list-style: none; } li.advice { margin: 6px 0; padding: 6px 10px;
  border-left: 4px solid #d0d7de; background: #f6f8fa; }
li.advice .level { font-weight: 600; text-transform: uppercase; font-size: 11px; margin-right: 4px; }
li.problem { border-color: #cf222e; } li.warning { border-color: #bf8700; }
li.ok { border-color: #1a7f37; } li.info { border-color: #0969da; }
svg { width: 100%; height: auto; background: #fff; font: 11px system-ui, sans-serif; }
.grid { stroke: #eaeef2; } .frame { fill: none; stroke: #d0d7de; }
.tick { fill: #57606a; } .axis-title { fill: #57606a; font-size: 12px; }
.in-flight-tick { fill: #bc4c00; }
.ok rect { fill: #2da44e; } .other rect { fill: #a8b3bd; } .failed rect { fill: #cf222e; }
.in-flight { fill: none; stroke: #bc4c00; stroke-width: 1.8; }
.band.lb-delay { fill: #fff8c5; } .band.drain { fill: #ddf4ff; }
.phase line { stroke-width: 1.3; } .phase text { font-size: 11px; }
.hidden { display: none; }
.legend { display: flex; gap: 8px; flex-wrap: wrap; margin: 6px 0; }
.legend button { font: inherit; border: 1px solid #d0d7de; background: #f6f8fa; border-radius: 6px;
  padding: 2px 10px; cursor: pointer; } .legend button.off { opacity: .45; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
)css";

// Legend buttons toggle their series; the last line tells a headless browser the script ran.
constexpr const char* kScript = R"js(
(function () {
  document.querySelectorAll('.legend button[data-toggle]').forEach(function (button) {
    button.addEventListener('click', function () {
      var name = button.getAttribute('data-toggle');
      button.classList.toggle('off');
      document.querySelectorAll('[data-series="' + name + '"]').forEach(function (el) {
        el.classList.toggle('hidden');
      });
    });
  });
  document.body.setAttribute('data-rendered', 'ok');
})();
)js";

}  // namespace

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderHtmlReport(const RehearsalReport& report) {
  const bool passed = report.passed();
  const std::string verdict_class = passed ? "passed" : "failed";
  std::string verdict = FormatSummary(report);
  verdict = verdict.substr(0, verdict.find('\n'));
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>lastcall rehearse: " +
      std::string(passed ? "PASSED" : "FAILED") + "</title><style>" + kStyle +
      "</style></head>\n<body data-verdict=\"" + verdict_class + "\">";
  html += "<header><h1>lastcall rehearse</h1><p class=\"meta\">" + EscapeHtml(report.settings.app) +
          " · " + EscapeHtml(report.started_at) + "</p><p class=\"verdict " + verdict_class +
          "\" id=\"verdict\">" + EscapeHtml(verdict) + "</p></header>\n";
  html += RenderAdvice(report);
  html += "<section id=\"timeline\"><h2>Timeline</h2>";
  html +=
      "<div class=\"legend\">"
      "<button data-toggle=\"ok\"><span class=\"swatch\" style=\"background:#2da44e\">"
      "</span>answered by the replica</button>"
      "<button data-toggle=\"other_replica\"><span class=\"swatch\" "
      "style=\"background:#a8b3bd\"></span>answered by other replicas</button>"
      "<button data-toggle=\"failed\"><span class=\"swatch\" style=\"background:#cf222e\">"
      "</span>failed</button>"
      "<button data-toggle=\"in_flight\"><span class=\"swatch\" "
      "style=\"background:#bc4c00\"></span>in flight (right axis)</button>"
      "<span class=\"meta\"><span class=\"swatch\" style=\"background:#fff8c5\"></span>"
      "lb_delay <span class=\"swatch\" style=\"background:#ddf4ff;margin-left:8px\"></span>"
      "draining</span></div>\n";
  html += RenderChart(report);
  html += "</section>\n<div class=\"columns\">" + RenderSummary(report) + RenderSettings(report) +
          "</div>\n";
  html += RenderTables(report);
  html += "\n<script>" + std::string(kScript) + "</script>\n</body></html>\n";
  return html;
}

}  // namespace lastcall

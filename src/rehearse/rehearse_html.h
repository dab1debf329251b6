#pragma once

#include <string>
#include <string_view>

#include "rehearse_report.h"

// The rehearsal report as one self-contained HTML page (inline CSS, inline SVG, a few lines of
// inline script and no external resource), to open in a browser or keep as a CI artifact.
//
// The SVG timeline shows, per bucket of report.bucket_width: requests answered per second by the
// replica and by the rest of the Service, failed requests, and the requests in flight; shaded
// bands for lb_delay and the drain; and a vertical marker for each phase. Stable hooks for tests
// and tools: every marker is `<g class="phase" id="phase-ID" data-phase="ID" data-at-ms="N">`
// (ID as in PhaseMark::id; a phase beyond the picture's time range, such as a distant grace
// deadline, is a label at its edge with class "phase offscale"), every series
// `data-series="ok|other_replica|failed|in_flight"`, each advice item `data-advice="ID"`, and
// `<body data-verdict="passed|failed">`. The script marks
// `<body data-rendered="ok">` once it ran, so a headless browser can tell it ran without error.
// Every string from the outside (the app's command, paths, details) is escaped. Pure.
namespace lastcall {

std::string RenderHtmlReport(const RehearsalReport& report);

// Escapes & < > " ' for HTML text and attribute values.
std::string EscapeHtml(std::string_view text);

}  // namespace lastcall

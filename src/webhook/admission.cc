#include "admission.h"

#include <fmt/format.h>

namespace lastcall {

const char* AdmitOutcomeName(AdmitOutcome outcome) {
  switch (outcome) {
    case AdmitOutcome::kInjected:
      return "injected";
    case AdmitOutcome::kReinjected:
      return "reinjected";
    case AdmitOutcome::kAlreadyInjected:
      return "already_injected";
    case AdmitOutcome::kOptedOut:
      return "opted_out";
    case AdmitOutcome::kExcluded:
      return "excluded";
    case AdmitOutcome::kNotPlanned:
      return "not_planned";
    case AdmitOutcome::kRefused:
      return "refused";
  }
  return "refused";
}

AdmissionResult Admit(std::string_view request_body, const AdmitOptions& options) {
  (void)request_body;
  (void)options;
  AdmissionResult result;
  result.status = 400;
  result.content_type = "text/plain; charset=utf-8";
  result.body = "not yet\n";
  return result;
}

void AdmissionCounters::Record(const AdmissionResult& result) {
  counts_[static_cast<size_t>(result.outcome)].fetch_add(1, std::memory_order_relaxed);
  if (result.dry_run) dry_runs_.fetch_add(1, std::memory_order_relaxed);
}

uint64_t AdmissionCounters::Count(AdmitOutcome outcome) const {
  return counts_[static_cast<size_t>(outcome)].load(std::memory_order_relaxed);
}

std::string AdmissionCounters::PrometheusText() const {
  std::string text =
      "# HELP lastcall_webhook_admissions_total Admission requests answered, by outcome.\n"
      "# TYPE lastcall_webhook_admissions_total counter\n";
  for (size_t i = 0; i < kAdmitOutcomeCount; ++i) {
    text += fmt::format("lastcall_webhook_admissions_total{{outcome=\"{}\"}} {}\n",
                        AdmitOutcomeName(static_cast<AdmitOutcome>(i)),
                        counts_[i].load(std::memory_order_relaxed));
  }
  text += fmt::format(
      "# HELP lastcall_webhook_dry_run_admissions_total Admission requests with dryRun: true.\n"
      "# TYPE lastcall_webhook_dry_run_admissions_total counter\n"
      "lastcall_webhook_dry_run_admissions_total {}\n",
      dry_runs_.load(std::memory_order_relaxed));
  return text;
}

}  // namespace lastcall

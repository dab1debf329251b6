#include "sidecar/control_service.h"

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "base/text.h"

namespace lastcall {
namespace {

bool WantsToWait(const ServerRequest& request) {
  auto it = request.query.find("wait");
  return it == request.query.end() || (it->second != "false" && it->second != "0");
}

int StatusFor(const SequenceReport& report) {
  return report.end == SequenceEnd::kDrained ? 200 : 504;
}

}  // namespace

std::string StatusJson(const SequenceReport& report) {
  nlohmann::ordered_json out;
  out["phase"] = ToString(report.phase);
  out["trigger"] = report.source ? nlohmann::ordered_json(ToString(*report.source)) : nullptr;
  out["signal_received"] = report.signal_received;
  out["ended"] = report.ended;
  if (report.end) {
    out["result"] = *report.end == SequenceEnd::kDrained ? "drained" : "timed_out";
  } else {
    out["result"] = nullptr;
  }
  out["detail"] = report.detail;
  auto& timeline = out["timeline"] = nlohmann::ordered_json::array();
  for (const auto& entry : report.timeline) {
    nlohmann::ordered_json item = {{"phase", ToString(entry.phase)},
                                   {"at", FormatUtcTimestamp(entry.at)},
                                   {"elapsed_ms", entry.since_trigger.count()},
                                   {"detail", entry.detail}};
    if (!entry.event.empty()) item["event"] = entry.event;
    timeline.push_back(std::move(item));
  }
  // Each phase's duration: until the next phase began, or until now for the current one. Entries
  // that record an event (the endpoint's removal) are no phase.
  auto& durations = out["phase_durations_ms"] = nlohmann::ordered_json::object();
  const TimelineEntry* previous = nullptr;
  for (const auto& entry : report.timeline) {
    if (!entry.event.empty()) continue;
    if (previous != nullptr) {
      durations[std::string(ToString(previous->phase))] =
          (entry.since_trigger - previous->since_trigger).count();
    }
    previous = &entry;
  }
  out["last_value"] = report.last_value ? nlohmann::ordered_json(*report.last_value) : nullptr;
  out["last_poll"] = report.last_poll;
  out["trigger_attempts"] = report.trigger_attempts;
  out["trigger_accepted"] = report.trigger_accepted;
  out["budget_ms"] = report.budget.count();
  out["recoveries"] = report.recoveries;
  if (!report.lb_wait.empty()) {
    out["lb_wait"] = {{"end", report.lb_wait},
                      {"detail", report.lb_wait_detail},
                      {"elapsed_ms", report.lb_wait_time ? report.lb_wait_time->count() : 0}};
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool TokenMatches(std::string_view presented, std::string_view expected) {
  // Walk `expected` in full whatever `presented` is, and fold the length difference in, so the
  // time taken says nothing about the prefix that matched.
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff = static_cast<unsigned char>(diff | (p ^ static_cast<unsigned char>(expected[i])));
  }
  return diff == 0 && !expected.empty();
}

ServerResponse TextResponse(int status, std::string body) {
  ServerResponse response;
  response.status = status;
  response.body = std::move(body);
  response.body += '\n';
  return response;
}

SequenceReport LiveReport(const ShutdownCoordinator& coordinator,
                          const SequenceReporter& reporter) {
  SequenceReport report = reporter.Report();
  report.phase = coordinator.phase();
  return report;
}

ServerResponse ReportResponse(int status, const SequenceReport& report) {
  ServerResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = StatusJson(report) + "\n";
  return response;
}

std::optional<std::string_view> BearerCredentials(std::string_view authorization) {
  while (!authorization.empty() &&
         (authorization.front() == ' ' || authorization.front() == '\t')) {
    authorization.remove_prefix(1);
  }
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = authorization[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != kScheme[i]) {
      return std::nullopt;
    }
  }
  std::string_view rest = authorization.substr(kScheme.size());
  if (rest.front() != ' ') return std::nullopt;  // "Bearerx" is another scheme
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
  if (rest.empty()) return std::nullopt;
  return rest;
}

ControlService::ControlService(ShutdownCoordinator& coordinator, const SequenceReporter& reporter,
                               TokenFile* token)
    : coordinator_(coordinator), reporter_(reporter), token_(token) {}

bool ControlService::Serves(std::string_view path) {
  return path == "/prestop" || path == "/status" || path == "/drained";
}

std::optional<ServerResponse> ControlService::Authorize(const ServerRequest& request) const {
  if (token_ == nullptr) return std::nullopt;
  auto it = request.headers.find("authorization");
  const std::optional<std::string_view> presented =
      it == request.headers.end() ? std::nullopt : BearerCredentials(it->second);
  if (!presented) {
    ServerResponse response = TextResponse(401, "missing bearer token");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    LogWarn("control request without a token refused",
            {{"path", request.path}, {"peer", request.peer}});
    return response;
  }
  // Only the token in the file now: a rotated-out one stops working, and while the file is
  // missing or invalid no token does (TokenFile logs why).
  const std::optional<std::string> expected = token_->Current();
  if (!expected || !TokenMatches(*presented, *expected)) {
    LogWarn("control request with a wrong token refused",
            {{"path", request.path}, {"peer", request.peer}});
    return TextResponse(403, "wrong token");
  }
  return std::nullopt;
}

void ControlService::Handle(const ServerRequest& request, const Responder& respond) {
  if (!Serves(request.path)) {
    respond(TextResponse(404, "not found"));
    return;
  }
  if (auto refusal = Authorize(request)) {
    respond(std::move(*refusal));
    return;
  }
  if (request.path == "/status") {
    if (request.method != "GET" && request.method != "HEAD") {
      respond(TextResponse(405, "use GET"));
      return;
    }
    respond(ReportResponse(200, LiveReport(coordinator_, reporter_)));
    return;
  }
  if (request.path == "/drained") {
    HandleDrained(request, respond);
    return;
  }
  HandlePreStop(request, respond);
}

void ControlService::HandleDrained(const ServerRequest& request, const Responder& respond) {
  if (request.method != "POST") {
    ServerResponse response = TextResponse(405, "use POST");
    response.headers.emplace_back("Allow", "POST");
    respond(std::move(response));
    return;
  }
  if (!coordinator_.NotifyAppDrained()) {
    respond(TextResponse(409, "not draining (phase " + std::string(ToString(coordinator_.phase())) +
                                  "): only counts after the drain trigger"));
    return;
  }
  respond(TextResponse(200, "drained: the sequence ends"));
}

void ControlService::HandlePreStop(const ServerRequest& request, const Responder& respond) {
  if (request.method != "GET" && request.method != "POST") {
    ServerResponse response = TextResponse(405, "use GET or POST");
    response.headers.emplace_back("Allow", "GET, POST");
    respond(std::move(response));
    return;
  }
  const std::string user_agent =
      request.headers.count("user-agent") != 0 ? request.headers.at("user-agent") : "";
  coordinator_.Trigger(
      TriggerSource::kPreStop,
      "preStop call from " + request.peer + (user_agent.empty() ? "" : " (" + user_agent + ")"));
  if (!WantsToWait(request)) {
    respond(ReportResponse(202, LiveReport(coordinator_, reporter_)));
    return;
  }
  // Answered at once when the sequence already ended (hooks are delivered at least once).
  const ShutdownCoordinator::WaiterId waiter =
      coordinator_.WhenEnded([respond, &reporter = reporter_] {
        const SequenceReport report = reporter.Report();
        respond(ReportResponse(StatusFor(report), report));
      });
  // A caller that hangs up stops waiting at once: thousands of abandoned calls must not pile up
  // until the sequence ends.
  if (waiter != 0) {
    respond.OnCallerLeft([this, waiter] { coordinator_.ForgetWaiter(waiter); });
  }
}

}  // namespace lastcall

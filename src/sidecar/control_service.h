#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/token_file.h"
#include "http/http_server.h"
#include "sidecar/coordinator.h"
#include "sidecar/sequence_listeners.h"

// The control endpoint: /prestop (start or join the sequence, answer when it ends), /drained (the
// app pushes that it is drained) and /status.
// It can take the pod out of service, so when a token is configured every request must carry
// `Authorization: Bearer <token>` (401 without, 403 when wrong): the token in the file now, not
// the one lastcall started with (secrets rotate).
namespace lastcall {

// The JSON object /status and the /prestop answer carry: the phase, the timeline, the last poll,
// the budget, and how it ended. `lastcall prestop` reads it.
std::string StatusJson(const SequenceReport& report);

// Compares in time that depends only on the length of `expected`, never on where they differ.
bool TokenMatches(std::string_view presented, std::string_view expected);

// The credentials of an `Authorization: Bearer <token>` value: the scheme name in any case
// (RFC 7235), then one or more spaces. nullopt for another scheme or no token.
std::optional<std::string_view> BearerCredentials(std::string_view authorization);

class ControlService {
 public:
  // `token`: null means no authentication (a Unix socket in the pod's own volume). All must
  // outlive the service; `reporter` listens to `coordinator` (what /status and /prestop answer).
  ControlService(ShutdownCoordinator& coordinator, const SequenceReporter& reporter,
                 TokenFile* token);

  // Serves /prestop, /drained and /status; anything else is 404. Never blocks: a waiting /prestop
  // keeps `respond` until the sequence ends, or until its caller leaves (Responder::OnCallerLeft),
  // which drops it at once.
  void Handle(const ServerRequest& request, const Responder& respond);

  // True when `path` is one this service answers (for the probe listener's routing).
  static bool Serves(std::string_view path);

 private:
  // Returns a response when the request is not authorized, nullopt when it may proceed.
  std::optional<ServerResponse> Authorize(const ServerRequest& request) const;
  void HandlePreStop(const ServerRequest& request, const Responder& respond);
  // POST /drained: the app pushes that it is drained; 409 outside DRAINING.
  void HandleDrained(const ServerRequest& request, const Responder& respond);

  ShutdownCoordinator& coordinator_;
  const SequenceReporter& reporter_;
  TokenFile* token_;
};

// The report as /status shows it: the reporter's, with the coordinator's phase, which leads the
// events by the time it takes to tell the listeners.
SequenceReport LiveReport(const ShutdownCoordinator& coordinator, const SequenceReporter& reporter);

// A plain-text response: `body` plus a newline.
ServerResponse TextResponse(int status, std::string body);
// A JSON response carrying the sequence report.
ServerResponse ReportResponse(int status, const SequenceReport& report);

}  // namespace lastcall

#pragma once

#include <chrono>
#include <string>

#include "base/duration.h"
#include "config/config.h"
#include "http/http_client.h"

// The mesh proxy outlives the drain and not much longer. A meshed pod holds its proxy for the
// whole budget (Istio's terminationDrainDuration, Linkerd's wait-before-exit preStop sleep) so
// that the app's drain never loses its network; once lastcall's sequence has ended and exit_delay
// has passed, nothing in the pod needs the proxy any more, and one request tells it so
// (Istio: pilot-agent's POST :15020/quitquitquit; Linkerd: the admin server's POST :4191/shutdown).
// docs/meshes.md has the sources and what each answer means.
namespace lastcall {

// What came of the quit request: for the log line, and for tests.
struct ProxyQuitOutcome {
  bool asked = false;   // false when shutdown.proxy_quit.url is unset: nothing was sent
  HttpResponse answer;  // the proxy's status and body, or the transport error
  Millis took{0};       // from the first byte of the request to the answer or the error
};

// Sends config.method to config.url once, on a fresh connection, with one absolute deadline of
// `config.timeout` (at most ProxyQuitConfig::kMaxTimeout) for connect + send + answer, and logs
// what was asked and the answer: info for a 2xx, warn otherwise with what that answer usually
// means (ExplainProxyQuitAnswer). Nothing is sent or logged when the URL is unset. Best effort:
// never retries, never throws (an exception from `http`, such as std::bad_alloc, becomes a kOther
// answer), so the caller's exit code and exit time stay its own. Thread-safe as `http` is.
ProxyQuitOutcome AskProxyToQuit(const ProxyQuitConfig& config, HttpClient& http);

// What an answer to the quit request usually means, for the operator: "" for a 2xx (the proxy
// took it), otherwise one sentence naming the likely cause (Linkerd's /shutdown is off without
// config.linkerd.io/proxy-admin-shutdown: enabled, nothing listens on that port, ...). Pure.
std::string ExplainProxyQuitAnswer(const HttpResponse& answer);

}  // namespace lastcall

#include "sidecar/proxy_quit.h"

#include <algorithm>
#include <exception>

#include "base/logging.h"
#include "base/text.h"

namespace lastcall {

std::string ExplainProxyQuitAnswer(const HttpResponse& answer) {
  switch (answer.error) {
    case HttpError::kNone:
      break;
    case HttpError::kRefused:
      return "nothing listens there: no mesh proxy in this pod, another port (Istio: "
             "status.sidecar.istio.io/port; Linkerd: config.linkerd.io/admin-port), or the "
             "proxy has already exited";
    case HttpError::kTimeout:
      return "no answer before the deadline: the kubelet stops the proxy at the end of the "
             "grace period instead";
    case HttpError::kReset:
      return "the connection closed before an answer: the proxy may have quit while answering";
    case HttpError::kMalformed:
    case HttpError::kOther:
      return answer.error_detail;
  }
  if (answer.status >= 200 && answer.status < 300) return "";
  switch (answer.status) {
    case 404:
      return "the proxy does not serve this path: Linkerd serves /shutdown only with the "
             "pod annotation config.linkerd.io/proxy-admin-shutdown: enabled (or the Helm "
             "value proxy.enableShutdownEndpoint); check the URL's port and path";
    case 403:
      return "the proxy takes quit requests from loopback only";
    case 405:
      return "the proxy wants another method: Istio and Linkerd both take POST";
    default:
      return "the proxy refused the request";
  }
}

ProxyQuitOutcome AskProxyToQuit(const ProxyQuitConfig& config, HttpClient& http) {
  ProxyQuitOutcome outcome;
  if (!config.url) return outcome;
  outcome.asked = true;
  const auto start = std::chrono::steady_clock::now();
  const Millis timeout = std::min(config.timeout, ProxyQuitConfig::kMaxTimeout);
  try {
    HttpRequest request;
    request.method = config.method;
    request.url = config.url->value;
    outcome.answer = http.Send(request, start + timeout);
  } catch (const std::exception& error) {
    outcome.answer = HttpResponse{};
    outcome.answer.error = HttpError::kOther;
    outcome.answer.error_detail = error.what();
  } catch (...) {
    outcome.answer = HttpResponse{};
    outcome.answer.error = HttpError::kOther;
    outcome.answer.error_detail = "unknown error";
  }
  outcome.took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start);

  try {
    const HttpResponse& answer = outcome.answer;
    LogFields fields{{"url", config.url->text},
                     {"method", config.method},
                     {"took_ms", static_cast<long long>(outcome.took.count())}};
    if (answer.ok()) {
      fields.emplace_back("status", answer.status);
      // Untrusted bytes: cut and escaped before they reach a terminal.
      constexpr size_t kShownBytes = 120;
      fields.emplace_back("answer",
                          EscapeForDisplay(TrimSpace(answer.body).substr(0, kShownBytes)));
    } else {
      fields.emplace_back("error", std::string(ToString(answer.error)));
    }
    const std::string why = ExplainProxyQuitAnswer(answer);
    if (why.empty()) {
      LogInfo("asked the mesh proxy to quit", fields);
    } else {
      fields.emplace_back("why", why);
      LogWarn("the mesh proxy did not take the request to quit", fields);
    }
  } catch (...) {
    // Out of memory while logging: the exit goes on without the line.
  }
  return outcome;
}

}  // namespace lastcall

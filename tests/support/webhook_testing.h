#pragma once

// The real `lastcall webhook` for tests: certificates from `lastcall webhook certs`, the server
// started on 127.0.0.1, and curl in the API server's place (verifying the chain against the CA
// and the name against the SANs, as the API server does). Test-only, header-only.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "harness.h"

namespace lastcall::test {

// The Service the certificates are made for, and the name clients verify.
inline constexpr const char* kWebhookService = "hook";
inline constexpr const char* kWebhookNamespace = "ops";
inline constexpr const char* kWebhookName = "hook.ops.svc";

// `lastcall webhook certs` into `dir` (its stderr into dir + ".err").
inline ShellRun MakeWebhookCerts(const std::string& dir, const std::string& extra = "") {
  return RunShell(std::string(LASTCALL_BINARY) + " webhook certs --service " + kWebhookService +
                  " --namespace " + kWebhookNamespace + " --out " + dir + " " + extra + " 2>" +
                  dir + ".err");
}

struct Webhook {
  Process process;
  uint16_t port = 0;
  std::string dir;  // its certificates: ca.crt, tls.crt, tls.key
};

// Starts `lastcall webhook` serving dir's tls.crt and tls.key, and waits until it serves.
inline Webhook StartWebhook(const std::string& dir, const std::vector<std::string>& extra = {}) {
  Webhook webhook;
  webhook.dir = dir;
  webhook.port = FreePort();
  std::vector<std::string> argv{
      LASTCALL_BINARY, "webhook",        "--listen",  "127.0.0.1:" + std::to_string(webhook.port),
      "--tls-cert",    dir + "/tls.crt", "--tls-key", dir + "/tls.key"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  webhook.process = Process::Spawn(argv);
  REQUIRE_MESSAGE(webhook.process.WaitForOutput("serving HTTPS", milliseconds(5000)),
                  webhook.process.Output());
  return webhook;
}

// curl to https://NAME:PORT/mutate (NAME resolved to 127.0.0.1), verifying the chain and the
// SAN; prints the body, then the status on its own last line. `args` are curl's (quoted).
inline ShellRun CurlWebhook(const Webhook& webhook, const std::string& args,
                            const std::string& name = kWebhookName) {
  const std::string port = std::to_string(webhook.port);
  return RunShell("curl -sS --max-time 5 --cacert " + webhook.dir + "/ca.crt --resolve " + name +
                  ":" + port + ":127.0.0.1 -w '\\n%{http_code}' " + args + " https://" + name +
                  ":" + port + "/mutate 2>&1");
}

// GET https://NAME:PORT/metrics, verified as CurlWebhook verifies.
inline std::string WebhookMetrics(const Webhook& webhook) {
  const std::string port = std::to_string(webhook.port);
  return RunShell("curl -sS --max-time 5 --cacert " + webhook.dir + "/ca.crt --resolve " +
                  kWebhookName + ":" + port + ":127.0.0.1 https://" + kWebhookName + ":" + port +
                  "/metrics")
      .out;
}

// lastcall_webhook_admissions_total{outcome="OUTCOME"} from /metrics; -1 when it is not there.
inline long AdmissionsCounted(const Webhook& webhook, const std::string& outcome) {
  const std::string metrics = WebhookMetrics(webhook);
  const std::string series = "lastcall_webhook_admissions_total{outcome=\"" + outcome + "\"} ";
  const size_t at = metrics.find(series);
  if (at == std::string::npos) return -1;
  return std::stol(metrics.substr(at + series.size()));
}

}  // namespace lastcall::test

#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "cli/subcommand.h"
#include "kube/inject_plan.h"
#include "webhook_server.h"

// `lastcall webhook`: the mutating admission webhook's HTTPS server (docs/webhook-server.md), and
// `lastcall webhook certs`, which writes a CA and a serving certificate for clusters without
// cert-manager. In the full binary only: the sidecar build hands `webhook` to lastcall-full.
namespace lastcall {

struct WebhookOptions {
  std::string listen = ":8443";
  WebhookServerOptions server;
  std::string log_format = "text";
  // After SIGTERM: /readyz 503 and answers with Connection: close for this long, then exit.
  std::chrono::milliseconds shutdown_delay{5000};
  // inject's settings for every pod the webhook mutates (the pod's lastcall.dev/ annotations
  // override them, as for `lastcall inject`).
  InjectOptions inject;
  // `webhook certs`
  std::string service;
  std::string ns;
  std::string out_dir;
  bool force = false;
  bool new_ca = false;
};

// `lastcall webhook certs`: writes ca.crt, ca.key (0600), tls.crt and tls.key (0600) into
// options.out_dir (created 0700 when missing), refusing to replace existing files without
// options.force, and prints the caBundle (base64 of ca.crt) on `out`. With force, the CA already
// there signs the new serving certificate (a renewal; the caBundle stays), unless options.new_ca.
// kExitUsage for bad names or a refused overwrite, kExitRuntimeError when a file cannot be written.
int RunWebhookCerts(const WebhookOptions& options, std::ostream& out, std::ostream& err);

// `lastcall webhook`: serves until SIGTERM or SIGINT. kExitUsage when the certificate or key
// does not load (naming the file and the problem) or the address is invalid; kExitRuntimeError
// when it cannot listen.
int RunWebhook(const WebhookOptions& options, std::ostream& err);

// The `webhook` subcommand (and its `certs`) as main lists it. REQUIRES: *options outlives the
// parse and the action.
Subcommand WebhookSubcommand(WebhookOptions* options);

}  // namespace lastcall

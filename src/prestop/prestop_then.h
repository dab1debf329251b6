#pragma once

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "cli/subcommand.h"

// `lastcall prestop --then`: the preStop hook a container had before lastcall's, run after the
// drain, so `lastcall inject` keeps what the hook did (deregistering, flushing, a last request)
// while the app is already drained and still running.
namespace lastcall {

struct ThenAction {
  std::vector<std::string> command;  // --then -- CMD ARG...: an exec hook's command
  std::string get_url;               // --then-get URL: an httpGet hook, as http://HOST:PORT/PATH
  std::vector<std::string> headers;  // --then-header "Name: value" (repeatable), for get_url
  bool empty() const { return command.empty() && get_url.empty(); }
};

// Runs `action` once the drain ended, whatever its outcome (`drain_exit`, the code of
// `lastcall prestop`): a hook that deregistered the pod must still run when the drain timed out
// or lastcall was unreachable. The command inherits stdin, stdout and stderr and runs until it
// ends (like the kubelet's exec hook, only the grace period bounds it); the GET is sent like
// the kubelet's httpGet hook (status code not checked) and given up after `get_timeout`.
// Returns the exit code of `prestop --then`: `drain_exit` when it is not 0, else the command's
// code (127 when it cannot be started, 128 + N when signal N ended it), or for the GET 0 on any
// HTTP answer and kExitRuntimeError when none came. Problems are written to `err`.
int RunThen(const ThenAction& action, int drain_exit, std::ostream& err,
            std::chrono::milliseconds get_timeout = std::chrono::milliseconds(30000));

// Adds --then (with the command after --), --then-get and --then-header to `app` (prestop's),
// bound to *target; the returned Finish turns a bad combination into a usage error.
// REQUIRES: *target outlives the parse.
Finish DefineThenFlags(CLI::App* app, ThenAction* target);

}  // namespace lastcall

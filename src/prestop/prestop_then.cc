#include "prestop/prestop_then.h"

#include <cerrno>
#include <cstring>

#include "base/exit_status.h"
#include "base/subprocess.h"
#include "base/text.h"
#include "http/http_client.h"

namespace lastcall {
namespace {

constexpr int kNotFound = 127;  // what a shell returns for a command it cannot start

int RunCommand(const std::vector<std::string>& command, std::ostream& err) {
  SpawnRequest request;
  request.argv = command;
  request.stdin_from_null = false;  // the hook's own stdin and output, as if the kubelet ran it
  std::string error;
  const std::optional<pid_t> pid = Spawn(request, &error);
  if (!pid) {
    err << "lastcall prestop: --then: cannot run " << error << "\n";
    return kNotFound;
  }
  const std::optional<int> code = WaitForChild(*pid);
  if (!code) {
    err << "lastcall prestop: --then: waiting for " << command[0] << ": " << std::strerror(errno)
        << "\n";
    return kExitRuntimeError;
  }
  return *code;
}

int SendGet(const ThenAction& action, std::ostream& err, std::chrono::milliseconds timeout) {
  std::string error;
  const auto url = ParseUrl(action.get_url, &error);
  if (!url) {
    err << "lastcall prestop: --then-get " << action.get_url << ": " << error << "\n";
    return kExitUsage;
  }
  HttpRequest request;
  request.url = *url;
  for (const auto& header : action.headers) {
    const size_t colon = header.find(':');
    const size_t value = header.find_first_not_of(' ', colon + 1);
    request.headers.emplace_back(header.substr(0, colon),
                                 value == std::string::npos ? "" : header.substr(value));
  }
  request.headers.emplace_back("User-Agent", "lastcall-prestop");
  const HttpResponse response =
      PosixHttpClient{}.Send(request, std::chrono::steady_clock::now() + timeout);
  if (!response.ok()) {
    err << "lastcall prestop: --then-get " << action.get_url << ": " << response.error_detail
        << "\n";
    return kExitRuntimeError;
  }
  return kExitDrained;  // like the kubelet: any answer will do
}

}  // namespace

int RunThen(const ThenAction& action, int drain_exit, std::ostream& err,
            std::chrono::milliseconds get_timeout) {
  if (action.empty()) return drain_exit;
  const int then_exit =
      action.command.empty() ? SendGet(action, err, get_timeout) : RunCommand(action.command, err);
  return drain_exit != kExitDrained ? drain_exit : then_exit;
}

Finish DefineThenFlags(CLI::App* app, ThenAction* target) {
  CLI::Option* then_flag = app->add_flag("--then")->description(
      "after the sequence ends (drained or not), run the command\n"
      "given after --: prestop --then -- /app/deregister; exit code:\n"
      "prestop's when not 0, else the command's");
  CLI::Option* then_get = app->add_option("--then-get", target->get_url)
                              ->description(
                                  "after the sequence ends, send GET to this http:// URL\n"
                                  "(an httpGet hook's equivalent; any answer is done)")
                              ->type_name("URL");
  app->add_option("--then-header", target->headers)
      ->description("a header for --then-get, \"Name: value\" (repeatable)")
      ->type_name("HEADER")
      ->needs(then_get);
  app->add_option("command", target->command)->description("the command for --then")->type_name("");
  return [then_flag, then_get, target](ParsedCommand* out) {
    if (then_flag->count() > 0 && target->command.empty()) {
      return SetUsageError(out, "prestop",
                           "--then needs a command after -- (--then -- CMD ARG...)");
    }
    if (then_flag->count() == 0 && !target->command.empty()) {
      return SetUsageError(out, "prestop",
                           "unexpected argument " + Quote(target->command.front()) +
                               " (to run a command after the drain: --then -- CMD ARG...)");
    }
    if (!target->command.empty() && then_get->count() > 0) {
      return SetUsageError(out, "prestop", "--then and --then-get exclude each other");
    }
    if (then_get->count() > 0) {
      std::string error;
      if (!ParseUrl(target->get_url, &error)) {
        return SetUsageError(out, "prestop",
                             "--then-get: " + error + " (got " + Quote(target->get_url) + ")");
      }
    }
  };
}

}  // namespace lastcall

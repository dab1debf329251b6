#include "prestop/prestop_command.h"

#include <fmt/format.h>

#include <chrono>
#include <future>
#include <thread>

#include "base/duration.h"
#include "base/exit_status.h"
#include "config/config_loader.h"
#include "http/http_client.h"
#include "prestop/prestop_answer.h"

namespace lastcall {
namespace {

using Steady = std::chrono::steady_clock;
constexpr Millis kStatusInterval{100};
constexpr Millis kCallTimeout{2000};
// The sidecar's answers are a few hundred bytes; a larger one is not from a sidecar.
constexpr size_t kMaxAnswerBytes = 256 * 1024;

struct ControlClient {
  PosixHttpClient http{kMaxAnswerBytes};
  Url base;
  std::optional<std::string> token;

  HttpResponse Call(const std::string& method, const std::string& target) {
    HttpRequest request;
    request.method = method;
    request.url = base;
    request.url.target = target;
    if (token) request.headers.emplace_back("Authorization", "Bearer " + *token);
    request.headers.emplace_back("User-Agent", "lastcall-prestop");
    return http.Send(request, Steady::now() + kCallTimeout);
  }
};

std::optional<Url> ControlUrl(const std::string& control, std::string* error) {
  auto address = ParseListenAddress(control, error);
  if (!address) return std::nullopt;
  Url url;
  if (address->is_unix) {
    url.scheme = Url::Scheme::kUnix;
    url.socket_path = address->socket_path;
  } else {
    url.host = address->host.empty() ? "127.0.0.1" : address->host;
    if (url.host == "0.0.0.0") url.host = "127.0.0.1";
    if (url.host == "::") url.host = "::1";
    url.port = address->port;
  }
  return url;
}

Finish DefinePrestop(CLI::App* app, const Env& env, PrestopOptions* target) {
  const std::string control_help =
      "lastcall's control endpoint: unix:///path.sock or 127.0.0.1:PORT\n"
      "(env LASTCALL_CONTROL; default " +
      PrestopOptions{}.control + ")";
  CLI::Option* control =
      app->add_option("--control")->description(control_help)->type_name("ADDRESS");
  CLI::Option* token_file = app->add_option("--token-file")
                                ->description(
                                    "file with the bearer token the control endpoint requires\n"
                                    "(env LASTCALL_TOKEN_FILE; default none)")
                                ->type_name("FILE");
  CLI::Option* timeout = app->add_option("--timeout")
                             ->description(
                                 "give up waiting after this long\n"
                                 "(env LASTCALL_PRESTOP_TIMEOUT; default: the sidecar's budget, "
                                 "lb_delay + drain.timeout + exit_delay, plus 5s)")
                             ->type_name("DURATION");
  CLI::Option* quiet =
      app->add_flag("-q,--quiet")
          ->description("print only the outcome, not each phase\n(env LASTCALL_QUIET)");
  for (CLI::Option* option : {control, token_file, timeout, quiet}) {
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    option->description(Wrap(option->get_description(), kHelpTextWidth));
  }
  app->footer(
      "Starts the shutdown sequence (like the kubelet's preStop) and blocks until it ends.\n"
      "Exit codes: 0 drained, 1 timed out or failed, 2 usage error, 3 lastcall unreachable.");
  return [=, &env](ParsedCommand* out) {
    PrestopOptions& options = *target;
    if (std::optional<Picked> picked = Pick(control, env, "LASTCALL_CONTROL")) {
      std::string error;
      if (!ParseListenAddress(picked->value, &error)) {
        return SetUsageError(out, "prestop",
                             picked->where + ": " + error + " (got " + Quote(picked->value) + ")");
      }
      options.control = picked->value;
    }
    if (std::optional<Picked> picked = Pick(token_file, env, "LASTCALL_TOKEN_FILE")) {
      options.token_file = picked->value;
    }
    if (std::optional<Picked> picked = Pick(timeout, env, kPrestopTimeoutEnv)) {
      std::string error;
      std::optional<Millis> duration = ParseDuration(picked->value, &error);
      if (duration && duration->count() == 0) error = "must be greater than 0";
      if (!duration || duration->count() == 0) {
        return SetUsageError(out, "prestop",
                             picked->where + ": " + error + " (got " + Quote(picked->value) + ")");
      }
      options.timeout = duration;
    }
    if (std::optional<Picked> picked = Pick(quiet, env, kQuietEnv)) {
      std::string_view value = picked->value;
      if (value == "true" || value == "1" || value == "yes") {
        options.quiet = true;
      } else if (value == "false" || value == "0" || value == "no" || value.empty()) {
        options.quiet = false;
      } else {
        return SetUsageError(out, "prestop",
                             picked->where + ": expected true or false (got " + Quote(value) + ")");
      }
    }
  };
}

std::string Seconds(long long ms) { return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000); }

}  // namespace

int RunPreStop(const PrestopOptions& options, std::ostream& out, bool live_terminal) {
  std::string error;
  auto url = ControlUrl(options.control, &error);
  if (!url) {
    out << "lastcall prestop: --control: " << error << "\n";
    return kExitUsage;
  }
  ControlClient client{PosixHttpClient{kMaxAnswerBytes}, *url, std::nullopt};
  if (!options.token_file.empty()) {
    try {
      client.token = ReadTokenFile(options.token_file);
    } catch (const std::exception& e) {
      out << "lastcall prestop: " << e.what() << "\n";
      return kExitUsage;
    }
  }

  const auto started = Steady::now();
  // Start (or join) the sequence without waiting, then follow it through /status: that shows
  // each phase as it happens and notices within one interval when the sidecar dies.
  HttpResponse response = client.Call("POST", "/prestop?wait=false");
  if (!response.ok()) {
    out << "lastcall prestop: cannot reach the sidecar at " << options.control << ": "
        << response.error_detail << "\n";
    return kExitRuntimeError;
  }
  if (response.status == 401 || response.status == 403) {
    out << "lastcall prestop: the sidecar refused the token (" << response.status << ")\n";
    return kExitRuntimeError;
  }
  if (response.status != 202 && response.status != 200 && response.status != 504) {
    out << "lastcall prestop: unexpected answer " << response.status << " from the sidecar\n";
    return kExitRuntimeError;
  }

  const SidecarAnswer first = ReadSidecarAnswer(response.body);
  if (!first.ok()) {
    out << "lastcall prestop: bad answer from the sidecar to POST /prestop: " << first.error
        << "\n";
    return kExitRuntimeError;
  }
  Millis timeout = options.timeout.value_or(kPreStopFallbackTimeout);
  if (!options.timeout && first.report->budget) timeout = *first.report->budget + kPreStopMargin;

  // The blocking call is the authority on the result; /status polls only show progress. The
  // waiter cannot outlive its deadline, and std::jthread joins it on every path out.
  std::promise<HttpResponse> promise;
  std::future<HttpResponse> result = promise.get_future();
  const Steady::time_point deadline = started + timeout;
  std::jthread waiter([&client, &promise, deadline] {
    HttpRequest request;
    request.url = client.base;
    request.url.target = "/prestop";
    if (client.token) request.headers.emplace_back("Authorization", "Bearer " + *client.token);
    request.headers.emplace_back("User-Agent", "lastcall-prestop");
    promise.set_value(PosixHttpClient(kMaxAnswerBytes).Send(request, deadline));
  });

  size_t shown = 0;
  auto show = [&](const SidecarReport& report) {
    for (; shown < report.timeline.size(); ++shown) {
      const SidecarTimelineEntry& entry = report.timeline[shown];
      if (options.quiet) continue;
      if (live_terminal) out << "\r\033[K";
      out << fmt::format("{:>7}  {:<10} {}\n", Seconds(entry.elapsed_ms),
                         entry.phase.empty() ? "?" : entry.phase, entry.detail);
    }
    out.flush();
  };
  show(*first.report);
  bool follow_status = true;
  while (result.wait_for(kStatusInterval) != std::future_status::ready) {
    if (!follow_status) continue;
    const HttpResponse status = client.Call("GET", "/status");
    if (!status.ok() || status.status != 200) continue;  // the waiting call will tell
    const SidecarAnswer report = ReadSidecarAnswer(status.body);
    if (!report.ok()) {
      // Progress is only shown; the blocking call decides. Say so once, and stop asking.
      if (live_terminal && !options.quiet) out << "\r\033[K";
      out << "lastcall prestop: bad answer from the sidecar to GET /status: " << report.error
          << "; waiting for the end of the sequence without progress\n";
      follow_status = false;
      continue;
    }
    show(*report.report);
    if (live_terminal && !options.quiet) {
      const std::string value =
          report.report->last_value ? fmt::format("{}", *report.report->last_value) : "-";
      out << "\r\033[K"
          << fmt::format(
                 "{} {}  in flight: {}", report.report->phase.empty() ? "?" : report.report->phase,
                 Seconds(std::chrono::duration_cast<Millis>(Steady::now() - started).count()),
                 value)
          << std::flush;
    }
  }
  waiter.join();
  const HttpResponse final_answer = result.get();
  if (live_terminal && !options.quiet) out << "\r\033[K";
  if (!final_answer.ok()) {
    if (final_answer.error == HttpError::kTimeout) {
      out << "lastcall prestop: gave up after " << Seconds(timeout.count())
          << " without an end to the sequence\n";
      return kExitTimedOut;
    }
    out << "lastcall prestop: lost the sidecar at " << options.control << ": "
        << final_answer.error_detail << "\n";
    return kExitRuntimeError;
  }
  if (final_answer.status != 200 && final_answer.status != 504) {
    out << "lastcall prestop: unexpected answer " << final_answer.status << " from the sidecar\n";
    return kExitRuntimeError;
  }
  const SidecarAnswer report = ReadSidecarAnswer(final_answer.body);
  if (!report.ok()) {
    out << "lastcall prestop: bad answer from the sidecar to GET /prestop: " << report.error
        << "\n";
    return kExitRuntimeError;
  }
  show(*report.report);
  const bool drained = final_answer.status == 200;
  if (!options.quiet) {
    out << (drained ? "drained" : "timed out") << " after "
        << Seconds(std::chrono::duration_cast<Millis>(Steady::now() - started).count()) << ": "
        << report.report->detail << "\n";
  }
  out.flush();
  return drained ? kExitDrained : kExitTimedOut;
}

Subcommand PrestopSubcommand(PrestopOptions* options) {
  return {"prestop", "For exec preStop hooks: start the sequence, wait for its end",
          [options](CLI::App* app, const Env& env) {
            Finish read = DefinePrestop(app, env, options);
            Finish read_then = DefineThenFlags(app, &options->then);
            Finish read_both = [read, read_then](ParsedCommand* out) {
              read(out);
              if (out->command != Command::kUsageError) read_then(out);
            };
            return ThenRun(read_both, [options](const CommandIo& io) {
              return RunThen(options->then, RunPreStop(*options, io.err, io.err_is_terminal),
                             io.err);
            });
          }};
}

}  // namespace lastcall

// GCC 12 at -O2 reports a false "potential null pointer dereference" inside std::string when it
// inlines CLI11's detail::split. Middle-end warnings are placed by source location, so the pragma
// must come before the first standard header; it covers only this file.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "duration.h"
#include "exit_status.h"
#include "http_client.h"
#include "version.h"

namespace lastcall {
namespace {

using Env = std::map<std::string, std::string>;
// Runs after a successful parse of its subcommand and fills in what main needs.
using Finish = std::function<void(ParsedCommand*)>;

constexpr std::size_t kHelpColumn = 34;
constexpr std::size_t kHelpTextWidth = 64;  // with kHelpColumn, help fits 100 columns

// Wraps each line of `text` at word boundaries to at most `width` characters.
std::string Wrap(std::string_view text, std::size_t width) {
  std::string out;
  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    std::size_t column = 0;
    while (!line.empty()) {
      std::size_t space = line.find(' ');
      std::string_view word = line.substr(0, space);
      line.remove_prefix(space == std::string_view::npos ? line.size() : space + 1);
      if (column > 0 && column + 1 + word.size() > width) {
        out += '\n';
        column = 0;
      } else if (column > 0) {
        out += ' ';
        ++column;
      }
      out += word;
      column += word.size();
    }
    if (!text.empty()) out += '\n';
  }
  return out;
}

std::string Quoted(std::string_view value) { return "\"" + std::string(value) + "\""; }

// ---- run and check share every configuration flag -------------------------------------------

struct ConfigFlags {
  CLI::Option* config_file = nullptr;
  std::vector<std::pair<CLI::Option*, std::string>> flags;  // option, flag name without dashes
};

std::string GroupOf(const std::string& key) {
  if (key.rfind("readiness.", 0) == 0) return "Readiness";
  if (key.rfind("shutdown.drain.trigger.", 0) == 0) return "Drain trigger (the app's drain call)";
  if (key.rfind("shutdown.drain.monitor.", 0) == 0) return "Drain monitor (is the app drained?)";
  if (key.rfind("shutdown.", 0) == 0) return "Shutdown";
  if (key.rfind("log.", 0) == 0) return "Logging";
  return "Endpoints";
}

// `skip`: flags (without dashes) the subcommand sets itself.
ConfigFlags AddConfigFlags(CLI::App* app, const std::vector<std::string>& skip = {}) {
  ConfigFlags out;
  out.config_file = app->add_option("-c,--config")
                        ->description("YAML config file\n(env LASTCALL_CONFIG; default none)")
                        ->type_name("FILE")
                        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  for (const ConfigKey& key : ConfigKeys()) {
    if (std::find(skip.begin(), skip.end(), key.flag) != skip.end()) continue;
    std::string description = key.help + "\n(env " + key.env + "; default " + key.default_text;
    if (key.is_bool) description += "; --" + key.flag + "=false turns it off";
    description += ")";
    // Name-only overloads: CLI11's (name, std::string&) overloads bind the string as the
    // option's *variable*, not its description.
    CLI::Option* option = key.is_bool ? app->add_flag("--" + key.flag)
                                      : app->add_option("--" + key.flag)->type_name(key.value_name);
    option->description(Wrap(description, kHelpTextWidth));
    // Keep every occurrence: LoadConfig applies "last wins" to values and joins list items.
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(GroupOf(key.key));
    out.flags.emplace_back(option, key.flag);
  }
  return out;
}

void CollectConfigSources(const ConfigFlags& flags, const Env& env, ConfigSources* sources) {
  for (const auto& [name, value] : env) {
    if (name.rfind("LASTCALL_", 0) == 0) sources->env[name] = value;
  }
  if (flags.config_file->count() > 0) {
    sources->yaml_path = flags.config_file->results().back();
  } else if (auto it = env.find(std::string(kConfigFileEnv)); it != env.end()) {
    sources->yaml_path = it->second;
  }
  for (const auto& [option, name] : flags.flags) {
    for (const std::string& value : option->results()) sources->flags.push_back({name, value});
  }
}

constexpr const char* kConfigFooter =
    "Precedence: flags > LASTCALL_* environment > config file > defaults.\n"
    "Durations: 250ms, 5s, 1m30s. Lists: repeat the flag or separate values with commas\n"
    "(environment: commas; --drain-header: one 'Name: value' per line).\n";

Finish DefineRun(CLI::App* app, const Env& env) {
  ConfigFlags flags = AddConfigFlags(app);
  app->footer(std::string(kConfigFooter) +
              "Exit codes: 0 drained, 1 drain timed out or failed, 2 configuration error,\n"
              "3 runtime error (port in use, ...).");
  return [flags, &env](ParsedCommand* out) {
    out->command = Command::kRun;
    CollectConfigSources(flags, env, &out->config);
  };
}

Finish DefineCheck(CLI::App* app, const Env& env) {
  ConfigFlags flags = AddConfigFlags(app);
  app->footer(std::string(kConfigFooter) +
              "Takes the same flags as run; set --grace-period to the pod's\n"
              "terminationGracePeriodSeconds.\n"
              "Exit codes: 0 valid and the timing budget fits, 2 invalid or it does not fit.");
  return [flags, &env](ParsedCommand* out) {
    out->command = Command::kCheck;
    CollectConfigSources(flags, env, &out->config);
  };
}

// ---- prestop --------------------------------------------------------------------------------

// A prestop input: the flag's value, else the environment's, with where it came from.
struct Picked {
  std::string value;
  std::string where;  // "flag --timeout" or "environment LASTCALL_PRESTOP_TIMEOUT"
};

std::optional<Picked> Pick(const CLI::Option* option, const Env& env, std::string_view env_name) {
  if (option->count() > 0) return Picked{option->results().back(), "flag " + option->get_name()};
  auto it = env.find(std::string(env_name));
  if (it != env.end()) return Picked{it->second, "environment " + it->first};
  return std::nullopt;
}

void SetUsageError(ParsedCommand* out, const std::string& subcommand, const std::string& problem) {
  out->command = Command::kUsageError;
  out->exit_code = kExitUsage;
  out->output = "lastcall " + subcommand + ": " + problem + "\nRun 'lastcall " + subcommand +
                " --help' for usage.\n";
}

Finish DefinePrestop(CLI::App* app, const Env& env) {
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
  // The hook lastcall's replaced (lastcall inject keeps it): run after the drain ends.
  auto then = std::make_shared<ThenAction>();
  CLI::Option* then_flag = app->add_flag("--then")->description(
      "after the sequence ends (drained or not), run the command\n"
      "given after --: prestop --then -- /app/deregister; exit code:\n"
      "prestop's when not 0, else the command's");
  CLI::Option* then_get = app->add_option("--then-get", then->get_url)
                              ->description(
                                  "after the sequence ends, send GET to this http:// URL\n"
                                  "(an httpGet hook's equivalent; any answer is done)")
                              ->type_name("URL");
  app->add_option("--then-header", then->headers)
      ->description("a header for --then-get, \"Name: value\" (repeatable)")
      ->type_name("HEADER")
      ->needs(then_get);
  app->add_option("command", then->command)->description("the command for --then")->type_name("");
  for (CLI::Option* option : {control, token_file, timeout, quiet}) {
    option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    option->description(Wrap(option->get_description(), kHelpTextWidth));
  }
  app->footer(
      "Starts the shutdown sequence (like the kubelet's preStop) and blocks until it ends.\n"
      "Exit codes: 0 drained, 1 timed out or failed, 2 usage error, 3 lastcall unreachable.");
  return [=, &env](ParsedCommand* out) {
    out->command = Command::kPrestop;
    PrestopOptions& options = out->prestop;
    if (then_flag->count() > 0 && then->command.empty()) {
      return SetUsageError(out, "prestop",
                           "--then needs a command after -- (--then -- CMD ARG...)");
    }
    if (then_flag->count() == 0 && !then->command.empty()) {
      return SetUsageError(out, "prestop",
                           "unexpected argument " + Quoted(then->command.front()) +
                               " (to run a command after the drain: --then -- CMD ARG...)");
    }
    if (!then->command.empty() && then_get->count() > 0) {
      return SetUsageError(out, "prestop", "--then and --then-get exclude each other");
    }
    if (then_get->count() > 0) {
      std::string error;
      if (!ParseUrl(then->get_url, &error)) {
        return SetUsageError(out, "prestop",
                             "--then-get: " + error + " (got " + Quoted(then->get_url) + ")");
      }
    }
    options.then = *then;
    if (std::optional<Picked> picked = Pick(control, env, "LASTCALL_CONTROL")) {
      std::string error;
      if (!ParseListenAddress(picked->value, &error)) {
        return SetUsageError(out, "prestop",
                             picked->where + ": " + error + " (got " + Quoted(picked->value) + ")");
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
                             picked->where + ": " + error + " (got " + Quoted(picked->value) + ")");
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
        return SetUsageError(
            out, "prestop", picked->where + ": expected true or false (got " + Quoted(value) + ")");
      }
    }
  };
}

// ---- rehearse ------------------------------------------------------------------------------

Finish DefineRehearse(CLI::App* app, const Env& env) {
  // rehearse gives the lastcall it runs a probe port, a control socket and a log format of its own.
  ConfigFlags flags = AddConfigFlags(app, {"listen", "control", "state-file", "log-format"});
  const std::string group = "Rehearsal";
  auto option = [&](const std::string& name, const std::string& value_name,
                    const std::string& help) {
    return app->add_option(name)
        ->description(Wrap(help, kHelpTextWidth))
        ->type_name(value_name)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
        ->group(group);
  };
  CLI::Option* app_cmd = option(
      "--app-cmd", "\"CMD ARGS\"",
      "start the app with this command (split into words like a shell, but not run by one); "
      "{port} in it is replaced by a free port that rehearse then targets\n(default: the bundled "
      "example app, with lastcall's defaults scaled down to seconds)");
  CLI::Option* app_url = option("--app-url", "URL",
                                "where the app listens, http://127.0.0.1:PORT; without --app-cmd, "
                                "an app already running there\n(default http://127.0.0.1:8080)");
  CLI::Option* rps = option("--rps", "N",
                            "requests per second, open loop: sent on schedule whatever the "
                            "answers (1 to " +
                                std::to_string(kMaxRehearseRps) + "; default " +
                                std::to_string(kDefaultRehearseRps) + ")");
  CLI::Option* duration = option(
      "--duration", "DURATION",
      "how long to send load, warm-up included (default: until the termination ended; 6s for the "
      "example app; at most " +
          FormatDuration(kMaxRehearseDuration) + ")");
  CLI::Option* paths = option("--paths", "/A,/B",
                              "request targets, used in turn (default / ; for the example app "
                              "/work?ms=5,/work?ms=800)");
  CLI::Option* propagation = option(
      "--propagation-delay", "DURATION",
      "how long after the deletion the load balancer stops routing new connections to the pod, "
      "the delay lastcall must survive (default 1s; 500ms for the example app)");
  CLI::Option* native = app->add_flag("--native")
                            ->description(Wrap("run lastcall as a native sidecar (an init "
                                               "container with restartPolicy: Always)",
                                               kHelpTextWidth))
                            ->group(group);
  CLI::Option* direct = app->add_flag("--direct")
                            ->description(Wrap("send the load straight to the app, with no load "
                                               "balancer in front (nothing stops the traffic)",
                                               kHelpTextWidth))
                            ->group(group);
  CLI::Option* report = app->add_option("--report")
                            ->description(Wrap("write the report to FILE.html (a page with a "
                                               "timeline picture) or FILE.json; repeatable "
                                               "(default " +
                                                   std::string(kDefaultReportPath) + ")",
                                               kHelpTextWidth))
                            ->type_name("FILE")
                            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                            ->group(group);
  app->footer(
      "Starts the app and lastcall, sends load, plays the kubelet deleting the pod (preStop "
      "hooks,\nendpoint removal after the propagation delay, SIGTERM, SIGKILL at the end of the "
      "grace\nperiod) and reports what was lost, the phases, and what to change.\n" +
      std::string(kConfigFooter) +
      "Exit codes: 0 nothing lost and the app exited inside the grace period, 1 otherwise,\n"
      "2 usage or configuration error, 3 the rehearsal could not run.");
  return [=, &env](ParsedCommand* out) {
    out->command = Command::kRehearse;
    RehearseOptions& options = out->rehearse;
    CollectConfigSources(flags, env, &options.config);
    auto bad = [&](const CLI::Option* which, const std::string& problem) {
      SetUsageError(out, "rehearse",
                    "flag " + which->get_name() + ": " + problem + " (got " +
                        Quoted(which->results().back()) + ")");
    };
    std::string error;
    if (app_cmd->count() > 0) {
      std::optional<std::vector<std::string>> words =
          SplitCommandLine(app_cmd->results().back(), &error);
      if (!words) return bad(app_cmd, error);
      options.app_command = std::move(*words);
    }
    if (app_url->count() > 0) options.app_url = app_url->results().back();
    if (rps->count() > 0) {
      const std::string& text = rps->results().back();
      int value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size() || value < 1 ||
          value > kMaxRehearseRps) {
        return bad(rps, "expected a whole number from 1 to " + std::to_string(kMaxRehearseRps));
      }
      options.rps = value;
    }
    auto parse_duration = [&](const CLI::Option* which, Millis max) -> std::optional<Millis> {
      std::optional<Millis> value = ParseDuration(which->results().back(), &error);
      if (value && *value > max) {
        error = "at most " + FormatDuration(max);
        value.reset();
      }
      if (!value) bad(which, error);
      return value;
    };
    if (duration->count() > 0) {
      options.duration = parse_duration(duration, kMaxRehearseDuration);
      if (!options.duration) return;
    }
    if (propagation->count() > 0) {
      options.propagation_delay = parse_duration(propagation, kMaxPropagationDelay);
      if (!options.propagation_delay) return;
    }
    if (paths->count() > 0) {
      std::optional<std::vector<std::string>> list = ParsePathList(paths->results().back(), &error);
      if (!list) return bad(paths, error);
      options.paths = std::move(*list);
    }
    options.native = native->count() > 0;
    options.direct = direct->count() > 0;
    for (const std::string& path : report->results()) {
      if (std::string problem = ValidateReportPath(path); !problem.empty()) {
        return SetUsageError(out, "rehearse", "flag --report: " + problem);
      }
      options.reports.push_back(path);
    }
  };
}

Finish DefineVersion(CLI::App* /*app*/, const Env& /*env*/) {
  return [](ParsedCommand* out) {
    out->command = Command::kVersion;
    out->output = std::string("lastcall ") + kVersion + "\n";
  };
}

// ---- the subcommand table: adding one is one Define function and one line here --------------

struct SubcommandSpec {
  const char* name;
  const char* summary;
  Finish (*define)(CLI::App* app, const Env& env);
};

constexpr SubcommandSpec kSubcommands[] = {
    {"run", "The sidecar: on a signal or preStop, go unready, wait, drain, exit", DefineRun},
    {"check", "Validate and print the configuration and the timing budget", DefineCheck},
    {"prestop", "For exec preStop hooks: start the sequence, wait for its end", DefinePrestop},
    {"rehearse", "Rehearse a pod's termination here, under load, with a report", DefineRehearse},
    {"version", "Print the version", DefineVersion},
};

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// For unexpected arguments: "unknown flag --x (did you mean --y?)" for the first "--flag" the
// subcommand does not know, or "" when every "--flag" is known.
std::string UnknownFlag(const CLI::App& sub, int argc, const char* const* argv) {
  std::vector<std::string> known;
  for (const CLI::Option* option : sub.get_options()) {
    for (const std::string& name : option->get_lnames()) known.push_back(name);
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) continue;
    std::string name(arg.substr(2, arg.find('=') - 2));
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::optional<std::string> near = SuggestClosest(name, known);
    return "unknown flag --" + name + (near ? " (did you mean --" + *near + "?)" : "");
  }
  return "";
}

}  // namespace

ParsedCommand ParseCommandLine(int argc, const char* const* argv, const Env& env) {
  CLI::App app{
      "lastcall makes Kubernetes pod shutdown lossless: it turns the pod unready, waits for load\n"
      "balancers to stop routing, drains the app's in-flight work, then exits.",
      "lastcall"};
  app.get_formatter()->column_width(kHelpColumn);
  CLI::Option* version_flag = app.add_flag("--version")->description("Print the version and exit");
  app.footer("Run 'lastcall SUBCOMMAND --help' for a subcommand's flags.");

  ParsedCommand out;
  std::vector<std::pair<CLI::App*, Finish>> subcommands;
  for (const SubcommandSpec& spec : kSubcommands) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.summary);
    sub->get_formatter()->column_width(kHelpColumn);
    subcommands.emplace_back(sub, spec.define(sub, env));
  }
  // Subcommands that register themselves (their options live in `out`).
  const auto self_registered = [&](CLI::App* sub, const char* summary, Command command) {
    // Their own long description moves to the footer of their --help; the list gets one line.
    sub->footer(sub->get_description() + "\n\n" + sub->get_footer());
    sub->description(summary);
    sub->get_formatter()->column_width(kHelpColumn);
    subcommands.emplace_back(sub, [command](ParsedCommand* parsed) { parsed->command = command; });
  };
  self_registered(AddInstallSubcommand(app, out.install),
                  "Copy this binary into a shared volume (the init container's step)",
                  Command::kInstall);
  self_registered(AddInjectSubcommand(app, out.inject),
                  "Add the lastcall sidecar to Kubernetes manifests (stdin or a file)",
                  Command::kInject);
  self_registered(AddUninjectSubcommand(app, out.uninject),
                  "Remove what inject added (stdin or a file)", Command::kUninject);

  std::vector<std::string> names;
  for (const auto& [sub, finish] : subcommands) names.push_back(sub->get_name());
  std::string_view first = argc > 1 ? argv[1] : "";
  // `lastcall help [SUBCOMMAND]`, as git and kubectl accept.
  if (first == "help") {
    out.command = Command::kHelp;
    std::string_view topic = argc > 2 ? argv[2] : "";
    CLI::App* sub = nullptr;
    for (const auto& [candidate, finish] : subcommands) {
      if (candidate->get_name() == topic) sub = candidate;
    }
    out.output = sub != nullptr ? sub->help("lastcall") : app.help();
    return out;
  }
  if (!first.empty() && first.front() != '-' &&
      std::find(names.begin(), names.end(), first) == names.end()) {
    std::optional<std::string> near = SuggestClosest(first, names);
    out.exit_code = kExitUsage;
    out.output = "lastcall: unknown subcommand " + Quoted(first) +
                 (near ? " (did you mean " + *near + "?)" : "") +
                 "\nSubcommands: " + JoinNames(names) + ". Run 'lastcall --help' for usage.\n";
    return out;
  }

  std::string subcommand_name;
  for (int i = 1; i < argc && subcommand_name.empty(); ++i) {
    if (std::find(names.begin(), names.end(), argv[i]) != names.end()) subcommand_name = argv[i];
  }
  // CLI11 reads "--drain-url=" as a missing value, but an empty value is meaningful ("" disables
  // the drain call), so hand it "--drain-url" "" instead.
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i > 0 && arg.size() > 3 && arg.rfind("--", 0) == 0 && arg.find('=') == arg.size() - 1) {
      args.emplace_back(arg.substr(0, arg.size() - 1));
      args.emplace_back();
    } else {
      args.emplace_back(arg);
    }
  }
  std::vector<const char*> split_argv;
  for (const std::string& arg : args) split_argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(split_argv.size()), split_argv.data());
  } catch (const CLI::CallForHelp&) {
    out.command = Command::kHelp;
    out.output = app.help();  // descends into the subcommand being parsed
    return out;
  } catch (const CLI::CallForAllHelp&) {
    out.command = Command::kHelp;
    out.output = app.help("", CLI::AppFormatMode::All);
    return out;
  } catch (const CLI::ParseError& e) {
    std::string context = subcommand_name.empty() ? "lastcall" : "lastcall " + subcommand_name;
    std::string problem;
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
      problem = UnknownFlag(subcommand_name.empty() ? app : *app.get_subcommand(subcommand_name),
                            argc, argv);
    }
    if (problem.empty()) problem = e.what();
    out.exit_code = kExitUsage;
    out.output = context + ": " + problem + "\nRun '" + context + " --help' for usage.\n";
    return out;
  }

  if (version_flag->count() > 0) {
    DefineVersion(nullptr, env)(&out);
    return out;
  }
  for (const auto& [sub, finish] : subcommands) {
    if (sub->parsed()) {
      finish(&out);
      return out;
    }
  }
  out.exit_code = kExitUsage;
  out.output = "lastcall: missing subcommand (" + JoinNames(names) + ")\n\n" + app.help();
  return out;
}

std::map<std::string, std::string> LastcallEnvironment(const char* const* envp) {
  std::map<std::string, std::string> env;
  for (; envp != nullptr && *envp != nullptr; ++envp) {
    std::string_view entry = *envp;
    size_t equals = entry.find('=');
    if (equals == std::string_view::npos || entry.rfind("LASTCALL_", 0) != 0) continue;
    env.emplace(entry.substr(0, equals), entry.substr(equals + 1));
  }
  return env;
}

void ReadConfigSources(ConfigSources* sources) {
  if (!sources->yaml_path.empty()) sources->yaml_text = ReadConfigFile(sources->yaml_path);
}

}  // namespace lastcall

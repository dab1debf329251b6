// GCC 12 at -O2 reports a false "potential null pointer dereference" inside std::string when it
// inlines CLI11's detail::split. Middle-end warnings are placed by source location, so the pragma
// must come before the first standard header; it covers only this file.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "cli/cli.h"

#include <algorithm>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "base/exit_status.h"
#include "base/text.h"
#include "cli/version_command.h"

namespace lastcall {
namespace {

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

// The first flag value or LASTCALL_* variable of a parsed subcommand that holds what YAML text may
// not (TextFlaw), as a problem naming it; "" when all are text. Positional arguments (file names,
// an app's command) are the user's to name as the system allows, and are not checked.
std::string FlawedInput(const CLI::App& sub, const Env& env) {
  const std::string rule = " (values are UTF-8 text without control characters, as in YAML)";
  for (const CLI::Option* option : sub.get_options()) {
    if (option->get_lnames().empty() && option->get_snames().empty()) continue;
    for (const std::string& value : option->results()) {
      if (std::string flaw = DescribeTextFlaw(value); !flaw.empty()) {
        return "flag " + option->get_name() + ": " + flaw + rule;
      }
    }
  }
  for (const auto& [name, value] : env) {
    if (std::string flaw = DescribeTextFlaw(value); !flaw.empty()) {
      return "environment " + EscapeForDisplay(name) + ": " + flaw + rule;
    }
  }
  return "";
}

}  // namespace

ParsedCommand ParseCommandLine(int argc, const char* const* argv, const Env& env,
                               const std::vector<Subcommand>& subcommand_list) {
  CLI::App app{
      "lastcall makes Kubernetes pod shutdown lossless: it turns the pod unready, waits for load\n"
      "balancers to stop routing, drains the app's in-flight work, then exits.",
      "lastcall"};
  app.get_formatter()->column_width(kHelpColumn);
  CLI::Option* version_flag = app.add_flag("--version")->description("Print the version and exit");
  app.footer("Run 'lastcall SUBCOMMAND --help' for a subcommand's flags.");

  ParsedCommand out;
  std::vector<std::pair<CLI::App*, Finish>> subcommands;
  for (const Subcommand& spec : subcommand_list) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.summary);
    sub->get_formatter()->column_width(kHelpColumn);
    subcommands.emplace_back(sub, spec.define(sub, env));
  }

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
    out.output = "lastcall: unknown subcommand " + Quote(first) +
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
    out.command = Command::kPrintVersion;
    out.output = VersionLine();
    return out;
  }
  for (const auto& [sub, finish] : subcommands) {
    if (sub->parsed()) {
      out.subcommand = sub->get_name();
      if (std::string problem = FlawedInput(*sub, env); !problem.empty()) {
        SetUsageError(&out, sub->get_name(), problem);
        return out;
      }
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

}  // namespace lastcall

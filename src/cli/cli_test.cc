#include "cli/cli.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/exit_status.h"
#include "base/text.h"
#include "cli/version_command.h"
#include "git_commit.h"
#include "prestop/prestop_command.h"
#include "sidecar/check_command.h"
#include "sidecar/run_command.h"
#include "version.h"

namespace lastcall {
namespace {

// A subcommand of a wing, by name only: the core's tests do not link the wings (their own tests
// parse their flags, e.g. rehearse_command_test.cc).
Subcommand Stub(const char* name) {
  return {name, "a subcommand of a wing",
          [](CLI::App*, const Env&) { return ThenRun(nullptr, nullptr); }};
}

// ParsedCommand, and what `run`, `check` and `prestop` parsed into.
struct Parsed : ParsedCommand {
  ConfigSources run;
  ConfigSources check;
  PrestopOptions prestop;
};

// Parses with main's subcommands, in main's order.
Parsed Parse(const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env = {}) {
  std::vector<const char*> argv = {"lastcall"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  Parsed out;
  static_cast<ParsedCommand&>(out) = ParseCommandLine(
      static_cast<int>(argv.size() - 1), argv.data(), env,
      {RunSubcommand(&out.run), CheckSubcommand(&out.check), PrestopSubcommand(&out.prestop),
       Stub("rehearse"), VersionSubcommand(), Stub("install"), Stub("inject"), Stub("uninject")});
  return out;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t LongestLine(const std::string& text) {
  size_t longest = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) longest = std::max(longest, line.size());
  return longest;
}

TEST_CASE("no subcommand is a usage error that lists the subcommands") {
  ParsedCommand parsed = Parse({});
  CHECK(parsed.command == Command::kUsageError);
  CHECK(parsed.exit_code == kExitUsage);
  CHECK(parsed.output.rfind("lastcall: missing subcommand (run, check, prestop, rehearse, version, "
                            "install, inject, uninject)\n",
                            0) == 0);
  CHECK(Contains(parsed.output, "Subcommands:"));
}

TEST_CASE("top-level help lists every subcommand") {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, {"-h"}, {"help"}}) {
    ParsedCommand parsed = Parse(args);
    CHECK(parsed.command == Command::kHelp);
    CHECK(parsed.exit_code == 0);
    for (const char* name : {"run", "check", "prestop", "rehearse", "version"}) {
      CAPTURE(name);
      CHECK(Contains(parsed.output, std::string("\n  ") + name + " "));
    }
    CHECK(LongestLine(parsed.output) <= 100);
  }
}

TEST_CASE("run and check help show every flag with its environment twin and default") {
  for (const char* subcommand : {"run", "check"}) {
    CAPTURE(subcommand);
    ParsedCommand parsed = Parse({subcommand, "--help"});
    REQUIRE(parsed.command == Command::kHelp);
    CHECK(parsed.exit_code == 0);
    const std::string& help = parsed.output;
    CHECK(Contains(help, std::string("Usage: lastcall ") + subcommand));
    CHECK(Contains(help, "-c,--config FILE"));
    CHECK(Contains(help, "LASTCALL_CONFIG"));
    for (const ConfigKey& key : ConfigKeys()) {
      CAPTURE(key.key);
      CHECK(Contains(help, "  --" + key.flag + " "));
      CHECK(Contains(help, "(env " + key.env + ";"));
    }
    CHECK(Contains(help, "--lb-delay DURATION"));
    CHECK(Contains(help, "(env LASTCALL_LB_DELAY; default 5s)"));
    CHECK(Contains(help, "(env LASTCALL_DRAIN_TIMEOUT; default 20s)"));
    CHECK(Contains(help, "Precedence: flags > LASTCALL_* environment > config file > defaults."));
    CHECK(LongestLine(help) <= 100);
    CHECK(Parse({"help", subcommand}).output == help);
  }
  CHECK(Contains(Parse({"check", "--help"}).output,
                 "Exit codes: 0 valid and the timing budget "
                 "fits, 2 invalid or it does not fit."));
}

TEST_CASE("prestop help") {
  ParsedCommand parsed = Parse({"prestop", "--help"});
  REQUIRE(parsed.command == Command::kHelp);
  for (const char* part :
       {"--control ADDRESS", "--token-file FILE", "--timeout DURATION", "-q,--quiet",
        "LASTCALL_CONTROL", "LASTCALL_TOKEN_FILE", "LASTCALL_PRESTOP_TIMEOUT", "LASTCALL_QUIET",
        "unix:///var/run/lastcall/control.sock", "Exit codes: 0 drained"}) {
    CAPTURE(part);
    CHECK(Contains(parsed.output, part));
  }
  CHECK(LongestLine(parsed.output) <= 100);
}

TEST_CASE("version") {
  // A commit hash from git, or "unknown" outside a checkout (cmake/Version.cmake).
  const std::string commit = kGitCommit;
  CHECK(
      (commit == "unknown" ||
       (commit.size() >= 7 && commit.find_first_not_of("0123456789abcdef") == std::string::npos)));
  const std::string line = std::string("lastcall ") + kVersion + " (commit " + kGitCommit + ")\n";
  CHECK(VersionLine() == line);
  ParsedCommand flag = Parse({"--version"});
  CHECK(flag.command == Command::kPrintVersion);
  CHECK(flag.output == line);
  // The subcommand is an ordinary one: its action prints the same line on stdout.
  ParsedCommand subcommand = Parse({"version"});
  REQUIRE(subcommand.command == Command::kSubcommand);
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  CHECK(subcommand.action(CommandIo{in, out, err}) == kExitDrained);
  CHECK(out.str() == line);
  CHECK(err.str().empty());
}

TEST_CASE("usage errors say what is wrong and suggest the fix") {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  const std::vector<Case> cases = {
      {{"rn"},
       "lastcall: unknown subcommand \"rn\" (did you mean run?)\nSubcommands: run, check, "
       "prestop, rehearse, version, install, inject, uninject. Run 'lastcall --help' for usage.\n"},
      {{"drain"},
       "lastcall: unknown subcommand \"drain\"\nSubcommands: run, check, prestop, rehearse, "
       "version, install, inject, uninject. Run "
       "'lastcall --help' for usage.\n"},
      {{"run", "--lb-dealy", "5s"},
       "lastcall run: unknown flag --lb-dealy (did you mean --lb-delay?)\nRun 'lastcall run "
       "--help' for usage.\n"},
      {{"check", "--drain_timeout=5s"},
       "lastcall check: unknown flag --drain_timeout (did you mean --drain-timeout?)\nRun "
       "'lastcall check --help' for usage.\n"},
      {{"run", "--frobnicate"},
       "lastcall run: unknown flag --frobnicate\nRun 'lastcall run --help' for usage.\n"},
      {{"--frobnicate"}, "lastcall: unknown flag --frobnicate\nRun 'lastcall --help' for usage.\n"},
      {{"run", "--lb-delay"},
       "lastcall run: --lb-delay: 1 required DURATION|auto missing\nRun 'lastcall run --help' for "
       "usage.\n"},
      {{"run", "extra"},
       "lastcall run: The following argument was not expected: extra\nRun 'lastcall run --help' "
       "for usage.\n"},
      {{"prestop", "--timeout", "5"},
       "lastcall prestop: flag --timeout: missing unit after \"5\" (units: h, m, s, ms) (got "
       "\"5\")\nRun 'lastcall prestop --help' for usage.\n"},
      {{"prestop", "--timeout", "0s"},
       "lastcall prestop: flag --timeout: must be greater than 0 (got \"0s\")\nRun 'lastcall "
       "prestop --help' for usage.\n"},
      {{"prestop", "--lb-delay", "5s"},
       "lastcall prestop: unknown flag --lb-delay\nRun 'lastcall prestop --help' for usage.\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.want);
    ParsedCommand parsed = Parse(c.args);
    CHECK(parsed.command == Command::kUsageError);
    CHECK(parsed.exit_code == kExitUsage);
    CHECK(parsed.output == c.want);
  }
}

TEST_CASE("run collects flags, the environment and the config path") {
  Parsed parsed =
      Parse({"run", "-c", "/etc/lastcall.yaml", "--lb-delay", "1s", "--lb-delay=2s",
             "--monitor-port", "1", "--monitor-port", "2,3", "--count-close-wait",
             "--skip-lb-delay-when-app-gone=false", "--drain-header", "X-A: 1", "--drain-url="},
            {{"LASTCALL_EXIT_DELAY", "1s"}, {"HOME", "/root"}});
  REQUIRE(parsed.command == Command::kSubcommand);
  CHECK(parsed.subcommand == "run");
  const ConfigSources& sources = parsed.run;
  CHECK(sources.yaml_path == "/etc/lastcall.yaml");
  CHECK(sources.yaml_text.empty());  // ReadConfigSources reads it
  CHECK(sources.env == std::map<std::string, std::string>{{"LASTCALL_EXIT_DELAY", "1s"}});
  std::vector<std::pair<std::string, std::string>> flags;
  for (const FlagValue& flag : sources.flags) flags.emplace_back(flag.name, flag.value);
  // Grouped per flag in ConfigKeys() order, each flag's values in command-line order.
  CHECK(flags == std::vector<std::pair<std::string, std::string>>{
                     {"lb-delay", "1s"},
                     {"lb-delay", "2s"},
                     {"drain-url", ""},
                     {"drain-header", "X-A: 1"},
                     {"monitor-port", "1"},
                     {"monitor-port", "2,3"},
                     {"count-close-wait", "true"},
                     {"skip-lb-delay-when-app-gone", "false"},
                 });

  // And LoadConfig takes it from there.
  parsed.run.flags.push_back({"monitor", "connections"});
  LoadedConfig loaded = LoadConfig(parsed.run);
  CHECK(loaded.config.shutdown.lb_delay == LbDelay::Fixed{std::chrono::seconds{2}});
  CHECK(loaded.config.shutdown.exit_delay == std::chrono::seconds{1});
  CHECK(loaded.config.shutdown.drain.monitor.ports == std::vector<int>{1, 2, 3});
  CHECK_FALSE(loaded.config.shutdown.drain.trigger.url.has_value());
  CHECK(loaded.config.shutdown.drain.monitor.count_close_wait);
  CHECK_FALSE(loaded.config.shutdown.skip_lb_delay_when_app_gone);
}

TEST_CASE("the config file comes from -c, else LASTCALL_CONFIG") {
  CHECK(Parse({"run"}).run.yaml_path.empty());
  CHECK(Parse({"run"}, {{"LASTCALL_CONFIG", "/env.yaml"}}).run.yaml_path == "/env.yaml");
  CHECK(Parse({"check", "--config", "/flag.yaml"}, {{"LASTCALL_CONFIG", "/env.yaml"}})
            .check.yaml_path == "/flag.yaml");
  CHECK(Parse({"check", "-c", "/a.yaml", "-c", "/b.yaml"}).check.yaml_path == "/b.yaml");
}

TEST_CASE("check takes the run flags, --grace-period included") {
  Parsed parsed = Parse({"check", "--grace-period", "45s"});
  REQUIRE(parsed.command == Command::kSubcommand);
  CHECK(parsed.subcommand == "check");
  CHECK(parsed.run.flags.empty());
  REQUIRE(parsed.check.flags.size() == 1);
  CHECK(parsed.check.flags[0].name == "grace-period");
  CHECK(LoadConfig(parsed.check).config.shutdown.grace_period == std::chrono::seconds{45});
}

TEST_CASE("prestop --then and --then-get: the hook that was there, after the drain") {
  Parsed command = Parse({"prestop", "--then", "--", "/app/deregister", "--service", "x"});
  REQUIRE(command.command == Command::kSubcommand);
  CHECK(command.prestop.then.command ==
        std::vector<std::string>{"/app/deregister", "--service", "x"});
  Parsed get = Parse({"prestop", "--then-get", "http://127.0.0.1:9300/leave", "--then-header",
                      "X-Reason: shutdown", "--then-header", "A: b"});
  REQUIRE(get.command == Command::kSubcommand);
  CHECK(get.prestop.then.get_url == "http://127.0.0.1:9300/leave");
  CHECK(get.prestop.then.headers == std::vector<std::string>{"X-Reason: shutdown", "A: b"});
  CHECK(Parse({"prestop"}).prestop.then.empty());
  for (const auto& one_case : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"prestop", "--then"}, "--then needs a command after --"},
           {{"prestop", "sleep", "5"}, "unexpected argument \"sleep\""},
           {{"prestop", "--then-get", "https://x:1/"}, "--then-get: "},
           {{"prestop", "--then-get", "http://x:1/", "--then", "--", "a"}, "exclude each other"},
       }) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& args = one_case.first;
    const auto& want = one_case.second;
    CAPTURE(want);
    const ParsedCommand parsed = Parse(args);
    CHECK(parsed.command == Command::kUsageError);
    CHECK(Contains(parsed.output, want));
  }
}

TEST_CASE("prestop options: flag, else environment, else default") {
  Parsed defaults = Parse({"prestop"});
  REQUIRE(defaults.subcommand == "prestop");
  CHECK(defaults.prestop.control == "unix:///var/run/lastcall/control.sock");
  CHECK(defaults.prestop.token_file.empty());
  CHECK_FALSE(defaults.prestop.timeout.has_value());
  CHECK_FALSE(defaults.prestop.quiet);

  std::map<std::string, std::string> env = {{"LASTCALL_CONTROL", "127.0.0.1:9902"},
                                            {"LASTCALL_TOKEN_FILE", "/env/token"},
                                            {"LASTCALL_PRESTOP_TIMEOUT", "30s"},
                                            {"LASTCALL_QUIET", "true"},
                                            {"LASTCALL_LB_DELAY", "5s"}};  // run's; ignored
  Parsed from_env = Parse({"prestop"}, env);
  REQUIRE(from_env.subcommand == "prestop");
  CHECK(from_env.prestop.control == "127.0.0.1:9902");
  CHECK(from_env.prestop.token_file == "/env/token");
  CHECK(from_env.prestop.timeout == Millis{30'000});
  CHECK(from_env.prestop.quiet);

  Parsed from_flags = Parse({"prestop", "--control", "unix:///shared/control.sock", "--token-file",
                             "/t", "--timeout", "1m", "-q"},
                            env);
  REQUIRE(from_flags.subcommand == "prestop");
  CHECK(from_flags.prestop.control == "unix:///shared/control.sock");
  CHECK(from_flags.prestop.token_file == "/t");
  CHECK(from_flags.prestop.timeout == Millis{60'000});
  CHECK(from_flags.prestop.quiet);

  ParsedCommand bad_env = Parse({"prestop"}, {{"LASTCALL_PRESTOP_TIMEOUT", "soon"}});
  CHECK(bad_env.command == Command::kUsageError);
  CHECK(bad_env.output.rfind("lastcall prestop: environment LASTCALL_PRESTOP_TIMEOUT: expected a "
                             "number before \"soon\"",
                             0) == 0);
  ParsedCommand bad_quiet = Parse({"prestop"}, {{"LASTCALL_QUIET", "maybe"}});
  CHECK(bad_quiet.output.rfind("lastcall prestop: environment LASTCALL_QUIET: expected true or "
                               "false (got \"maybe\")",
                               0) == 0);
  ParsedCommand bad_control = Parse({"prestop", "--control", "unix://relative"});
  CHECK(bad_control.command == Command::kUsageError);
  CHECK(bad_control.output.rfind("lastcall prestop: flag --control: ", 0) == 0);
  CHECK(Contains(bad_control.output, "(got \"unix://relative\")"));
}

TEST_CASE("a flag or LASTCALL_* variable that is not UTF-8 text is a usage error naming it") {
  const std::string rule = " (values are UTF-8 text without control characters, as in YAML)";
  // Every subcommand's flags, not only the config's: prestop's own here.
  Parsed flag = Parse({"prestop", "--control", "127.0.0.1:99\xff"});
  CHECK(flag.exit_code == kExitUsage);
  CHECK(flag.output == "lastcall prestop: flag --control: a byte that is not UTF-8 " +
                           Quote("\xff") + " at byte 13" + rule +
                           "\nRun 'lastcall prestop --help' for usage.\n");
  Parsed env = Parse({"prestop"}, {{"LASTCALL_PRESTOP_TIMEOUT", "5\x01s"}});
  CHECK(env.exit_code == kExitUsage);
  CHECK(Contains(env.output,
                 "lastcall prestop: environment LASTCALL_PRESTOP_TIMEOUT: a control "
                 "character " +
                     Quote("\x01") + " at byte 2" + rule));
  Parsed run = Parse({"run", "--drain-url", "http://127.0.0.1:9/\xc2\x9b"});
  CHECK(run.exit_code == kExitUsage);
  CHECK(Contains(run.output, "lastcall run: flag --drain-url: a control character"));
  // UTF-8 text is fine.
  CHECK(Parse({"prestop", "--control", "unix:///run/caf\xc3\xa9.sock"}).exit_code == 0);
}

TEST_CASE("LastcallEnvironment keeps only LASTCALL_* entries") {
  const char* envp[] = {"PATH=/bin",
                        "LASTCALL_LB_DELAY=5s",
                        "LASTCALL_DRAIN_HEADER=A: b=c",
                        "LASTCALL_BROKEN",
                        "LASTCALL_EMPTY=",
                        "lastcall_lower=1",
                        nullptr};
  CHECK(LastcallEnvironment(envp) ==
        std::map<std::string, std::string>{{"LASTCALL_LB_DELAY", "5s"},
                                           {"LASTCALL_DRAIN_HEADER", "A: b=c"},
                                           {"LASTCALL_EMPTY", ""}});
  CHECK(LastcallEnvironment(nullptr).empty());
}

TEST_CASE("ReadConfigSources reads the file named by -c") {
  const char* base = std::getenv("TMPDIR");
  std::string path = std::string(base != nullptr ? base : "/tmp") + "/lastcall-cli-test-" +
                     std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << "shutdown:\n  lb_delay: 9s\n";
  Parsed parsed = Parse({"run", "-c", path});
  ReadConfigSources(&parsed.run);
  CHECK(parsed.run.yaml_text == "shutdown:\n  lb_delay: 9s\n");
  CHECK(LoadConfig(parsed.run).config.shutdown.lb_delay == LbDelay::Fixed{std::chrono::seconds{9}});
  ::unlink(path.c_str());

  CHECK_THROWS_WITH_AS(ReadConfigSources(&parsed.run),
                       ("config file " + path + ": cannot read: No such file or directory").c_str(),
                       ConfigError);
  ConfigSources none;
  ReadConfigSources(&none);  // no path: nothing to read
  CHECK(none.yaml_text.empty());
}

TEST_CASE("LoadConfigOrExplain prints every configuration problem under the subcommand's name") {
  ConfigSources good;
  good.flags.push_back({"lb-delay", "3s"});
  std::ostringstream quiet;
  const std::optional<LoadedConfig> loaded = LoadConfigOrExplain(&good, "lastcall", quiet);
  REQUIRE(loaded.has_value());
  CHECK(loaded->config.shutdown.lb_delay == LbDelay::Fixed{std::chrono::seconds{3}});
  CHECK(quiet.str().empty());

  ConfigSources bad;
  bad.flags = {{"lb-delay", "5"}, {"drain-timeout", "soon"}};
  std::ostringstream err;
  CHECK_FALSE(LoadConfigOrExplain(&bad, "lastcall rehearse", err).has_value());
  const std::string text = err.str();
  CHECK(text.rfind("lastcall rehearse: configuration error:\n  flag --lb-delay: ", 0) == 0);
  CHECK(Contains(text, "\n  flag --drain-timeout: "));

  ConfigSources missing;
  missing.yaml_path = "/nonexistent/lastcall.yaml";
  std::ostringstream unread;
  CHECK_FALSE(LoadConfigOrExplain(&missing, "lastcall", unread).has_value());
  CHECK(unread.str() ==
        "lastcall: configuration error:\n  config file /nonexistent/lastcall.yaml: cannot read: No "
        "such file or directory\n");
}

}  // namespace
}  // namespace lastcall

// lastcall: parse the command line, run the subcommand, exit. Each subcommand's module defines
// it (its flags, its start-up, its action); this file lists them. The one file that sees every
// wing (cmake/CheckLayers.cmake).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "base/exit_status.h"
#include "cli/cli.h"
#include "cli/version_command.h"
#include "install_command.h"
#include "prestop/prestop_command.h"
#include "sidecar/check_command.h"
#include "sidecar/run_command.h"
#ifndef LASTCALL_SIDECAR_BUILD
#include "inject_command.h"
#include "rehearse_command.h"
#include "uninject_command.h"
#include "webhook_command.h"
#endif

extern char** environ;

namespace lastcall {
namespace {

#ifdef LASTCALL_SIDECAR_BUILD
// The sidecar build (the container image's /lastcall, CMakeLists.txt's lastcall_sidecar) leaves
// the laptop tools out, so that a pod's resident memory holds none of their code. The image
// carries the full binary beside it as /lastcall-full: asked for a tool, the sidecar build hands
// the whole command line to it (so `docker run IMAGE inject` works), and where there is none,
// it is a usage error that says where the tool is.
constexpr const char* kFullBinaryName = "lastcall-full";
// The subcommands only the full binary has: the one list the hand-over and the usage error read.
constexpr std::array<std::string_view, 4> kFullBinaryTools{"rehearse", "inject", "uninject",
                                                           "webhook"};

void HandToFullBinary(int argc, char** argv) {
  if (argc < 2) return;
  if (std::find(kFullBinaryTools.begin(), kFullBinaryTools.end(), std::string_view(argv[1])) ==
      kFullBinaryTools.end()) {
    return;
  }
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length <= 0) return;
  std::string path(self, static_cast<size_t>(length));
  path = path.substr(0, path.rfind('/') + 1) + kFullBinaryName;
  if (access(path.c_str(), X_OK) != 0) return;
  // A lastcall-full that is this very file (the sidecar build copied there, or a link to it)
  // would exec itself forever: then the usage error below.
  struct stat full {};
  struct stat own {};
  if (stat(path.c_str(), &full) != 0 || stat("/proc/self/exe", &own) != 0) return;
  if (full.st_dev == own.st_dev && full.st_ino == own.st_ino) return;
  execv(path.c_str(), argv);  // returns only on failure: then the usage error below says why
}

Subcommand NotInSidecarBuild(const std::string& name) {
  return {name, "Not in this sidecar build: in the full lastcall binary",
          [name](CLI::App* app, const Env&) -> Finish {
            app->allow_extras();
            return [name](ParsedCommand* out) {
              SetUsageError(out, name,
                            "not in this binary: it is the sidecar build the container image "
                            "carries (run, check, prestop, install, version); `" +
                                name +
                                "` is in the full lastcall binary (the image's /lastcall-full, a "
                                "release download, or scripts/build-static.sh's "
                                "lastcall.stripped)");
            };
          }};
}
#endif

int Main(int argc, char** argv) {
#ifdef LASTCALL_SIDECAR_BUILD
  HandToFullBinary(argc, argv);
#endif
  // What each subcommand's flags parse into; its action reads it.
  ConfigSources run;
  ConfigSources check;
  PrestopOptions prestop;
  InstallOptions install;
  std::vector<Subcommand> subcommands{RunSubcommand(&run), CheckSubcommand(&check),
                                      PrestopSubcommand(&prestop)};
#ifndef LASTCALL_SIDECAR_BUILD
  RehearseOptions rehearse;
  InjectOptions inject;
  UninjectOptions uninject;
  WebhookOptions webhook;
  subcommands.push_back(RehearseSubcommand(&rehearse));
  subcommands.insert(subcommands.end(),
                     {VersionSubcommand(), InstallSubcommand(&install), InjectSubcommand(&inject),
                      UninjectSubcommand(&uninject), WebhookSubcommand(&webhook)});
#else
  subcommands.insert(subcommands.end(), {VersionSubcommand(), InstallSubcommand(&install)});
  for (const std::string_view tool : kFullBinaryTools) {
    subcommands.push_back(NotInSidecarBuild(std::string(tool)));
  }
#endif

  const ParsedCommand parsed =
      ParseCommandLine(argc, argv, LastcallEnvironment(environ), subcommands);
  switch (parsed.command) {
    case Command::kHelp:
    case Command::kPrintVersion:
      std::cout << parsed.output;
      return kExitDrained;
    case Command::kUsageError:
      std::cerr << parsed.output;
      return parsed.exit_code;
    case Command::kSubcommand:
      return parsed.action(CommandIo{std::cin, std::cout, std::cerr, isatty(STDERR_FILENO) == 1});
  }
  return kExitUsage;
}

}  // namespace
}  // namespace lastcall

int main(int argc, char** argv) {
  try {
    return lastcall::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lastcall: fatal: %s\n", e.what());
    return lastcall::kExitRuntimeError;
  }
}

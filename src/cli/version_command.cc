#include "cli/version_command.h"

#include "base/exit_status.h"
#include "git_commit.h"
#include "version.h"

namespace lastcall {

std::string VersionLine() {
  return std::string("lastcall ") + kVersion + " (commit " + kGitCommit + ")\n";
}

Subcommand VersionSubcommand() {
  return {"version", "Print the version", [](CLI::App* /*app*/, const Env& /*env*/) {
            return ThenRun(nullptr, [](const CommandIo& io) {
              io.out << VersionLine();
              return kExitDrained;
            });
          }};
}

}  // namespace lastcall

#pragma once

#include <ostream>
#include <string>

#include "cli/cli11.h"
#include "cli/subcommand.h"

// `lastcall install --to DIR`: the init container of the regular-sidecar pod shape runs the
// lastcall image once to put the binary into an emptyDir that the app container also mounts, so
// the app's preStop hook can `exec` it. The image is FROM scratch: there is no `cp`, so the binary
// copies itself.
namespace lastcall {

struct InstallOptions {
  std::string to;                         // destination directory; required
  std::string source = "/proc/self/exe";  // the file to copy: the running binary (tests override)
};

// The name the binary gets inside the destination directory.
inline constexpr const char* kInstalledName = "lastcall";

// Copies options.source to options.to/lastcall with mode 0755. The destination directory (and
// its missing parents) is created with mode 0755 when missing. The copy is atomic: written to a
// temporary file in the same directory, flushed, then renamed over any previous copy, so a
// concurrent exec sees the old binary or the new one, never half of one; a failed copy leaves
// no temporary file behind. Idempotent. Prints one line to `out` on success; on failure prints
// the cause to `err` and returns kExitUsage (no destination given) or kExitRuntimeError (I/O).
int RunInstall(const InstallOptions& options, std::ostream& out, std::ostream& err);

// Registers the `install` subcommand on `app` with its flags bound to `options` (`--to`, also
// LASTCALL_INSTALL_TO). The caller sets the callback (or checks `parsed()`) and calls RunInstall.
CLI::App* AddInstallSubcommand(CLI::App& app, InstallOptions& options);

// The `install` subcommand as main lists it: AddInstallSubcommand's flags, bound to *options, and
// RunInstall as its action. REQUIRES: *options outlives the parse and the action.
Subcommand InstallSubcommand(InstallOptions* options);

}  // namespace lastcall

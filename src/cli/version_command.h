#pragma once

#include <string>

#include "cli/subcommand.h"

// `lastcall version` and `lastcall --version`: the release and the commit it was built from.
namespace lastcall {

// "lastcall 0.1.0 (commit 1a2b3c4)\n"; the commit is "unknown" outside a git checkout.
std::string VersionLine();

// The `version` subcommand: prints VersionLine() on stdout, exit 0.
Subcommand VersionSubcommand();

}  // namespace lastcall

#pragma once

#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli11.h"
#include "cli/subcommand.h"

// `lastcall uninject`: removes exactly what `lastcall inject` added. A document inject changed
// and nobody edited since comes back byte for byte (inject keeps it in lastcall.dev/original);
// one edited since (or read back from the cluster) loses lastcall's additions and keeps the
// edits, re-written from its parsed form. The Role and RoleBinding inject --cluster-access wrote
// (documents, or items of a List, marked lastcall.dev/generated-by) are removed; nothing else
// of that kind is touched. Everything else is copied byte for byte.
namespace lastcall {

struct UninjectOptions {
  std::string input = "-";  // manifest file, or "-" for standard input
};

struct UninjectResult {
  std::string output;
  std::vector<std::string> notes;    // e.g. "document 2: Deployment web: edited since inject..."
  std::vector<std::string> skipped;  // documents left as they were, with the reason
  int removed = 0;                   // workloads lastcall was removed from
};

// Pure.
UninjectResult UninjectManifests(std::string_view input);

// Reads options.input (or `in` for "-"), writes the stream to `out`, notes to `err`. Returns
// kExitDrained, or kExitUsage when the input cannot be read.
int RunUninject(const UninjectOptions& options, std::istream& in, std::ostream& out,
                std::ostream& err);

CLI::App* AddUninjectSubcommand(CLI::App& app, UninjectOptions& options);

// The `uninject` subcommand as main lists it. REQUIRES: *options outlives the parse and action.
Subcommand UninjectSubcommand(UninjectOptions* options);

}  // namespace lastcall

// lastcall_config_doc: writes the configuration reference of docs/configuration.md from the key
// table (src/config/config_reference.h). A maintainer's tool, not part of the shipped binary; run
// through scripts/gen-config-doc.sh.
//   lastcall_config_doc                 print the generated reference
//   lastcall_config_doc --write FILE    replace FILE's generated part
//   lastcall_config_doc --check FILE    exit 1 when FILE's generated part is stale
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "base/exit_status.h"
#include "config/config_reference.h"

namespace {

int Usage() {
  std::cerr << "usage: lastcall_config_doc [--write FILE | --check FILE]\n";
  return lastcall::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 1) {
    std::cout << lastcall::RenderConfigReference();
    return lastcall::kExitDrained;
  }
  if (argc != 3) return Usage();
  const std::string mode = argv[1];
  const std::string path = argv[2];
  if (mode != "--write" && mode != "--check") return Usage();

  std::ifstream in(path);
  if (!in) {
    std::cerr << "lastcall_config_doc: cannot read " << path << "\n";
    return lastcall::kExitRuntimeError;
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string document = text.str();
  std::string error;
  std::optional<std::string> fresh = lastcall::SpliceConfigReference(document, &error);
  if (!fresh) {
    std::cerr << "lastcall_config_doc: " << path << ": " << error << "\n";
    return lastcall::kExitUsage;
  }
  if (mode == "--check") {
    if (*fresh == document) return lastcall::kExitDrained;
    std::cerr << "lastcall_config_doc: " << path << " is stale: run scripts/gen-config-doc.sh\n";
    return lastcall::kExitTimedOut;
  }
  if (*fresh == document) return lastcall::kExitDrained;
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << *fresh;
    if (!out.flush()) {
      std::cerr << "lastcall_config_doc: cannot write " << temporary << "\n";
      return lastcall::kExitRuntimeError;
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::cerr << "lastcall_config_doc: cannot replace " << path << "\n";
    return lastcall::kExitRuntimeError;
  }
  std::cout << "lastcall_config_doc: rewrote " << path << "\n";
  return lastcall::kExitDrained;
}

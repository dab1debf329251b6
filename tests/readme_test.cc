// The documentation (README.md, CONTRIBUTING.md, docs/*.md and the other READMEs) must not fall
// behind the code or point nowhere: the README stays a short guide, every relative link and
// anchor resolves, every configuration example loads, and the configuration reference names
// every key.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/config_keys.h"
#include "config/config_loader.h"

namespace lastcall {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = LASTCALL_SOURCE_DIR;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, path.string() << " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The documents a user or contributor reads, relative to the source tree.
std::vector<fs::path> Documents() {
  std::vector<fs::path> documents = {"README.md",    "CONTRIBUTING.md",  "BENCHMARKS.md",
                                     "CHANGELOG.md", "deploy/README.md", "examples/README.md"};
  for (const auto& entry : fs::directory_iterator(kSource / "docs")) {
    if (entry.path().extension() == ".md") {
      documents.push_back(fs::relative(entry.path(), kSource));
    }
  }
  std::sort(documents.begin(), documents.end());
  return documents;
}

struct Line {
  int number;
  std::string text;
};

// The lines of a markdown document outside fenced code blocks: links and headings inside code are
// examples, not links and headings.
std::vector<Line> ProseLines(const std::string& text) {
  std::vector<Line> lines;
  std::istringstream in(text);
  std::string line;
  bool fenced = false;
  for (int number = 1; std::getline(in, line); ++number) {
    size_t first = line.find_first_not_of(' ');
    if (first != std::string::npos && line.compare(first, 3, "```") == 0) {
      fenced = !fenced;
      continue;
    }
    if (!fenced) lines.push_back({number, line});
  }
  return lines;
}

// The fenced blocks of a document in language `language`, with the line each starts at.
std::vector<Line> FencedBlocks(const std::string& text, const std::string& language) {
  std::vector<Line> blocks;
  std::istringstream in(text);
  std::string line;
  bool inside = false;
  bool wanted = false;
  for (int number = 1; std::getline(in, line); ++number) {
    size_t first = line.find_first_not_of(' ');
    if (first != std::string::npos && line.compare(first, 3, "```") == 0) {
      if (!inside) {
        wanted = line.substr(first + 3) == language;
        if (wanted) blocks.push_back({number + 1, ""});
      }
      inside = !inside;
      continue;
    }
    if (inside && wanted) blocks.back().text += line + "\n";
  }
  return blocks;
}

// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens. Links
// inside a heading count by their text. Non-ASCII characters are dropped, which is what GitHub
// does to the dashes and symbols these documents use in headings.
std::string Slug(std::string heading) {
  // [text](target) -> text
  for (size_t open = heading.find("]("); open != std::string::npos; open = heading.find("](")) {
    size_t close = heading.find(')', open);
    size_t start = heading.rfind('[', open);
    if (close == std::string::npos || start == std::string::npos) break;
    heading = heading.substr(0, start) + heading.substr(start + 1, open - start - 1) +
              heading.substr(close + 1);
  }
  std::string slug;
  for (char c : heading) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) continue;
    if (std::isalnum(byte) || c == '-' || c == '_') {
      slug += static_cast<char>(std::tolower(byte));
    } else if (c == ' ') {
      slug += '-';
    }
  }
  return slug;
}

// Every anchor a document's headings make, with GitHub's -1, -2 suffixes for repeats.
std::set<std::string> Anchors(const std::string& text) {
  std::set<std::string> anchors;
  std::map<std::string, int> seen;
  for (const Line& line : ProseLines(text)) {
    size_t hashes = line.text.find_first_not_of('#');
    if (hashes == 0 || hashes == std::string::npos || hashes > 6 || line.text[hashes] != ' ') {
      continue;
    }
    std::string slug = Slug(line.text.substr(hashes + 1));
    int count = seen[slug]++;
    anchors.insert(count == 0 ? slug : slug + "-" + std::to_string(count));
  }
  return anchors;
}

// The targets of the inline links `[text](target)` on a line, outside code spans.
std::vector<std::string> LinkTargets(const std::string& line) {
  std::string prose;
  bool code = false;
  for (char c : line) {
    if (c == '`') {
      code = !code;
      prose += ' ';
    } else {
      prose += code ? ' ' : c;
    }
  }
  std::vector<std::string> targets;
  for (size_t at = prose.find("]("); at != std::string::npos; at = prose.find("](", at + 2)) {
    size_t close = prose.find(')', at + 2);
    if (close == std::string::npos) break;
    targets.push_back(prose.substr(at + 2, close - at - 2));
  }
  return targets;
}

TEST_CASE("the README points the way in at most 200 lines") {
  const std::string readme = ReadFile(kSource / "README.md");
  const auto lines = std::count(readme.begin(), readme.end(), '\n');
  CHECK_MESSAGE(lines <= 200, "README.md has " << lines
                                               << " lines: move the detail to docs/ or "
                                                  "CONTRIBUTING.md and link to it");
  // A person with a cluster meets inject, and the paths per workload, on the first screens.
  CHECK(readme.find("lastcall inject") < readme.find("## Install"));
  CHECK(readme.find("## Pick your path") != std::string::npos);
}

TEST_CASE("every relative link in the documentation names a file, and its anchor a heading") {
  std::map<fs::path, std::set<std::string>> anchors;  // by document, read once
  auto anchors_of = [&](const fs::path& document) -> const std::set<std::string>& {
    auto found = anchors.find(document);
    if (found == anchors.end()) {
      found = anchors.emplace(document, Anchors(ReadFile(kSource / document))).first;
    }
    return found->second;
  };
  int checked = 0;
  for (const fs::path& document : Documents()) {
    for (const Line& line : ProseLines(ReadFile(kSource / document))) {
      for (const std::string& target : LinkTargets(line.text)) {
        if (target.find("://") != std::string::npos || target.rfind("mailto:", 0) == 0) continue;
        CAPTURE(document.string() + ":" + std::to_string(line.number) + ": " + target);
        ++checked;
        size_t hash = target.find('#');
        std::string file = target.substr(0, hash);
        std::string anchor = hash == std::string::npos ? "" : target.substr(hash + 1);
        fs::path resolved = file.empty() ? document : (document.parent_path() / file);
        resolved = resolved.lexically_normal();
        if (!file.empty()) {
          CHECK_MESSAGE(fs::exists(kSource / resolved), "no such file: " << resolved.string());
          if (!fs::exists(kSource / resolved)) continue;
        }
        if (!anchor.empty() && resolved.extension() == ".md") {
          CHECK_MESSAGE(anchors_of(resolved).count(anchor) == 1,
                        "no heading with anchor #" << anchor << " in " << resolved.string());
        }
      }
    }
  }
  CHECK(checked > 50);  // the documents link to each other: finding none means parsing broke
}

TEST_CASE("the link check's anchors are GitHub's") {
  CHECK(Slug("The preStop hook: how the app waits for its drain") ==
        "the-prestop-hook-how-the-app-waits-for-its-drain");
  CHECK(Slug("`count: in_flight`: requests, not connections") ==
        "count-in_flight-requests-not-connections");
  CHECK(Slug("Multiplexed ports: HTTP/2, gRPC") == "multiplexed-ports-http2-grpc");
  CHECK(Slug("A meshed workload (Istio, Linkerd)") == "a-meshed-workload-istio-linkerd");
  CHECK(Slug("[docs](x.md) — here") == "docs--here");
  CHECK(Anchors("# A\n## A\n```\n# not a heading\n```\n### A\n") ==
        std::set<std::string>{"a", "a-1", "a-2"});
  CHECK(LinkTargets("[a](x.md#b) `[c](not-a-link)` [d](../y)") ==
        std::vector<std::string>{"x.md#b", "../y"});
}

// A YAML block whose top-level keys are all sections of lastcall's configuration is a
// configuration example, and must load as one. Kubernetes manifests and fragments (indented
// lines only) are not.
bool IsConfigExample(const std::string& yaml, const std::vector<std::string>& roots) {
  bool any = false;
  std::istringstream in(yaml);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == ' ' || line[0] == '#' || line[0] == '-') continue;
    std::string key = line.substr(0, line.find(':'));
    if (std::find(roots.begin(), roots.end(), key) == roots.end()) return false;
    any = true;
  }
  return any;
}

TEST_CASE("every configuration example in the documentation is a valid configuration") {
  const std::vector<std::string> roots = ChildrenOf("");
  int examples = 0;
  for (const fs::path& document : Documents()) {
    for (const Line& block : FencedBlocks(ReadFile(kSource / document), "yaml")) {
      if (!IsConfigExample(block.text, roots)) continue;
      ++examples;
      CAPTURE(document.string() + ":" + std::to_string(block.number));
      ConfigSources sources;
      sources.yaml_text = block.text;
      sources.yaml_path = document.string();
      try {
        LoadConfig(sources);
      } catch (const ConfigError& error) {
        FAIL_CHECK(std::string(error.what()));
      }
    }
  }
  CHECK(examples >= 10);
}

TEST_CASE("the configuration reference documents every key with its flag and environment twin") {
  const std::string reference = ReadFile(kSource / "docs/configuration.md");
  for (const ConfigKey& key : ConfigKeys()) {
    CAPTURE(key.key);
    CHECK(reference.find("| `" + key.key + "` | `--" + key.flag + "` | `" + key.env + "` |") !=
          std::string::npos);
  }
}

// `monitor: none` waits the drain timeout and reports drained, exit 0 (shutdown_sequence.cc;
// tests/http_peer_test.cc runs it): no document may promise timed_out for it.
TEST_CASE("no document says monitor none ends timed_out") {
  for (const fs::path& document : Documents()) {
    for (const Line& line : ProseLines(ReadFile(kSource / document))) {
      bool none = line.text.find("monitor: none") != std::string::npos ||
                  line.text.find("monitor none") != std::string::npos ||
                  line.text.find("`none`") != std::string::npos;
      CAPTURE(document.string() + ":" + std::to_string(line.number));
      CHECK_FALSE((none && line.text.find("timed_out") != std::string::npos));
    }
  }
}

}  // namespace
}  // namespace lastcall

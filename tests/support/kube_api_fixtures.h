#pragma once

// The Kubernetes API's own formats from tests/fixtures/kube_api/ (README.md there says where each
// comes from), for the unit tests that parse them and for the stand-in that serves them
// (kube_api_stand_in.h). Test-only, header-only.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "test_fixtures.h"

namespace lastcall::test {

// The fixture's text. Every kube_api fixture holds something: an empty one is a fixture that
// cannot be read, and a test parsing "" would fail for the wrong reason, so this requires it.
// Call it on a test's thread (or a fake's that a test drives), never on the stand-in's.
inline std::string KubeApiFixture(const std::string& name) {
  std::string text = testing::ReadFixture("kube_api/" + name);
  REQUIRE_MESSAGE(!text.empty(), "cannot read tests/fixtures/kube_api/" << name);
  return text;
}

// The pod UID the EndpointSlice fixtures hold (endpointslice_list.json, endpointslice_watch.jsonl).
inline constexpr const char* kFixturePodUid = "5a1c7c5e-8d0f-4e43-9c57-3b2a7d6e9f10";

// The lines of endpointslice_watch.jsonl, in order: 0 a BOOKMARK, 1 MODIFIED web-x7k2p with the
// pod ready=false terminating=true, 2 another pod's slice, 3 MODIFIED web-v6-9fz1q likewise,
// 4 a BOOKMARK, 5 ERROR 410 Expired.
inline std::vector<std::string> WatchFixtureLines() {
  std::vector<std::string> lines;
  std::istringstream in(KubeApiFixture("endpointslice_watch.jsonl"));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace lastcall::test

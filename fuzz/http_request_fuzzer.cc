// ParseHttpRequest over arbitrary bytes, the way the probe and control servers feed it: a
// request at a time from the bytes received so far, pipelined requests one after the other.
// The input is also fed in two pieces, at a split point taken from its first byte, because a
// server sees a request grow across reads.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "http/http_server.h"

namespace {

using lastcall::ParsedRequest;
using lastcall::ParseStatus;
using lastcall::fuzz::Require;

// Smaller than HttpServerOptions' defaults (8 KiB, 4 KiB), so that inputs of a few KiB reach the
// 431 and 413 paths too.
constexpr size_t kMaxHeaderBytes = 1024;
constexpr size_t kMaxBodyBytes = 512;

// Parses every complete request in `data`; returns the bytes consumed.
size_t ParseAll(std::string_view data) {
  size_t offset = 0;
  while (offset < data.size()) {
    const std::string_view rest = data.substr(offset);
    const ParsedRequest parsed = lastcall::ParseHttpRequest(rest, kMaxHeaderBytes, kMaxBodyBytes);
    if (parsed.status == ParseStatus::kBad) Require(!parsed.error.empty(), "kBad has a reason");
    if (parsed.status != ParseStatus::kComplete) {
      if (parsed.status == ParseStatus::kIncomplete && parsed.complete_at != 0) {
        Require(parsed.complete_at > rest.size(), "complete_at lies beyond the bytes received");
      }
      break;
    }
    Require(parsed.consumed > 0 && parsed.consumed <= rest.size(),
            "a complete request consumes some of the input, not more");
    Require(!parsed.request.method.empty(), "a complete request has a method");
    // Origin-form or absolute-form alike, handlers route on a path.
    Require(!parsed.request.path.empty() && parsed.request.path.front() == '/',
            "a complete request's path starts with '/'");
    Require(!parsed.request.target.empty(), "a complete request keeps its target");
    Require(parsed.request.body.size() <= kMaxBodyBytes, "bodies respect max_body_bytes");
    offset += parsed.consumed;
  }
  return offset;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t consumed = ParseAll(input);
  if (size > 1) {
    // Whatever a prefix of the bytes yields as complete, the whole input yields too.
    const size_t split = 1 + data[0] % (size - 1);
    Require(ParseAll(input.substr(0, split)) <= consumed,
            "more bytes never make fewer requests complete");
  }
  return 0;
}

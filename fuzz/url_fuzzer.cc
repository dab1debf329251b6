// ParseUrl and ParseListenAddress over arbitrary text, with the round trip through ToString
// (logs and `lastcall check` print the parsed form; it must mean the same target).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "http/http_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::fuzz::Require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::string error;
  if (const auto url = lastcall::ParseUrl(text, &error)) {
    const std::string printed = url->ToString();
    std::string again_error;
    const auto again = lastcall::ParseUrl(printed, &again_error);
    Require(again.has_value(), "Url::ToString parses");
    Require(again->ToString() == printed, "Url::ToString is canonical");
    Require(again->host == url->host && again->port == url->port &&
                again->socket_path == url->socket_path && again->target == url->target,
            "Url::ToString keeps the target");
  } else {
    Require(!error.empty(), "a rejected URL comes with a reason");
  }

  error.clear();
  if (const auto address = lastcall::ParseListenAddress(text, &error)) {
    const std::string printed = address->ToString();
    std::string again_error;
    const auto again = lastcall::ParseListenAddress(printed, &again_error);
    Require(again.has_value(), "ListenAddress::ToString parses");
    Require(again->ToString() == printed, "ListenAddress::ToString is canonical");
    Require(again->IsLoopback() == address->IsLoopback(), "the round trip keeps loopback-ness");
  } else {
    Require(!error.empty(), "a rejected listen address comes with a reason");
  }
  return 0;
}

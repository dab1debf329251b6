#include "sidecar/control_service.h"

#include <doctest/doctest.h>

namespace lastcall {
namespace {

TEST_CASE("BearerCredentials: the scheme in any case, one or more spaces, then the token") {
  CHECK(BearerCredentials("Bearer abc") == "abc");
  CHECK(BearerCredentials("bearer abc") == "abc");
  CHECK(BearerCredentials("BEARER abc") == "abc");
  CHECK(BearerCredentials("bEaReR    abc") == "abc");
  CHECK(BearerCredentials("  Bearer abc  ") == "abc");
  CHECK(!BearerCredentials("Bearer"));
  CHECK(!BearerCredentials("Bearer "));
  CHECK(!BearerCredentials("Bearerabc"));
  CHECK(!BearerCredentials("Basic YWJjOmRlZg=="));
  CHECK(!BearerCredentials(""));
}

TEST_CASE("TokenMatches") {
  CHECK(TokenMatches("s3cret", "s3cret"));
  CHECK(!TokenMatches("s3cre", "s3cret"));
  CHECK(!TokenMatches("s3cret!", "s3cret"));
  CHECK(!TokenMatches("", ""));
}

}  // namespace
}  // namespace lastcall

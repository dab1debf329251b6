#include "base/net_util.h"

#include <doctest/doctest.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace lastcall {
namespace {

TEST_CASE("ASCII helpers follow RFC 9110") {
  CHECK(IsToken("X-Forwarded-For"));
  CHECK(IsToken("!#$%&'*+-.^_`|~09azAZ"));
  CHECK_FALSE(IsToken(""));
  CHECK_FALSE(IsToken("a b"));
  CHECK_FALSE(IsToken("a:b"));
  CHECK(ToLowerAscii("Content-LENGTH") == "content-length");
  CHECK(EqualsIgnoreCase("Keep-Alive", "keep-alive"));
  CHECK_FALSE(EqualsIgnoreCase("keep-alive", "keep-alive "));
  CHECK(TrimSpace(" \t value \t") == "value");
  CHECK(TrimSpace("  ").empty());
  CHECK(HasLineBreak("a\nb"));
  CHECK(HasLineBreak(std::string_view("a\0b", 3)));
  CHECK_FALSE(HasLineBreak("a\tb"));
  CHECK(ErrnoText(ECONNREFUSED) == "Connection refused");
}

TEST_CASE("IpSocketAddress takes literals only, and FormatPeer prints them back") {
  std::optional<SocketAddress> v4 = IpSocketAddress("127.0.0.1", 9901);
  REQUIRE(v4.has_value());
  CHECK(v4->family() == AF_INET);
  CHECK(PortOf(v4->storage) == 9901);
  CHECK(FormatPeer(v4->storage) == "127.0.0.1:9901");

  std::optional<SocketAddress> v6 = IpSocketAddress("::1", 80);
  REQUIRE(v6.has_value());
  CHECK(v6->family() == AF_INET6);
  CHECK(FormatPeer(v6->storage) == "[::1]:80");
  CHECK(FormatPeer(IpSocketAddress("::ffff:10.1.2.3", 5)->storage) == "10.1.2.3:5");

  CHECK_FALSE(IpSocketAddress("localhost", 80).has_value());
  CHECK_FALSE(IpSocketAddress("[::1]", 80).has_value());
  CHECK(FormatPeer(UnixSocketAddress("/run/x.sock").storage) == "unix");
}

}  // namespace
}  // namespace lastcall

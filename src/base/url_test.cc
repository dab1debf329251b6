#include "base/url.h"

#include <doctest/doctest.h>

#include <string>

namespace lastcall {
namespace {

TEST_CASE("ParseUrl accepts http and unix URLs") {
  struct Case {
    std::string text;
    Url::Scheme scheme;
    std::string host;
    uint16_t port;
    std::string socket_path;
    std::string target;
  };
  const Case cases[] = {
      {"http://127.0.0.1:8080/drain", Url::Scheme::kHttp, "127.0.0.1", 8080, "", "/drain"},
      {"http://127.0.0.1/drain", Url::Scheme::kHttp, "127.0.0.1", 80, "", "/drain"},
      {"http://localhost:8080", Url::Scheme::kHttp, "localhost", 8080, "", "/"},
      {"http://LocalHost:9000/healthz?full=1&x=%20y", Url::Scheme::kHttp, "LocalHost", 9000, "",
       "/healthz?full=1&x=%20y"},
      {"http://127.0.0.1:8080?a=b", Url::Scheme::kHttp, "127.0.0.1", 8080, "", "/?a=b"},
      {"http://[::1]:8080/metrics", Url::Scheme::kHttp, "::1", 8080, "", "/metrics"},
      {"http://[::1]/", Url::Scheme::kHttp, "::1", 80, "", "/"},
      {"HTTP://127.0.0.1:65535/", Url::Scheme::kHttp, "127.0.0.1", 65535, "", "/"},
      {"http://127.0.0.1:1/", Url::Scheme::kHttp, "127.0.0.1", 1, "", "/"},
      {"unix:///var/run/lastcall/control.sock", Url::Scheme::kUnix, "", 80,
       "/var/run/lastcall/control.sock", "/"},
      {"unix:///tmp/a.b/c.sock", Url::Scheme::kUnix, "", 80, "/tmp/a.b/c.sock", "/"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::string error;
    std::optional<Url> url = ParseUrl(c.text, &error);
    REQUIRE(url.has_value());
    CHECK(error.empty());
    CHECK(url->scheme == c.scheme);
    CHECK(url->host == c.host);
    CHECK(url->port == c.port);
    CHECK(url->socket_path == c.socket_path);
    CHECK(url->target == c.target);
  }
}

TEST_CASE("ParseUrl rejects bad URLs with a sentence naming the URL and the problem") {
  const std::pair<std::string, std::string> cases[] = {
      {"", "invalid URL \"\": empty"},
      {"127.0.0.1:8080/drain",
       "invalid URL \"127.0.0.1:8080/drain\": missing scheme (expected http:// or unix://)"},
      {"https://127.0.0.1:8443/drain",
       "invalid URL \"https://127.0.0.1:8443/drain\": scheme https is not supported: lastcall "
       "talks to the app inside the pod over loopback, use http://"},
      {"ftp://host/x",
       "invalid URL \"ftp://host/x\": scheme \"ftp\" is not supported (expected http:// or "
       "unix://)"},
      {"http://user:secret@127.0.0.1/",
       "invalid URL \"http://user:secret@127.0.0.1/\": credentials (user@host) are not "
       "supported"},
      {"http:///drain", "invalid URL \"http:///drain\": missing host"},
      {"http://:8080/drain", "invalid URL \"http://:8080/drain\": missing host"},
      {"http://127.0.0.1:/drain",
       "invalid URL \"http://127.0.0.1:/drain\": missing port after ':'"},
      {"http://127.0.0.1:0/",
       "invalid URL \"http://127.0.0.1:0/\": port 0 is out of range (1-65535)"},
      {"http://127.0.0.1:65536/",
       "invalid URL \"http://127.0.0.1:65536/\": port 65536 is out of range (1-65535)"},
      {"http://127.0.0.1:99999999999999999999/",
       "invalid URL \"http://127.0.0.1:99999999999999999999/\": port 99999999999999999999 is out "
       "of range (1-65535)"},
      {"http://127.0.0.1:80a/",
       "invalid URL \"http://127.0.0.1:80a/\": port \"80a\" is not a number"},
      {"http://127.0.0.1:-1/", "invalid URL \"http://127.0.0.1:-1/\": port \"-1\" is not a number"},
      {"http://127.0.0.1:8080/drain#now",
       "invalid URL \"http://127.0.0.1:8080/drain#now\": fragments (#...) are not supported"},
      {"http://::1:8080/",
       "invalid URL \"http://::1:8080/\": IPv6 addresses must be written in brackets, e.g. "
       "[::1]:8080"},
      {"http://[::1:8080/", "invalid URL \"http://[::1:8080/\": missing ']' after IPv6 address"},
      {"http://[zz]:80/", "invalid URL \"http://[zz]:80/\": \"zz\" is not an IPv6 address"},
      {"http://[::1]x/", "invalid URL \"http://[::1]x/\": unexpected \"x\" after ']'"},
      {"http://[]:80/", "invalid URL \"http://[]:80/\": missing host"},
      {"http://exa$mple/",
       "invalid URL \"http://exa$mple/\": host \"exa$mple\" is not a valid name"},
      // Names are never resolved: no resolver in the static binary, no deadline on getaddrinfo.
      {"http://app.default.svc:9000/healthz",
       "invalid URL \"http://app.default.svc:9000/healthz\": host \"app.default.svc\" must be an "
       "IP address or localhost (lastcall does not resolve names: the app runs in the same pod, "
       "use 127.0.0.1)"},
      {"http://app/",
       "invalid URL \"http://app/\": host \"app\" must be an IP address or localhost (lastcall "
       "does not resolve names: the app runs in the same pod, use 127.0.0.1)"},
      {"http://127.1/",
       "invalid URL \"http://127.1/\": host \"127.1\" must be an IP address or localhost "
       "(lastcall does not resolve names: the app runs in the same pod, use 127.0.0.1)"},
      {"http://127.0.0.1/a b",
       "invalid URL \"http://127.0.0.1/a b\": contains a space or control character"},
      {std::string("http://127.0.0.1/\r\nX: y"),
       "invalid URL \"http://127.0.0.1/\\x0d\\x0aX: y\": contains a space or control character"},
      {"unix://relative.sock",
       "invalid URL \"unix://relative.sock\": socket path \"relative.sock\" must be absolute"},
      {"unix://", "invalid URL \"unix://\": missing socket path"},
      {"unix:///var/run/../etc/x.sock",
       "invalid URL \"unix:///var/run/../etc/x.sock\": socket path \"/var/run/../etc/x.sock\" "
       "must not contain '..'"},
      {"unix:///var/run/",
       "invalid URL \"unix:///var/run/\": socket path \"/var/run/\" names a directory"},
      {"unix:///" + std::string(107, 'a'),
       "invalid URL \"unix:///" + std::string(107, 'a') +
           "\": socket path is 108 bytes long, the limit is 107"},
  };
  for (const auto& one_case : cases) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& text = one_case.first;
    const auto& expected = one_case.second;
    CAPTURE(text);
    std::string error;
    CHECK_FALSE(ParseUrl(text, &error).has_value());
    CHECK(error == expected);
  }
}

TEST_CASE("ParseUrl accepts a socket path of exactly 107 bytes and one with dots in names") {
  std::string error;
  std::string path = "/" + std::string(106, 'a');
  std::optional<Url> url = ParseUrl("unix://" + path, &error);
  REQUIRE(url.has_value());
  CHECK(url->socket_path == path);
  CHECK(ParseUrl("unix:///run/..hidden/x.sock", &error).has_value());
  CHECK(ParseUrl("unix:///run/./x.sock", &error).has_value());
}

TEST_CASE("ParseUrl rejects a NUL byte") {
  std::string error;
  CHECK_FALSE(ParseUrl(std::string("unix:///tmp/a\0b", 15), &error).has_value());
  CHECK(error == "invalid URL \"unix:///tmp/a\\x00b\": contains a space or control character");
}

TEST_CASE("Url::ToString round-trips through ParseUrl") {
  for (const char* text :
       {"http://127.0.0.1:8080/drain", "http://[::1]:9901/readyz?x=1", "unix:///run/c.sock"}) {
    std::string error;
    std::optional<Url> url = ParseUrl(text, &error);
    REQUIRE(url.has_value());
    CHECK(url->ToString() == text);
  }
  std::string error;
  CHECK(ParseUrl("http://localhost/", &error)->ToString() == "http://localhost:80/");
  Url control = *ParseUrl("unix:///run/c.sock", &error);
  control.target = "/prestop";
  CHECK(control.ToString() == "unix:///run/c.sock /prestop");
}

TEST_CASE("ParseListenAddress accepts the documented forms") {
  struct Case {
    std::string text;
    bool is_unix;
    std::string host;
    uint16_t port;
    std::string socket_path;
    bool loopback;
    std::string canonical;
  };
  const Case cases[] = {
      {":9901", false, "", 9901, "", false, ":9901"},
      {"0.0.0.0:9901", false, "0.0.0.0", 9901, "", false, "0.0.0.0:9901"},
      {"127.0.0.1:9902", false, "127.0.0.1", 9902, "", true, "127.0.0.1:9902"},
      {"127.1.2.3:9902", false, "127.1.2.3", 9902, "", true, "127.1.2.3:9902"},
      {"10.0.0.7:9902", false, "10.0.0.7", 9902, "", false, "10.0.0.7:9902"},
      {"[::1]:9901", false, "::1", 9901, "", true, "[::1]:9901"},
      {"[::]:9901", false, "::", 9901, "", false, "[::]:9901"},
      {"[::ffff:127.0.0.1]:9901", false, "::ffff:127.0.0.1", 9901, "", true,
       "[::ffff:127.0.0.1]:9901"},
      {"localhost:9901", false, "localhost", 9901, "", true, "localhost:9901"},
      {"127.0.0.1:0", false, "127.0.0.1", 0, "", true, "127.0.0.1:0"},
      {"unix:///var/run/lastcall/control.sock", true, "", 0, "/var/run/lastcall/control.sock", true,
       "unix:///var/run/lastcall/control.sock"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::string error;
    std::optional<ListenAddress> address = ParseListenAddress(c.text, &error);
    REQUIRE(address.has_value());
    CHECK(address->is_unix == c.is_unix);
    CHECK(address->host == c.host);
    CHECK(address->port == c.port);
    CHECK(address->socket_path == c.socket_path);
    CHECK(address->IsLoopback() == c.loopback);
    CHECK(address->ToString() == c.canonical);
  }
}

TEST_CASE("ParseListenAddress rejects bad addresses with exact messages") {
  const std::pair<std::string, std::string> cases[] = {
      {"", "invalid listen address \"\": empty (expected HOST:PORT, :PORT or unix:///path)"},
      {"9901",
       "invalid listen address \"9901\": missing port (expected HOST:PORT, :PORT or "
       "unix:///path)"},
      {"127.0.0.1",
       "invalid listen address \"127.0.0.1\": missing port (expected HOST:PORT, :PORT or "
       "unix:///path)"},
      {":", "invalid listen address \":\": missing port after ':'"},
      {":65536", "invalid listen address \":65536\": port 65536 is out of range (0-65535)"},
      {":99x", "invalid listen address \":99x\": port \"99x\" is not a number"},
      {"example.com:9901",
       "invalid listen address \"example.com:9901\": host \"example.com\" must be an IP address "
       "or localhost"},
      {"::1:9901",
       "invalid listen address \"::1:9901\": IPv6 addresses must be written in brackets, e.g. "
       "[::1]:8080"},
      {"[::1]",
       "invalid listen address \"[::1]\": missing port (expected HOST:PORT, :PORT or "
       "unix:///path)"},
      {"http://127.0.0.1:9901",
       "invalid listen address \"http://127.0.0.1:9901\": only unix:// may carry a scheme "
       "(expected HOST:PORT, :PORT or unix:///path)"},
      {"unix://run/x.sock",
       "invalid listen address \"unix://run/x.sock\": socket path \"run/x.sock\" must be "
       "absolute"},
      {"unix:///run/../x.sock",
       "invalid listen address \"unix:///run/../x.sock\": socket path \"/run/../x.sock\" must "
       "not contain '..'"},
      {"unix:///run/..",
       "invalid listen address \"unix:///run/..\": socket path \"/run/..\" must "
       "not contain '..'"},
      {"unix:///" + std::string(200, 'x'),
       "invalid listen address \"unix:///" + std::string(200, 'x') +
           "\": socket path is 201 bytes long, the limit is 107"},
      {" :9901", "invalid listen address \" :9901\": contains a space or control character"},
  };
  for (const auto& one_case : cases) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& text = one_case.first;
    const auto& expected = one_case.second;
    CAPTURE(text);
    std::string error;
    CHECK_FALSE(ParseListenAddress(text, &error).has_value());
    CHECK(error == expected);
  }
}

}  // namespace
}  // namespace lastcall

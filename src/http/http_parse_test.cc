#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <string>

#include "http/http_server.h"
#include "test_timing.h"

namespace lastcall {
namespace {

constexpr size_t kHeaderLimit = 8 * 1024;
constexpr size_t kBodyLimit = 4 * 1024;

ParsedRequest Parse(std::string_view data) {
  return ParseHttpRequest(data, kHeaderLimit, kBodyLimit);
}

TEST_CASE("ParseHttpRequest parses a complete request") {
  std::string data =
      "POST /pre%2Fstop/x?wait=false&reason=kube+let&empty=&flag&wait=true HTTP/1.1\r\n"
      "Host: 127.0.0.1:9902\r\n"
      "X-Token:   secret  \r\n"
      "Accept: a\r\n"
      "accept: b\r\n"
      "Content-Length: 5\r\n"
      "\r\n"
      "hello";
  ParsedRequest parsed = Parse(data);
  REQUIRE(parsed.status == ParseStatus::kComplete);
  CHECK(parsed.consumed == data.size());
  CHECK(parsed.keep_alive);
  const ServerRequest& request = parsed.request;
  CHECK(request.method == "POST");
  CHECK(request.path == "/pre/stop/x");
  CHECK(request.query.at("wait") == "false");  // first occurrence wins
  CHECK(request.query.at("reason") == "kube let");
  CHECK(request.query.at("empty").empty());
  CHECK(request.query.at("flag").empty());
  CHECK(request.headers.at("host") == "127.0.0.1:9902");
  CHECK(request.headers.at("x-token") == "secret");
  CHECK(request.headers.at("accept") == "a,b");
  CHECK(request.body == "hello");
  CHECK(request.peer.empty());
}

TEST_CASE("ParseHttpRequest: keep-alive follows the version and Connection") {
  CHECK(Parse("GET / HTTP/1.1\r\n\r\n").keep_alive);
  CHECK_FALSE(Parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
  CHECK_FALSE(Parse("GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n").keep_alive);
  CHECK_FALSE(Parse("GET / HTTP/1.0\r\n\r\n").keep_alive);
  CHECK(Parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
}

TEST_CASE("ParseHttpRequest skips leading blank lines but wants CRLF line ends") {
  std::string data = "\r\n\nGET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
  ParsedRequest parsed = Parse(data);
  REQUIRE(parsed.status == ParseStatus::kComplete);
  CHECK(parsed.request.path == "/livez");
  CHECK(parsed.request.headers.at("host") == "x");
  CHECK(parsed.consumed == data.size());
  for (const char* bare : {"GET /livez HTTP/1.1\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nA: b\n\r\n",
                           "GET / HTTP/1.1\r\nHost: x\r\n\n"}) {
    CAPTURE(bare);
    parsed = Parse(bare);
    CHECK(parsed.status == ParseStatus::kBad);
    CHECK(parsed.error == "a line ends in LF without CR");
  }
}

TEST_CASE("ParseHttpRequest routes an absolute-form target by its path (RFC 9112 3.2.2)") {
  ParsedRequest parsed =
      Parse("GET http://10.0.0.7:9901/readyz?verbose=1 HTTP/1.1\r\nHost: elsewhere\r\n\r\n");
  REQUIRE(parsed.status == ParseStatus::kComplete);
  CHECK(parsed.request.target == "http://10.0.0.7:9901/readyz?verbose=1");
  CHECK(parsed.request.path == "/readyz");
  CHECK(parsed.request.query.at("verbose") == "1");
  CHECK(parsed.request.headers.at("host") == "elsewhere");  // as received; not used for routing
  CHECK(Parse("GET HTTPS://[::1]:9901 HTTP/1.1\r\n\r\n").request.path == "/");
  CHECK(Parse("GET http://h?x=1 HTTP/1.1\r\n\r\n").request.query.at("x") == "1");
  for (const char* target :
       {"*", "h:80", "http://", "http:///x", "http://user@h/x", "ftp://h/x", "http:/x", "readyz"}) {
    CAPTURE(target);
    parsed = Parse("GET " + std::string(target) + " HTTP/1.1\r\n\r\n");
    CHECK(parsed.status == ParseStatus::kBad);
    CHECK(parsed.error == "the request target must be a path (/readyz) or an absolute http URL");
  }
}

TEST_CASE("ParseHttpRequest: Expect: 100-continue on HTTP/1.1, 417 for other expectations") {
  ParsedRequest parsed =
      Parse("POST /prestop HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n");
  CHECK(parsed.status == ParseStatus::kIncomplete);
  CHECK(parsed.expect_continue);
  CHECK(parsed.complete_at > 0);
  parsed = Parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9999\r\n\r\n");
  CHECK(parsed.status == ParseStatus::kBodyTooLarge);  // the final answer instead of 100
  CHECK_FALSE(Parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
  CHECK(Parse("POST / HTTP/1.0\r\nExpect: teapot\r\n\r\n").status == ParseStatus::kComplete);
  parsed = Parse("POST / HTTP/1.1\r\nExpect: teapot\r\n\r\n");
  CHECK(parsed.status == ParseStatus::kExpectationFailed);
  CHECK(parsed.error == "unknown expectation teapot");
}

TEST_CASE("ParseHttpRequest answers 501 to methods it does not know") {
  for (const char* method : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"}) {
    CAPTURE(method);
    CHECK(Parse(std::string(method) + " / HTTP/1.1\r\n\r\n").status == ParseStatus::kComplete);
  }
  ParsedRequest parsed = Parse("BREW / HTTP/1.1\r\n\r\n");
  CHECK(parsed.status == ParseStatus::kNotImplemented);
  CHECK(parsed.error == "method BREW is not known");
  CHECK(Parse("get / HTTP/1.1\r\n\r\n").status == ParseStatus::kNotImplemented);
  CHECK(Parse("CONNECT /x HTTP/1.1\r\n\r\n").status == ParseStatus::kNotImplemented);
}

TEST_CASE("ParseHttpRequest is incomplete at every split point before the end") {
  std::string data =
      "POST /prestop?wait=true HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world";
  for (size_t cut = 0; cut < data.size(); ++cut) {
    CAPTURE(cut);
    ParsedRequest parsed = Parse(std::string_view(data).substr(0, cut));
    REQUIRE(parsed.status == ParseStatus::kIncomplete);
    CHECK(parsed.consumed == 0);
  }
  ParsedRequest parsed = Parse(data);
  REQUIRE(parsed.status == ParseStatus::kComplete);
  CHECK(parsed.request.body == "hello world");
}

TEST_CASE("ParseHttpRequest tells where an incomplete body will end") {
  std::string head = "PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n";
  ParsedRequest parsed = Parse(head + "abc");
  REQUIRE(parsed.status == ParseStatus::kIncomplete);
  CHECK(parsed.complete_at == head.size() + 10);
  CHECK(parsed.request.headers.at("content-length") == "10");
  CHECK(Parse("PUT /x HTTP/1.1\r\n").complete_at == 0);
}

TEST_CASE("ParseHttpRequest consumes one request of a pipelined stream") {
  std::string first = "GET /a HTTP/1.1\r\n\r\n";
  std::string second = "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
  std::string third = "GET /c HTT";
  std::string stream = first + second + third;
  ParsedRequest parsed = Parse(stream);
  REQUIRE(parsed.status == ParseStatus::kComplete);
  CHECK(parsed.request.path == "/a");
  CHECK(parsed.consumed == first.size());
  std::string_view rest = std::string_view(stream).substr(parsed.consumed);
  parsed = Parse(rest);
  REQUIRE(parsed.status == ParseStatus::kComplete);
  CHECK(parsed.request.path == "/b");
  CHECK(parsed.request.body == "ok");
  CHECK(parsed.consumed == second.size());
  CHECK(Parse(rest.substr(parsed.consumed)).status == ParseStatus::kIncomplete);
}

TEST_CASE("ParseHttpRequest enforces the header and body limits") {
  std::string big_header =
      "GET / HTTP/1.1\r\nX-Big: " + std::string(kHeaderLimit, 'a') + "\r\n\r\n";
  CHECK(Parse(big_header).status == ParseStatus::kHeadersTooLarge);
  // Too large is known before the end of the headers arrives.
  CHECK(Parse(big_header.substr(0, kHeaderLimit)).status == ParseStatus::kHeadersTooLarge);
  CHECK(Parse(big_header.substr(0, kHeaderLimit - 1)).status == ParseStatus::kIncomplete);
  // A request line without end counts against the same limit.
  CHECK(Parse("GET /" + std::string(kHeaderLimit, 'a')).status == ParseStatus::kHeadersTooLarge);

  // Exactly at the limit is fine.
  std::string head = "GET / HTTP/1.1\r\nX: ";
  std::string exact = head + std::string(kHeaderLimit - head.size() - 4, 'b') + "\r\n\r\n";
  REQUIRE(exact.size() == kHeaderLimit);
  CHECK(Parse(exact).status == ParseStatus::kComplete);
  CHECK(Parse(head + "b" + exact.substr(head.size())).status == ParseStatus::kHeadersTooLarge);

  CHECK(Parse("POST / HTTP/1.1\r\nContent-Length: 4097\r\n\r\n").status ==
        ParseStatus::kBodyTooLarge);
  CHECK(Parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n").status ==
        ParseStatus::kBodyTooLarge);
  CHECK(Parse("POST / HTTP/1.1\r\nContent-Length: 4096\r\n\r\n" + std::string(4096, 'x')).status ==
        ParseStatus::kComplete);
}

TEST_CASE("ParseHttpRequest rejects bad requests with a reason") {
  const std::pair<std::string, std::string> cases[] = {
      {"GET /\r\n\r\n", "the request line must be METHOD TARGET HTTP/1.x"},
      {"GET  / HTTP/1.1\r\n\r\n", "the request line must be METHOD TARGET HTTP/1.x"},
      {"GET / HTTP/1.1 extra\r\n\r\n", "the request line must be METHOD TARGET HTTP/1.x"},
      {"G(T / HTTP/1.1\r\n\r\n", "bad method"},
      {"GET readyz HTTP/1.1\r\n\r\n",
       "the request target must be a path (/readyz) or an absolute http URL"},
      {"GET /a\x01 HTTP/1.1\r\n\r\n", "the request target contains a control character"},
      {"GET / HTTP/2.0\r\n\r\n", "unsupported protocol version (only HTTP/1.0 and HTTP/1.1)"},
      {"GET / http/1.1\r\n\r\n", "unsupported protocol version (only HTTP/1.0 and HTTP/1.1)"},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", "bad header line"},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "bad header line"},
      {"GET / HTTP/1.1\r\n: x\r\n\r\n", "bad header line"},
      {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "obsolete header line folding"},
      {"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", "header a contains a control character"},
      {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", "header a contains a control character"},
      {"GET /%zz HTTP/1.1\r\n\r\n", "bad percent-encoding in the path"},
      {"GET /%2 HTTP/1.1\r\n\r\n", "bad percent-encoding in the path"},
      {"GET /%00 HTTP/1.1\r\n\r\n", "bad percent-encoding in the path"},
      {"GET /?a=%g0 HTTP/1.1\r\n\r\n", "bad percent-encoding in the query"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       "Transfer-Encoding is not supported; send Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\nx", "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       "repeated Content-Length"},
      // RFC 9110 8.6 allows identical copies to count as one; strict parsers do not.
      {"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
       "repeated Content-Length"},
  };
  for (const auto& one_case : cases) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& data = one_case.first;
    const auto& reason = one_case.second;
    CAPTURE(data);
    ParsedRequest parsed = Parse(data);
    CHECK(parsed.status == ParseStatus::kBad);
    CHECK(parsed.error == reason);
  }
}

TEST_CASE("ParseHttpRequest rejects binary garbage before the first line ends") {
  // The start of a TLS ClientHello sent to the plain-text port.
  std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  ParsedRequest parsed = Parse(hello);
  CHECK(parsed.status == ParseStatus::kBad);
  CHECK(parsed.error == "bad method");
  CHECK(Parse("GE").status == ParseStatus::kIncomplete);
  CHECK(Parse("GET /readyz HT").status == ParseStatus::kIncomplete);
}

TEST_CASE("StatusReason names the statuses lastcall uses") {
  CHECK(StatusReason(200) == "OK");
  CHECK(StatusReason(202) == "Accepted");
  CHECK(StatusReason(408) == "Request Timeout");
  CHECK(StatusReason(413) == "Content Too Large");
  CHECK(StatusReason(417) == "Expectation Failed");
  CHECK(StatusReason(431) == "Request Header Fields Too Large");
  CHECK(StatusReason(503) == "Service Unavailable");
  CHECK(StatusReason(504) == "Gateway Timeout");
  CHECK(StatusReason(299) == "Unknown");
}

TEST_CASE("ParseHttpRequest survives random bytes and stays linear") {
  std::mt19937 random(20240601);
  const char kAlphabet[] = "GET /?=&%:\r\n aZ09\x00\xff\t-Content-Length";
  const std::string alphabet(kAlphabet, sizeof(kAlphabet) - 1);
  for (int round = 0; round < 3000; ++round) {
    std::string data(random() % 300, '\0');
    for (char& c : data) c = alphabet[random() % alphabet.size()];
    if (round % 3 == 0) data = "GET / HTTP/1.1\r\n" + data;
    ParsedRequest parsed = ParseHttpRequest(data, 256, 64);
    CHECK(parsed.consumed <= data.size());
  }
  // Big inputs of the worst shapes each parse in far less than a millisecond per kilobyte.
  const std::string worst[] = {
      std::string(1 << 20, '\n'),
      "GET / HTTP/1.1\r\n" + std::string(1 << 20, 'a'),
      "GET / HTTP/1.1\r\nA: b\r\n" + std::string(1 << 20, ':'),
      "GET /" + std::string(1 << 20, '%') + " HTTP/1.1\r\n\r\n",
  };
  for (const std::string& data : worst) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) ParseHttpRequest(data, 1 << 21, 1 << 20);
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed < std::chrono::seconds(1) * testing::kSanitizerSlowdown);
  }
}

}  // namespace
}  // namespace lastcall

// lastcall's request parser against llhttp (Node's HTTP/1.1 parser, strict mode) as an
// independent oracle: on the fuzz corpus, on mutations of it, and on a table of RFC 9112 cases,
// lastcall never accepts a request that llhttp rejects, and where both accept they agree on the
// method, the target, the headers and the body.
//
// Deliberate stricter rejections (llhttp accepts, lastcall refuses; docs/http.md lists them too):
// | input                                  | lastcall | why                                      |
// |----------------------------------------|----------|------------------------------------------|
// | Transfer-Encoding (chunked or other)   | 400      | one framing only: Content-Length         |
// | CONNECT, methods beyond RFC 9110's and | 501      | nothing lastcall serves needs them; not  |
// |   PATCH                                |          | a proxy (llhttp tunnels CONNECT's body)  |
// | lower-case or unknown method tokens    | 501      | methods are case-sensitive (RFC 9110 9.1)|
// | asterisk-form (OPTIONS *)              | 400      | no server-wide OPTIONS                   |
// | absolute-form with userinfo, no host,  | 400      | RFC 9110 4.2.1/4.2.4 call them invalid   |
// |   or a scheme other than http(s)       |          |                                          |
// | HTTP/0.9 and HTTP/2.0 in a request line| 400      | only HTTP/1.0 and HTTP/1.1 are spoken    |
// | two spaces between request-line parts  | 400      | RFC 9112 3: exactly one SP               |
// | control characters (TAB) in the target | 400      | never part of a URI                      |
// | bad %-escapes or %00 in the target     | 400      | handlers get decoded paths, never a NUL  |
// | obsolete line folding                  | 400      | RFC 9112 5.2 allows rejecting it         |
// | empty or non-token header names        | 400      | "A : b", ": b"                           |
// | a bare LF ending the request line or   | 400      | llhttp accepts it there but not after a  |
// |   the header block                     |          | header value: one rule, CRLF everywhere  |
// | TAB before a Content-Length value      | 400      | llhttp refuses one after it: no TAB at   |
// |                                        |          | all around the number that frames a body |
// | Expect other than 100-continue (1.1)   | 417      | RFC 9110 10.1.1                          |
// | headers over 8 KiB, bodies over 4 KiB  | 431, 413 | limits of a probe/control endpoint       |
#include <dirent.h>
#include <doctest/doctest.h>

extern "C" {
#include <llhttp.h>
}

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/text.h"
#include "http/http_server.h"

namespace lastcall::test {
namespace {

constexpr size_t kMaxHeaderBytes = 8 * 1024;  // HttpServerOptions' defaults
constexpr size_t kMaxBodyBytes = 4 * 1024;

// What llhttp saw of the first message in the bytes.
struct LlhttpMessage {
  bool complete = false;  // on_message_complete ran, with no error before it
  std::string error;      // llhttp's errno name and reason when it rejected the bytes
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool in_value = false;  // the last header callback was a value
};

int OnUrl(llhttp_t* parser, const char* at, size_t length) {
  static_cast<LlhttpMessage*>(parser->data)->url.append(at, length);
  return 0;
}
int OnHeaderField(llhttp_t* parser, const char* at, size_t length) {
  auto* message = static_cast<LlhttpMessage*>(parser->data);
  if (message->headers.empty() || message->in_value) message->headers.emplace_back();
  message->in_value = false;
  message->headers.back().first.append(at, length);
  return 0;
}
int OnHeaderValue(llhttp_t* parser, const char* at, size_t length) {
  auto* message = static_cast<LlhttpMessage*>(parser->data);
  message->in_value = true;
  message->headers.back().second.append(at, length);
  return 0;
}
int OnHeadersComplete(llhttp_t* parser) {
  static_cast<LlhttpMessage*>(parser->data)->method =
      llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(parser)));
  return 0;
}
int OnBody(llhttp_t* parser, const char* at, size_t length) {
  static_cast<LlhttpMessage*>(parser->data)->body.append(at, length);
  return 0;
}
int OnMessageComplete(llhttp_t* parser) {
  static_cast<LlhttpMessage*>(parser->data)->complete = true;
  return HPE_PAUSED;  // the first message only
}

// Runs llhttp in its default (strict) mode: no lenient flag is set.
LlhttpMessage ParseWithLlhttp(std::string_view bytes) {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_url = OnUrl;
  settings.on_header_field = OnHeaderField;
  settings.on_header_value = OnHeaderValue;
  settings.on_headers_complete = OnHeadersComplete;
  settings.on_body = OnBody;
  settings.on_message_complete = OnMessageComplete;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  LlhttpMessage message;
  parser.data = &message;
  const llhttp_errno_t error = llhttp_execute(&parser, bytes.data(), bytes.size());
  // HPE_PAUSED_UPGRADE: a complete message with "Connection: upgrade"; what follows is not HTTP.
  if (error != HPE_OK && error != HPE_PAUSED && error != HPE_PAUSED_UPGRADE) {
    message.complete = false;
    message.error = std::string(llhttp_errno_name(error)) + ": " + llhttp_get_error_reason(&parser);
  }
  return message;
}

// A printable form of test input for failure messages.
std::string Escaped(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (byte < 0x20 || byte >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    } else {
      out += c;
    }
  }
  return out;
}

// The headers as lastcall's parser presents them: names lower-cased, optional whitespace
// around values dropped (RFC 9110 5.5: it is not part of the value; llhttp keeps trailing
// whitespace), repeated names joined with ",".
std::map<std::string, std::string> Normalized(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : headers) {
    auto [it, inserted] = out.emplace(ToLowerAscii(name), TrimSpace(value));
    if (!inserted) it->second += "," + std::string(TrimSpace(value));
  }
  return out;
}

struct Verdicts {
  int lastcall_accepted = 0;
  int both_rejected = 0;
  int stricter = 0;  // llhttp accepted what lastcall refused
};

// Checks every request lastcall completes in `input` (a pipelined stream) against llhttp on the
// same bytes. Returns whether lastcall accepted the first request.
bool Compare(std::string_view input, Verdicts* verdicts) {
  size_t offset = 0;
  bool first_accepted = false;
  while (offset < input.size()) {
    const std::string_view rest = input.substr(offset);
    const ParsedRequest parsed = ParseHttpRequest(rest, kMaxHeaderBytes, kMaxBodyBytes);
    if (parsed.status == ParseStatus::kIncomplete) break;
    if (parsed.status != ParseStatus::kComplete) {
      if (offset == 0) {
        const LlhttpMessage oracle = ParseWithLlhttp(rest);
        ++(oracle.complete ? verdicts->stricter : verdicts->both_rejected);
      }
      break;
    }
    if (offset == 0) first_accepted = true;
    ++verdicts->lastcall_accepted;
    const std::string_view bytes = rest.substr(0, parsed.consumed);
    const LlhttpMessage oracle = ParseWithLlhttp(bytes);
    INFO("request: ", Escaped(bytes));
    INFO("llhttp: ", oracle.error);
    REQUIRE_MESSAGE(oracle.complete, "lastcall accepted a request strict llhttp rejects");
    CHECK(oracle.method == parsed.request.method);
    CHECK(oracle.url == parsed.request.target);
    CHECK(Normalized(oracle.headers) ==
          std::map<std::string, std::string>(parsed.request.headers.begin(),
                                             parsed.request.headers.end()));
    CHECK(oracle.body == parsed.request.body);
    offset += parsed.consumed;
  }
  return first_accepted;
}

std::vector<std::string> CorpusInputs() {
  const std::string dir = std::string(LASTCALL_SOURCE_DIR) + "/fuzz/corpus/http_request";
  std::vector<std::string> inputs;
  DIR* listing = opendir(dir.c_str());
  REQUIRE_MESSAGE(listing != nullptr, "cannot read ", dir);
  while (const dirent* entry = readdir(listing)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream file(dir + "/" + entry->d_name, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    inputs.push_back(bytes.str());
  }
  closedir(listing);
  return inputs;
}

enum class Expect { kBothAccept, kBothReject, kStricter };
struct Case {
  const char* what;
  std::string bytes;
  Expect expect;
};

// RFC 9112 cases: what both accept, what both reject, and lastcall's deliberate extra refusals
// (the table at the top of this file).
std::vector<Case> Rfc9112Cases() {
  using std::string;
  return {
      {"origin-form GET", "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", Expect::kBothAccept},
      {"kube-probe",
       "GET /readyz HTTP/1.1\r\nHost: 10.0.0.7:9901\r\nUser-Agent: kube-probe/1.31\r\n"
       "Accept: */*\r\nConnection: close\r\n\r\n",
       Expect::kBothAccept},
      {"query and fragment", "GET /prestop?wait=false#x HTTP/1.1\r\n\r\n", Expect::kBothAccept},
      {"HTTP/1.0", "GET /livez HTTP/1.0\r\n\r\n", Expect::kBothAccept},
      {"POST with Content-Length", "POST /prestop HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
       Expect::kBothAccept},
      {"Content-Length with leading zeros", "POST / HTTP/1.1\r\nContent-Length: 002\r\n\r\nok",
       Expect::kBothAccept},
      {"Content-Length 0", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Expect::kBothAccept},
      {"leading CRLF (RFC 9112 2.2)", "\r\nGET / HTTP/1.1\r\n\r\n", Expect::kBothAccept},
      {"repeated header", "GET / HTTP/1.1\r\nAccept: a\r\nAccept: b\r\n\r\n", Expect::kBothAccept},
      {"OWS around a value", "GET / HTTP/1.1\r\nA: \t b c \t\r\n\r\n", Expect::kBothAccept},
      {"empty value", "GET / HTTP/1.1\r\nA:\r\n\r\n", Expect::kBothAccept},
      {"obs-text in a value", "GET / HTTP/1.1\r\nA: caf\xc3\xa9\r\n\r\n", Expect::kBothAccept},
      {"absolute-form (RFC 9112 3.2.2)", "GET http://10.0.0.7:9901/readyz HTTP/1.1\r\n\r\n",
       Expect::kBothAccept},
      {"absolute-form without a path", "GET http://h HTTP/1.1\r\n\r\n", Expect::kBothAccept},
      {"absolute-form, upper-case scheme", "GET HTTP://[::1]:9901/livez HTTP/1.1\r\n\r\n",
       Expect::kBothAccept},
      {"Expect: 100-continue",
       "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
       Expect::kBothAccept},
      {"pipelined", "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", Expect::kBothAccept},
      {"every known method", "PATCH / HTTP/1.1\r\n\r\n", Expect::kBothAccept},

      {"HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", Expect::kBothReject},
      {"lower-case protocol name", "GET / http/1.1\r\n\r\n", Expect::kBothReject},
      {"space after the version", "GET / HTTP/1.1 \r\n\r\n", Expect::kBothReject},
      {"CR without LF", "GET / HTTP/1.1\r\r\n\r\n", Expect::kBothReject},
      {"bare LF after a value", "GET / HTTP/1.1\r\nA: b\n\r\n", Expect::kBothReject},
      {"CR inside a value", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", Expect::kBothReject},
      {"NUL inside a value", string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 26), Expect::kBothReject},
      {"DEL inside a value", "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", Expect::kBothReject},
      {"control character in the target", "GET /\x01 HTTP/1.1\r\n\r\n", Expect::kBothReject},
      {"two Content-Length (smuggling)",
       "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", Expect::kBothReject},
      {"a Content-Length list", "POST / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\nx",
       Expect::kBothReject},
      {"signed Content-Length", "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
       Expect::kBothReject},
      {"TAB after Content-Length's value", "POST / HTTP/1.1\r\nContent-Length: 1\t\r\n\r\nx",
       Expect::kBothReject},
      {"empty Content-Length", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", Expect::kBothReject},
      {"unknown method", "BREW / HTTP/1.1\r\n\r\n", Expect::kBothReject},
      {"lower-case method", "get / HTTP/1.1\r\n\r\n", Expect::kBothReject},
      {"malformed absolute-form", "GET http:/x HTTP/1.1\r\n\r\n", Expect::kBothReject},
      {"unknown Transfer-Encoding", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
       Expect::kBothReject},

      {"chunked body", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       Expect::kStricter},
      {"WebDAV method", "PROPFIND / HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"asterisk-form", "OPTIONS * HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"authority-form", "CONNECT h:443 HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"CONNECT", "CONNECT /x HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"userinfo in absolute-form", "GET http://u@h/ HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"absolute-form without a host", "GET http:///x HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"absolute-form, other scheme", "GET ftp://h/x HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"HTTP/0.9 request line", "GET / HTTP/0.9\r\n\r\n", Expect::kStricter},
      {"HTTP/2.0 request line", "GET / HTTP/2.0\r\n\r\n", Expect::kStricter},
      {"two spaces", "GET  / HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"TAB in the target", "GET /\t HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"bad %-escape", "GET /%zz HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"%00 in the target", "GET /%00 HTTP/1.1\r\n\r\n", Expect::kStricter},
      {"obs-fold", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", Expect::kStricter},
      {"space before the colon", "GET / HTTP/1.1\r\nA : b\r\n\r\n", Expect::kStricter},
      {"empty header name", "GET / HTTP/1.1\r\n: b\r\n\r\n", Expect::kStricter},
      {"bare LF line ends", "GET / HTTP/1.1\n\n", Expect::kStricter},
      {"TAB before Content-Length's value", "POST / HTTP/1.1\r\nContent-Length:\t1\r\n\r\nx",
       Expect::kStricter},
      {"unknown expectation", "GET / HTTP/1.1\r\nExpect: teapot\r\n\r\n", Expect::kStricter},
      {"body over 4 KiB", "POST / HTTP/1.1\r\nContent-Length: 4097\r\n\r\n" + string(4097, 'x'),
       Expect::kStricter},
      {"headers over 8 KiB", "GET / HTTP/1.1\r\nA: " + string(9000, 'a') + "\r\n\r\n",
       Expect::kStricter},
  };
}

TEST_CASE("llhttp differential: the RFC 9112 table") {
  Verdicts verdicts;
  for (const Case& c : Rfc9112Cases()) {
    const std::string what = c.what;
    CAPTURE(what);
    const ParsedRequest parsed = ParseHttpRequest(c.bytes, kMaxHeaderBytes, kMaxBodyBytes);
    const LlhttpMessage oracle = ParseWithLlhttp(c.bytes);
    const bool lastcall_accepts = Compare(c.bytes, &verdicts);
    INFO("lastcall: ", parsed.error, "; llhttp: ", oracle.error);
    switch (c.expect) {
      case Expect::kBothAccept:
        CHECK(lastcall_accepts);
        CHECK(oracle.complete);
        break;
      case Expect::kBothReject:
        CHECK_FALSE(lastcall_accepts);
        CHECK_FALSE(oracle.complete);
        break;
      case Expect::kStricter:
        CHECK_FALSE(lastcall_accepts);
        CHECK(oracle.complete);  // else the row belongs to kBothReject
        break;
    }
  }
}

// The checked-in corpus, and every variant of it with one byte replaced by one that moves a
// parser between states, deleted, or doubled, then random multi-byte edits: about 120 000
// variants in well under a second.
TEST_CASE("llhttp differential: the fuzz corpus and its one-byte mutations") {
  std::vector<std::string> inputs = CorpusInputs();
  REQUIRE(inputs.size() >= 4);
  for (const Case& c : Rfc9112Cases()) {
    if (c.bytes.size() <= 512) inputs.push_back(c.bytes);
  }
  const std::string_view kBytes(
      " \t\r\n:,/?#%@*\x00\x01\x7f\x80\xff"
      "a0A-",
      21);
  Verdicts verdicts;
  size_t variants = 0;
  for (const std::string& input : inputs) {
    Compare(input, &verdicts);
    for (size_t at = 0; at < input.size(); ++at) {
      for (char c : kBytes) {
        std::string variant = input;
        variant[at] = c;
        Compare(variant, &verdicts);
      }
      Compare(std::string(input).erase(at, 1), &verdicts);
      Compare(std::string(input).insert(at, 1, input[at]), &verdicts);
      variants += kBytes.size() + 2;
    }
  }
  // Then a few mutations at once, at random places (a fixed seed: the same run every time).
  std::mt19937 random(9112);
  for (const std::string& input : inputs) {
    for (int round = 0; round < 1000 && !input.empty(); ++round) {
      std::string variant = input;
      for (uint32_t edits = 1 + random() % 4; edits > 0 && !variant.empty(); --edits) {
        const size_t at = random() % variant.size();
        const char c = random() % 2 == 0 ? kBytes[random() % kBytes.size()]
                                         : static_cast<char>(random() % 256);
        switch (random() % 3) {
          case 0:
            variant[at] = c;
            break;
          case 1:
            variant.insert(at, 1, c);
            break;
          default:
            variant.erase(at, 1);
        }
      }
      Compare(variant, &verdicts);
      ++variants;
    }
  }
  MESSAGE("llhttp differential: ", inputs.size(), " inputs, ", variants, " variants; lastcall ",
          "accepted ", verdicts.lastcall_accepted,
          " requests (llhttp agreed on each), both "
          "rejected ",
          verdicts.both_rejected, ", only lastcall rejected ", verdicts.stricter);
  CHECK(verdicts.lastcall_accepted > 100);
}

}  // namespace
}  // namespace lastcall::test

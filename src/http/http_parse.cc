// ParseHttpRequest: the server's pure request parser. It runs on bytes from anybody who can reach
// the probe port, so it is linear in its input, never reads past max_header_bytes while looking
// for the end of the headers, and rejects what it does not need rather than guessing.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/net_util.h"
#include "http/http_server.h"

namespace lastcall {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (and '+' as space in query components). False on a malformed escape or a
// decoded NUL, which no handler should ever have to think about.
bool PercentDecode(std::string_view text, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return false;
      int high = HexValue(text[i + 1]);
      int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) return false;
      int value = high * 16 + low;
      if (value == 0) return false;
      out->push_back(static_cast<char>(value));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

// Splits the request target into the decoded path and query. Returns "" or the problem.
std::string DecodeTarget(std::string_view target, ServerRequest* request) {
  target = target.substr(0, target.find('#'));
  size_t question = target.find('?');
  if (!PercentDecode(target.substr(0, question), false, &request->path)) {
    return "bad percent-encoding in the path";
  }
  if (question == std::string_view::npos) return "";
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t equals = pair.find('=');
    std::string key;
    std::string value;
    if (!PercentDecode(pair.substr(0, equals), true, &key) ||
        (equals != std::string_view::npos &&
         !PercentDecode(pair.substr(equals + 1), true, &value))) {
      return "bad percent-encoding in the query";
    }
    // The first occurrence wins, as with most frameworks' Query().Get().
    request->query.emplace(std::move(key), std::move(value));
  }
  return "";
}

// Parses a Content-Length value: digits only. RFC 9110 §8.6 lets a recipient accept a list of
// identical copies ("5, 5"), but strict parsers (llhttp) reject it, and two parsers that frame a
// body differently are how request smuggling starts: one plain number or nothing.
enum class LengthParse { kOk, kBad, kTooLarge };
LengthParse ParseContentLength(std::string_view text, size_t max, size_t* length) {
  if (text.empty()) return LengthParse::kBad;
  for (char c : text) {
    if (c < '0' || c > '9') return LengthParse::kBad;
  }
  while (text.size() > 1 && text.front() == '0') text.remove_prefix(1);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value > max) return LengthParse::kTooLarge;
  *length = static_cast<size_t>(value);
  return LengthParse::kOk;
}

// The methods RFC 9110 §9 defines but CONNECT (lastcall is no proxy), and PATCH (RFC 5789):
// every one strict llhttp knows. Anything else is answered 501 rather than guessed at.
bool IsKnownMethod(std::string_view method) {
  for (std::string_view known :
       {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"}) {
    if (method == known) return true;
  }
  return false;
}

// RFC 9112 §3.2.2: "http://authority/path?query" -> "/path?query" (an empty path is "/"). The
// authority must be present and carry no userinfo (RFC 9110 §4.2.1, §4.2.4). Returns nullopt for
// anything else, including origin-form targets.
std::optional<std::string> AbsoluteFormPath(std::string_view target) {
  size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = target.substr(0, scheme_end);
  if (!EqualsIgnoreCase(scheme, "http") && !EqualsIgnoreCase(scheme, "https")) return std::nullopt;
  std::string_view rest = target.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  // RFC 3986 §3.2: host (a name, an IPv4 address or a bracketed IPv6 literal) and port, without
  // userinfo ('@'): unreserved characters, sub-delimiters, %-escapes, ':' and brackets.
  auto authority_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-._~!$&'()*+,;=%:[]").find(c) != std::string_view::npos;
  };
  if (authority.empty() || !std::all_of(authority.begin(), authority.end(), authority_char)) {
    return std::nullopt;
  }
  if (authority_end == std::string_view::npos) return "/";
  std::string path(rest.substr(authority_end));
  if (path.front() == '?') path.insert(0, "/");
  return path;
}

bool HasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (EqualsIgnoreCase(TrimSpace(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

ParsedRequest Fail(ParseStatus status, std::string error = "") {
  ParsedRequest result;
  result.status = status;
  result.error = std::move(error);
  return result;
}

}  // namespace

ParsedRequest ParseHttpRequest(std::string_view data, size_t max_header_bytes,
                               size_t max_body_bytes) {
  // Only this window is searched for the end of the headers, so a flood without a blank line
  // costs at most max_header_bytes per call.
  const size_t window = std::min(data.size(), max_header_bytes);
  // The end of the header line starting at `from`, or npos when it is not in the window yet.
  auto line_end = [&](size_t from) { return data.substr(0, window).find('\n', from); };
  auto not_found = [&]() {
    return Fail(data.size() >= max_header_bytes ? ParseStatus::kHeadersTooLarge
                                                : ParseStatus::kIncomplete);
  };

  // RFC 9112 §2.2: ignore empty lines before the request line (left over from a previous body).
  size_t pos = 0;
  while (pos < window && (data[pos] == '\r' || data[pos] == '\n')) ++pos;

  size_t end = line_end(pos);
  if (end == std::string_view::npos) {
    // Reject binary garbage (a TLS handshake, a port scanner) before it fills the window.
    for (size_t i = pos; i < window && data[i] != ' '; ++i) {
      if (data[i] != '\r' && !IsTokenChar(data[i])) return Fail(ParseStatus::kBad, "bad method");
    }
    return not_found();
  }
  // RFC 9112 §2.2 lets a recipient take a bare LF as a line end; strict parsers reject it inside
  // the header block, and two parsers that split lines differently disagree on the headers.
  if (end == pos || data[end - 1] != '\r') {
    return Fail(ParseStatus::kBad, "a line ends in LF without CR");
  }
  std::string_view line = data.substr(pos, end - pos - 1);
  pos = end + 1;

  ParsedRequest result;
  ServerRequest& request = result.request;
  size_t first_space = line.find(' ');
  size_t second_space =
      first_space == std::string_view::npos ? first_space : line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos ||
      line.find(' ', second_space + 1) != std::string_view::npos) {
    return Fail(ParseStatus::kBad, "the request line must be METHOD TARGET HTTP/1.x");
  }
  std::string_view method = line.substr(0, first_space);
  std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  std::string_view version = line.substr(second_space + 1);
  if (!IsToken(method)) return Fail(ParseStatus::kBad, "bad method");
  std::string origin(target);
  if (target.empty() || target.front() != '/') {
    std::optional<std::string> path = AbsoluteFormPath(target);
    if (!path) {
      return Fail(ParseStatus::kBad,
                  "the request target must be a path (/readyz) or an absolute http URL");
    }
    origin = *path;
  }
  for (char c : target) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte == 0x7f) {
      return Fail(ParseStatus::kBad, "the request target contains a control character");
    }
  }
  if (version == "HTTP/1.1") {
    result.keep_alive = true;
  } else if (version == "HTTP/1.0") {
    result.keep_alive = false;
  } else {
    return Fail(ParseStatus::kBad, "unsupported protocol version (only HTTP/1.0 and HTTP/1.1)");
  }
  if (!IsKnownMethod(method)) {
    return Fail(ParseStatus::kNotImplemented, "method " + std::string(method) + " is not known");
  }
  request.method = std::string(method);
  request.target = std::string(target);

  while (true) {
    end = line_end(pos);
    if (end == std::string_view::npos) return not_found();
    if (end == pos || data[end - 1] != '\r') {
      return Fail(ParseStatus::kBad, "a line ends in LF without CR");
    }
    line = data.substr(pos, end - pos - 1);
    pos = end + 1;
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      return Fail(ParseStatus::kBad, "obsolete header line folding");
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Fail(ParseStatus::kBad, "bad header line");
    }
    std::string name = ToLowerAscii(line.substr(0, colon));
    std::string_view value = TrimSpace(line.substr(colon + 1));
    for (char c : value) {
      auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
        return Fail(ParseStatus::kBad, "header " + name + " contains a control character");
      }
    }
    // A TAB is optional whitespace (RFC 9110 §5.6.3), but strict parsers refuse it around the
    // one number that frames the body; framing must never depend on who parses.
    if (name == "content-length" && line.find('\t') != std::string_view::npos) {
      return Fail(ParseStatus::kBad, "bad Content-Length");
    }
    auto [it, inserted] = request.headers.emplace(name, value);
    if (!inserted) {
      if (name == "content-length") return Fail(ParseStatus::kBad, "repeated Content-Length");
      it->second += ",";
      it->second += value;
    }
  }
  const size_t header_bytes = pos;

  std::string problem = DecodeTarget(origin, &request);
  if (!problem.empty()) return Fail(ParseStatus::kBad, problem);
  if (request.headers.contains("transfer-encoding")) {
    // Chunked request bodies are refused: nothing lastcall serves needs one, and accepting only
    // Content-Length keeps framing unambiguous.
    return Fail(ParseStatus::kBad, "Transfer-Encoding is not supported; send Content-Length");
  }
  if (auto connection = request.headers.find("connection"); connection != request.headers.end()) {
    if (HasToken(connection->second, "close")) {
      result.keep_alive = false;
    } else if (HasToken(connection->second, "keep-alive")) {
      result.keep_alive = true;
    }
  }

  // RFC 9110 §10.1.1: an HTTP/1.0 recipient ignores Expect; 100-continue is the only
  // expectation defined, and one the server cannot meet is answered 417.
  if (auto expect = request.headers.find("expect");
      expect != request.headers.end() && version == "HTTP/1.1") {
    if (!EqualsIgnoreCase(expect->second, "100-continue")) {
      return Fail(ParseStatus::kExpectationFailed, "unknown expectation " + expect->second);
    }
    result.expect_continue = true;
  }

  size_t body_length = 0;
  if (auto length = request.headers.find("content-length"); length != request.headers.end()) {
    switch (ParseContentLength(length->second, max_body_bytes, &body_length)) {
      case LengthParse::kOk:
        break;
      case LengthParse::kBad:
        return Fail(ParseStatus::kBad, "bad Content-Length");
      case LengthParse::kTooLarge:
        return Fail(ParseStatus::kBodyTooLarge);
    }
  }
  if (data.size() - header_bytes < body_length) {
    // Headers are complete: keep them so the caller knows how many bytes it still waits for.
    result.status = ParseStatus::kIncomplete;
    result.complete_at = header_bytes + body_length;
    return result;
  }
  request.body = std::string(data.substr(header_bytes, body_length));
  result.consumed = header_bytes + body_length;
  result.status = ParseStatus::kComplete;
  return result;
}

std::string_view StatusReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 417:
      return "Expectation Failed";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace lastcall

// ParseHttpRequest: the server's pure request parser. It runs on bytes from anybody who can reach
// the probe port, so it is linear in its input, never reads past max_header_bytes while looking
// for the end of the headers, and rejects what it does not need rather than guessing.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http_server.h"
#include "net_util.h"

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

// Parses Content-Length, which may have been joined from repeated headers ("5,5"). Every copy
// must agree (RFC 9110 §8.6); disagreement is how request smuggling starts.
enum class LengthParse { kOk, kBad, kTooLarge };
LengthParse ParseContentLength(std::string_view joined, size_t max, size_t* length) {
  std::optional<std::string_view> first;
  while (true) {
    size_t comma = joined.find(',');
    std::string_view item = TrimSpace(joined.substr(0, comma));
    if (item.empty()) return LengthParse::kBad;
    for (char c : item) {
      if (c < '0' || c > '9') return LengthParse::kBad;
    }
    if (first && *first != item) return LengthParse::kBad;
    first = item;
    if (comma == std::string_view::npos) break;
    joined.remove_prefix(comma + 1);
  }
  while (first->size() > 1 && first->front() == '0') first->remove_prefix(1);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(first->data(), first->data() + first->size(), value);
  if (ec != std::errc() || value > max) return LengthParse::kTooLarge;
  *length = static_cast<size_t>(value);
  return LengthParse::kOk;
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
  std::string_view line = data.substr(pos, end - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
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
  if (target.empty() || target.front() != '/') {
    return Fail(ParseStatus::kBad, "the request target must start with '/'");
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
  request.method = std::string(method);

  while (true) {
    end = line_end(pos);
    if (end == std::string_view::npos) return not_found();
    line = data.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
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
    auto [it, inserted] = request.headers.emplace(name, value);
    if (!inserted) {
      it->second += ",";
      it->second += value;
    }
  }
  const size_t header_bytes = pos;

  std::string problem = DecodeTarget(target, &request);
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

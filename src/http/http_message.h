#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/url.h"

// An HTTP/1.1 exchange as plain values: what lastcall's client sends and gets back (http_client.h),
// what the response reader fills in (http_response_reader.h), and the deadline every call has.
// No I/O here, so the server, the parsers and their fuzzers include it without the client.
namespace lastcall {

using Deadline = std::chrono::steady_clock::time_point;

// The largest response head, and the default largest body (Config::max_body_bytes's default),
// lastcall reads: an answer past them is kMalformed, never buffered without bound.
inline constexpr size_t kMaxResponseHeaderBytes = size_t{16} * 1024;
inline constexpr size_t kMaxResponseBodyBytes = size_t{4} * 1024 * 1024;

using Deadline = std::chrono::steady_clock::time_point;

struct HttpRequest {
  std::string method = "GET";
  Url url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

enum class HttpError {
  kNone,       // a complete response arrived (any status)
  kRefused,    // connection refused / socket file missing: nobody listens
  kTimeout,    // the deadline passed (connect, send or receive)
  kReset,      // the peer closed or reset before a complete response
  kMalformed,  // the answer is not HTTP/1.x, or a header/body exceeds the client's limits
  kOther,      // anything else (name resolution, unreachable network, too many open files)
};
std::string_view ToString(HttpError error);

struct HttpResponse {
  HttpError error = HttpError::kNone;
  std::string error_detail;  // human sentence when error != kNone (includes errno text)
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool ok() const { return error == HttpError::kNone; }
};

}  // namespace lastcall

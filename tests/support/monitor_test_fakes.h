#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "http/http_client.h"
#include "monitors/monitor.h"

// Fakes for the drain monitors' two seams, HttpClient and FileReader, shared by their tests.
namespace lastcall::testing {

inline HttpResponse Answer(int status, std::string body = "") {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

inline HttpResponse Failure(HttpError error, std::string detail) {
  HttpResponse response;
  response.error = error;
  response.error_detail = std::move(detail);
  return response;
}

// Answers every request with `response`, and records what it was asked.
class CannedHttpClient final : public HttpClient {
 public:
  HttpResponse response = Answer(200);
  std::vector<HttpRequest> requests;
  std::vector<Deadline> deadlines;

  HttpResponse Send(const HttpRequest& request, Deadline deadline) override {
    requests.push_back(request);
    deadlines.push_back(deadline);
    return response;
  }
};

// Serves `files` by path; any other path cannot be read.
class FakeFileReader final : public FileReader {
 public:
  std::map<std::string, std::string> files;
  std::vector<std::string> reads;

  std::optional<std::string> Read(const std::string& path) override {
    reads.push_back(path);
    auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  }
};

// A URL setting as the config loader makes it, for tests that build a Config by hand. Throws
// (failing the test) when `text` is not a URL.
inline Parsed<Url> ParsedUrl(std::string_view text) {
  std::string error;
  std::optional<Url> url = ParseUrl(text, &error);
  if (!url) throw std::invalid_argument("test URL " + std::string(text) + ": " + error);
  return Parsed<Url>{std::move(*url), std::string(text)};
}

inline Config MonitorConfig(MonitorKind kind) {
  Config config;
  config.shutdown.drain.monitor.kind = kind;
  return config;
}

// The header value of `name` in `request`, or "" when absent.
inline std::string HeaderOf(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "";
}

}  // namespace lastcall::testing

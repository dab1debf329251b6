// ResponseReader over arbitrary bytes, the way PosixHttpClient and rehearse's load generator feed
// it: whatever the app answers (chunked, Content-Length, read-until-close, interim 1xx, bodiless
// 204/304/HEAD), the reader ends in a verdict that does not depend on how the bytes were split
// across reads, keeps within the client's limits, and never gives a body where none may be.
//
// Input: the first byte picks the request ('H': HEAD, anything else: GET) and a split point; the
// rest is what the server sent before closing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "http/http_client.h"
#include "http/http_response_reader.h"

namespace {

using lastcall::HttpError;
using lastcall::ResponseReader;
using lastcall::fuzz::Require;

struct Outcome {
  ResponseReader::State state = ResponseReader::State::kNeedMore;
  lastcall::HttpResponse response;
};

// Feeds `pieces` until a verdict, then the peer's close if the reader still wants more.
Outcome Read(bool head, const std::vector<std::string_view>& pieces) {
  ResponseReader reader(head);
  ResponseReader::State state = ResponseReader::State::kNeedMore;
  for (std::string_view piece : pieces) {
    state = reader.Feed(piece);
    if (state != ResponseReader::State::kNeedMore) break;
  }
  if (state == ResponseReader::State::kNeedMore) state = reader.FinishAtEof();
  Require(state != ResponseReader::State::kNeedMore, "the peer's close ends every read");
  return {state, reader.response()};
}

void CheckVerdict(bool head, const Outcome& outcome) {
  const lastcall::HttpResponse& response = outcome.response;
  if (outcome.state == ResponseReader::State::kError) {
    Require(response.error == HttpError::kMalformed || response.error == HttpError::kReset,
            "a bad answer is kMalformed, a cut one kReset");
    Require(!response.error_detail.empty(), "an error says what was wrong");
    return;
  }
  Require(response.error == HttpError::kNone, "a complete answer carries no error");
  Require(response.status >= 200 && response.status <= 599,
          "the final status is 2xx-5xx (1xx are interim, 101 is refused)");
  Require(response.body.size() <= lastcall::PosixHttpClient::kMaxBodyBytes,
          "bodies respect kMaxBodyBytes");
  if (head || response.status == 204 || response.status == 304) {
    Require(response.body.empty(), "no body for HEAD, 204 and 304 (RFC 9110 6.4.1)");
  }
  for (const auto& [name, value] : response.headers) {
    for (char c : name) Require(!(c >= 'A' && c <= 'Z'), "header names are lower-cased");
  }
}

void RequireSame(const Outcome& a, const Outcome& b) {
  Require(a.state == b.state, "the verdict does not depend on how the bytes were split");
  Require(a.response.error == b.response.error, "the error does not depend on the split");
  if (a.state != ResponseReader::State::kDone) return;
  Require(a.response.status == b.response.status, "the status does not depend on the split");
  Require(a.response.headers == b.response.headers, "the headers do not depend on the split");
  Require(a.response.body == b.response.body, "the body does not depend on the split");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool head = data[0] == 'H';
  const std::string_view answer(reinterpret_cast<const char*>(data) + 1, size - 1);

  const Outcome whole = Read(head, {answer});
  CheckVerdict(head, whole);
  if (answer.size() > 1) {
    const size_t split = 1 + data[0] % (answer.size() - 1);
    RequireSame(whole, Read(head, {answer.substr(0, split), answer.substr(split)}));
  }
  if (answer.size() <= 1024) {
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < answer.size(); ++i) bytes.push_back(answer.substr(i, 1));
    RequireSame(whole, Read(head, bytes));
  }
  return 0;
}

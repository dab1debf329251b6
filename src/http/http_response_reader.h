#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/http_message.h"

// An incremental HTTP/1.x response parser: bytes go in as they arrive, work stays linear in the
// input, and the limits of http_message.h (kMaxResponseHeaderBytes, kMaxResponseBodyBytes) are
// checked before anything is buffered past them. Shared by PosixHttpClient (one response per
// connection) and rehearse's load generator (one reader per request on a kept-alive connection).
// Handles Content-Length, chunked and read-until-close bodies, interim 1xx answers, and bodiless
// answers (HEAD, 204, 304). Failures come back as values in response(): kMalformed for a bad
// answer, kReset for a close before the end. Not thread-safe; one reader per response.
namespace lastcall {

class ResponseReader {
 public:
  enum class State { kNeedMore, kDone, kError };

  // A body longer than `max_body_bytes` fails the response (kMalformed) as soon as its framing
  // announces it or the bytes received pass it; nothing past the limit is buffered, and the
  // buffer grows with the bytes received (doubling, capped at the limit), so memory is never
  // taken for the limit itself or for a Content-Length not yet received.
  explicit ResponseReader(bool head_request, size_t max_body_bytes = kMaxResponseBodyBytes)
      : head_request_(head_request), max_body_bytes_(max_body_bytes) {}

  // Feeds the next bytes received. kDone: response() is complete; kError: response().error says
  // what was wrong; kNeedMore: feed more (or FinishAtEof when the peer closed).
  State Feed(std::string_view bytes);

  // The peer closed the connection.
  State FinishAtEof();

  size_t received() const { return received_; }

  // The capacity the body buffer grows to when `needed` bytes no longer fit in `capacity`:
  // double (at least 4 KiB), never past max_body_bytes unless `needed` is. Pure.
  static size_t GrownCapacity(size_t capacity, size_t needed, size_t max_body_bytes);
  HttpResponse& response() { return response_; }

 private:
  enum class Phase { kHeaders, kBody, kDone };
  enum class Framing { kLength, kChunked, kUntilClose };
  enum class ChunkState { kSize, kData, kDataEnd, kTrailer };

  State Fail(HttpError error, std::string detail);

  State Malformed(std::string detail) { return Fail(HttpError::kMalformed, std::move(detail)); }

  State BodyTooLarge();

  // Appends body bytes, growing the buffer geometrically (GrownCapacity): memory follows the
  // bytes received, never the limit or an announced length. REQUIRES: the caller checked the
  // limit.
  void AppendBody(std::string_view bytes);

  // Finds the blank line ending the header block; resumes where the last call stopped.
  size_t FindHeaderEnd();

  State ParseHeaders();

  State HeadersTooLarge();

  State ParseHeaderBlock();

  // Chooses the body framing from the headers (RFC 9112 §6.3).
  State StartBody();

  State FeedBody(std::string_view bytes);

  State FeedChunked(std::string_view bytes);

  State EndChunkLine(std::string_view line);

  static constexpr int kMaxInterimAnswers = 8;

  const bool head_request_;
  const size_t max_body_bytes_;
  int interim_answers_ = 0;
  Phase phase_ = Phase::kHeaders;
  Framing framing_ = Framing::kUntilClose;
  ChunkState chunk_state_ = ChunkState::kSize;
  std::string head_;        // header bytes (and what followed them) until the blank line
  size_t scan_from_ = 0;    // where FindHeaderEnd resumes
  uint64_t remaining_ = 0;  // body bytes left (Content-Length) or in the current chunk
  std::string line_;        // a partial chunk-size or trailer line
  size_t trailer_bytes_ = 0;
  size_t received_ = 0;
  HttpResponse response_;
};

}  // namespace lastcall

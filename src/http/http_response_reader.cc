#include "http/http_response_reader.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "base/net_util.h"

namespace lastcall {

ResponseReader::State ResponseReader::Feed(std::string_view bytes) {
  received_ += bytes.size();
  if (phase_ == Phase::kHeaders) {
    head_.append(bytes);
    return ParseHeaders();
  }
  return FeedBody(bytes);
}

ResponseReader::State ResponseReader::FinishAtEof() {
  if (phase_ == Phase::kBody && framing_ == Framing::kUntilClose) {
    phase_ = Phase::kDone;
    return State::kDone;
  }
  std::string what = phase_ == Phase::kHeaders ? "before the response headers were complete"
                                               : "in the middle of the response body";
  return Fail(HttpError::kReset, "the server closed the connection " + what + " (" +
                                     std::to_string(received_) + " bytes received)");
}

ResponseReader::State ResponseReader::Fail(HttpError error, std::string detail) {
  response_.error = error;
  response_.error_detail = std::move(detail);
  phase_ = Phase::kDone;
  return State::kError;
}

ResponseReader::State ResponseReader::BodyTooLarge() {
  return Malformed("the response body exceeds " + std::to_string(max_body_bytes_) +
                   " bytes (max_body)");
}

void ResponseReader::AppendBody(std::string_view bytes) {
  std::string& body = response_.body;
  const size_t needed = body.size() + bytes.size();
  if (needed > body.capacity()) {
    // A fresh string, not body.reserve(): libstdc++'s reserve doubles at least, past the bound.
    std::string grown;
    grown.reserve(GrownCapacity(body.capacity(), needed, max_body_bytes_));
    grown.append(body);
    body.swap(grown);
  }
  body.append(bytes);
}

size_t ResponseReader::GrownCapacity(size_t capacity, size_t needed, size_t max_body_bytes) {
  // Doubling keeps the copies linear in the body; the bound keeps the last step from reserving
  // past max_body. Never the whole limit up front: a process under a memory limit (ulimit -v, a
  // cgroup) must be able to read the answers it actually gets.
  constexpr size_t kFirstCapacity = 4 * 1024;
  size_t grown =
      std::max(kFirstCapacity, capacity <= max_body_bytes / 2 ? 2 * capacity : max_body_bytes);
  grown = std::min(grown, std::max(max_body_bytes, needed));
  return std::max(grown, needed);
}

size_t ResponseReader::FindHeaderEnd() {
  for (size_t i = scan_from_; i < head_.size(); ++i) {
    if (head_[i] != '\n') continue;
    if (i + 1 >= head_.size() || (head_[i + 1] == '\r' && i + 2 >= head_.size())) {
      scan_from_ = i;  // cannot tell yet
      return std::string::npos;
    }
    if (head_[i + 1] == '\n') return i + 2;
    if (head_[i + 1] == '\r' && head_[i + 2] == '\n') return i + 3;
  }
  scan_from_ = head_.size();
  return std::string::npos;
}

ResponseReader::State ResponseReader::ParseHeaders() {
  while (true) {
    constexpr std::string_view kPrefix = "HTTP/1.";
    size_t check = std::min(head_.size(), kPrefix.size());
    if (head_.compare(0, check, kPrefix.substr(0, check)) != 0) {
      std::string start = head_.substr(0, 16);
      for (char& c : start) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
      }
      return Malformed("the answer is not HTTP/1.x (it starts with \"" + start + "\")");
    }
    size_t end = FindHeaderEnd();
    if (end == std::string::npos) {
      if (head_.size() > kMaxResponseHeaderBytes) return HeadersTooLarge();
      return State::kNeedMore;
    }
    if (end > kMaxResponseHeaderBytes) return HeadersTooLarge();
    std::string rest = head_.substr(end);
    head_.resize(end);
    if (State state = ParseHeaderBlock(); state == State::kError) return state;
    if (response_.status >= 100 && response_.status < 200) {
      // An interim answer (100 Continue, 103 Early Hints): the real one follows.
      if (++interim_answers_ > kMaxInterimAnswers) {
        return Malformed("more than " + std::to_string(kMaxInterimAnswers) +
                         " interim (1xx) answers");
      }
      response_.status = 0;
      response_.headers.clear();
      head_ = std::move(rest);
      scan_from_ = 0;
      continue;
    }
    phase_ = Phase::kBody;
    head_.clear();
    if (State state = StartBody(); state != State::kNeedMore) return state;
    return FeedBody(rest);
  }
}

ResponseReader::State ResponseReader::HeadersTooLarge() {
  return Malformed("the response headers exceed " + std::to_string(kMaxResponseHeaderBytes) +
                   " bytes");
}

ResponseReader::State ResponseReader::ParseHeaderBlock() {
  std::string_view block = head_;
  bool first = true;
  while (!block.empty()) {
    size_t newline = block.find('\n');
    std::string_view line = block.substr(0, newline);
    block = newline == std::string_view::npos ? std::string_view() : block.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first) {
      first = false;
      // "HTTP/1.1 200 OK"; the reason phrase is optional.
      if (line.size() < 12 || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
          (line.size() > 12 && line[12] != ' ')) {
        return Malformed("bad status line \"" + std::string(line.substr(0, 64)) + "\"");
      }
      int status = 0;
      auto [ptr, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
      if (ec != std::errc() || ptr != line.data() + 12 || status < 100 || status > 599) {
        return Malformed("bad status line \"" + std::string(line.substr(0, 64)) + "\"");
      }
      if (status == 101) return Malformed("unexpected 101 Switching Protocols");
      response_.status = status;
      continue;
    }
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Malformed("bad header line \"" + std::string(line.substr(0, 64)) + "\"");
    }
    response_.headers.emplace_back(ToLowerAscii(line.substr(0, colon)),
                                   std::string(TrimSpace(line.substr(colon + 1))));
  }
  return State::kNeedMore;
}

ResponseReader::State ResponseReader::StartBody() {
  if (head_request_ || response_.status == 204 || response_.status == 304) {
    phase_ = Phase::kDone;
    return State::kDone;
  }
  std::optional<std::string> length_text;
  for (const auto& [name, value] : response_.headers) {
    if (name == "transfer-encoding") {
      size_t comma = value.rfind(',');
      std::string_view last =
          TrimSpace(std::string_view(value).substr(comma == std::string::npos ? 0 : comma + 1));
      if (!EqualsIgnoreCase(last, "chunked")) {
        return Malformed("unsupported Transfer-Encoding \"" + value + "\"");
      }
      framing_ = Framing::kChunked;
      return State::kNeedMore;
    }
    if (name == "content-length") {
      if (length_text && *length_text != value) return Malformed("conflicting Content-Length");
      length_text = value;
    }
  }
  if (!length_text) {
    framing_ = Framing::kUntilClose;
    return State::kNeedMore;
  }
  if (length_text->empty() || length_text->size() > 18 ||
      !std::all_of(length_text->begin(), length_text->end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return Malformed("bad Content-Length \"" + *length_text + "\"");
  }
  remaining_ = std::stoull(*length_text);
  if (remaining_ > max_body_bytes_) return BodyTooLarge();
  framing_ = Framing::kLength;
  // Not reserve(remaining_): a Content-Length is a claim, not data; the body grows as it comes.
  if (remaining_ == 0) {
    phase_ = Phase::kDone;
    return State::kDone;
  }
  return State::kNeedMore;
}

ResponseReader::State ResponseReader::FeedBody(std::string_view bytes) {
  switch (framing_) {
    case Framing::kLength: {
      size_t take = std::min<size_t>(remaining_, bytes.size());
      AppendBody(bytes.substr(0, take));
      remaining_ -= take;
      if (remaining_ > 0) return State::kNeedMore;
      phase_ = Phase::kDone;
      return State::kDone;
    }
    case Framing::kUntilClose:
      if (response_.body.size() + bytes.size() > max_body_bytes_) {
        return BodyTooLarge();
      }
      AppendBody(bytes);
      return State::kNeedMore;
    case Framing::kChunked:
      return FeedChunked(bytes);
  }
  return State::kNeedMore;
}

ResponseReader::State ResponseReader::FeedChunked(std::string_view bytes) {
  constexpr size_t kMaxLineBytes = 4096;  // a chunk-size line with extensions
  while (!bytes.empty()) {
    if (chunk_state_ == ChunkState::kData) {
      size_t take = std::min<size_t>(remaining_, bytes.size());
      AppendBody(bytes.substr(0, take));
      bytes.remove_prefix(take);
      remaining_ -= take;
      if (remaining_ == 0) chunk_state_ = ChunkState::kDataEnd;
      continue;
    }
    size_t newline = bytes.find('\n');
    std::string_view piece = bytes.substr(0, newline);
    line_.append(piece);
    if (chunk_state_ == ChunkState::kTrailer) {
      trailer_bytes_ += piece.size();
      if (trailer_bytes_ > kMaxResponseHeaderBytes) return HeadersTooLarge();
    } else if (line_.size() > kMaxLineBytes) {
      return Malformed("a chunk size line exceeds " + std::to_string(kMaxLineBytes) + " bytes");
    }
    if (newline == std::string_view::npos) return State::kNeedMore;
    bytes.remove_prefix(newline + 1);
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (State state = EndChunkLine(line); state != State::kNeedMore) return state;
    line_.clear();
  }
  return State::kNeedMore;
}

ResponseReader::State ResponseReader::EndChunkLine(std::string_view line) {
  switch (chunk_state_) {
    case ChunkState::kSize: {
      std::string_view digits = TrimSpace(line.substr(0, line.find(';')));
      uint64_t size = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
      if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
        return Malformed("bad chunk size line \"" + std::string(line.substr(0, 64)) + "\"");
      }
      if (size > max_body_bytes_ - response_.body.size()) return BodyTooLarge();
      remaining_ = size;
      chunk_state_ = size == 0 ? ChunkState::kTrailer : ChunkState::kData;
      return State::kNeedMore;
    }
    case ChunkState::kDataEnd:
      if (!line.empty()) return Malformed("a chunk is longer than its size line says");
      chunk_state_ = ChunkState::kSize;
      return State::kNeedMore;
    case ChunkState::kTrailer:
      if (!line.empty()) return State::kNeedMore;  // trailers are read and ignored
      phase_ = Phase::kDone;
      return State::kDone;
    case ChunkState::kData:
      break;
  }
  return State::kNeedMore;
}

}  // namespace lastcall

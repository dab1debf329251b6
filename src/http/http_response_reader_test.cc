#include "http/http_response_reader.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

namespace lastcall {
namespace {

constexpr size_t kMiB = 1024 * 1024;

// Feeds `body` in pieces of `piece` bytes, as a socket would deliver it.
ResponseReader::State FeedInPieces(ResponseReader& reader, const std::string& body, size_t piece) {
  ResponseReader::State state = ResponseReader::State::kNeedMore;
  for (size_t at = 0; at < body.size() && state == ResponseReader::State::kNeedMore; at += piece) {
    state = reader.Feed(std::string_view(body).substr(at, piece));
  }
  return state;
}

TEST_CASE("ResponseReader::GrownCapacity doubles, starts small and stops at the limit") {
  CHECK(ResponseReader::GrownCapacity(0, 1, 64 * kMiB) == 4096);
  CHECK(ResponseReader::GrownCapacity(4096, 4097, 64 * kMiB) == 8192);
  CHECK(ResponseReader::GrownCapacity(8192, 100000, 64 * kMiB) == 100000);  // a big piece
  CHECK(ResponseReader::GrownCapacity(40 * kMiB, 40 * kMiB + 1, 64 * kMiB) == 64 * kMiB);
  CHECK(ResponseReader::GrownCapacity(0, 10, 100) == 100);   // a limit below the first step
  CHECK(ResponseReader::GrownCapacity(0, 200, 100) == 200);  // never below what is needed
}

TEST_CASE("ResponseReader grows the body with the bytes received, never to max_body up front") {
  const size_t max_body = 256 * kMiB;
  const std::string body(200 * 1024, 'x');  // past the 64 KiB the old reader grew to by itself

  SUBCASE("Content-Length announcing far more than arrived") {
    ResponseReader reader(false, max_body);
    CHECK(reader.Feed("HTTP/1.1 200 OK\r\nContent-Length: 200000000\r\n\r\n") ==
          ResponseReader::State::kNeedMore);
    CHECK(reader.response().body.capacity() < kMiB);
    CHECK(FeedInPieces(reader, body, 16 * 1024) == ResponseReader::State::kNeedMore);
    CHECK(reader.response().body.size() == body.size());
    CHECK(reader.response().body.capacity() < 2 * body.size() + 8192);
  }
  SUBCASE("read until close") {
    ResponseReader reader(false, max_body);
    CHECK(reader.Feed("HTTP/1.1 200 OK\r\n\r\n") == ResponseReader::State::kNeedMore);
    CHECK(FeedInPieces(reader, body, 16 * 1024) == ResponseReader::State::kNeedMore);
    REQUIRE(reader.FinishAtEof() == ResponseReader::State::kDone);
    CHECK(reader.response().body == body);
    CHECK(reader.response().body.capacity() < 2 * body.size() + 8192);
  }
  SUBCASE("chunked") {
    ResponseReader reader(false, max_body);
    CHECK(reader.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") ==
          ResponseReader::State::kNeedMore);
    std::string chunked;
    for (size_t at = 0; at < body.size(); at += 10000) {
      const std::string piece = body.substr(at, 10000);
      char size[32];
      std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
      chunked += size + piece + "\r\n";
    }
    chunked += "0\r\n\r\n";
    REQUIRE(FeedInPieces(reader, chunked, 16 * 1024) == ResponseReader::State::kDone);
    CHECK(reader.response().body == body);
    CHECK(reader.response().body.capacity() < 2 * body.size() + 8192);
  }
}

TEST_CASE("ResponseReader reads a body of exactly max_body and refuses one byte more") {
  const size_t max_body = 300 * 1024;
  const std::string body(max_body, 'y');
  {
    ResponseReader reader(false, max_body);
    CHECK(reader.Feed("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(max_body) +
                      "\r\n\r\n") == ResponseReader::State::kNeedMore);
    REQUIRE(FeedInPieces(reader, body, 7000) == ResponseReader::State::kDone);
    CHECK(reader.response().body == body);
    CHECK(reader.response().body.capacity() <= max_body + 64);
  }
  {
    ResponseReader reader(false, max_body);
    CHECK(reader.Feed("HTTP/1.1 200 OK\r\n\r\n") == ResponseReader::State::kNeedMore);
    CHECK(FeedInPieces(reader, body + "z", 7000) == ResponseReader::State::kError);
    CHECK(reader.response().error == HttpError::kMalformed);
    CHECK(reader.response().body.capacity() <= max_body + 64);
  }
}

}  // namespace
}  // namespace lastcall

#include "http/http_client.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <mutex>
#include <string>

#include "http/http_server.h"
#include "http_testing.h"
#include "version.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using testing::In;
using testing::MillisSince;
using testing::ScriptedServer;

HttpRequest Get(const std::string& url_text) {
  std::string error;
  std::optional<Url> url = ParseUrl(url_text, &error);
  REQUIRE_MESSAGE(url.has_value(), error);
  HttpRequest request;
  request.url = *url;
  return request;
}

// GETs `url` on a fresh client.
HttpResponse Fetch(const std::string& url, milliseconds timeout = milliseconds(2000)) {
  return PosixHttpClient().Send(Get(url), In(timeout));
}

std::string HeaderOf(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "<missing>";
}

// Answers every request on its connection with `answer` after reading the request head.
ScriptedServer::Script Answer(std::string answer) {
  return [answer](int fd, const std::atomic<bool>&) {
    if (testing::ReadRequestHead(fd).empty()) return;
    send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  };
}

TEST_CASE("PosixHttpClient sends a well-formed request and reads status, headers and body") {
  std::mutex mu;
  ServerRequest seen;
  HttpServer server({}, [&](const ServerRequest& request, Responder respond) {
    {
      std::lock_guard lock(mu);
      seen = request;
    }
    ServerResponse response;
    response.status = 202;
    response.body = "draining";
    response.headers = {{"X-Inflight", "3"}};
    respond(response);
  });
  std::string error;
  REQUIRE(server.Listen(*ParseListenAddress("127.0.0.1:0", &error)) == "");
  server.Start();

  HttpRequest request = Get("http://127.0.0.1:" + std::to_string(server.port()) + "/drain?x=1");
  request.method = "POST";
  request.headers = {{"Authorization", "Bearer t"}, {"Connection", "keep-alive"}};
  request.body = "{}";
  PosixHttpClient client;
  HttpResponse response = client.Send(request, In(milliseconds(2000)));
  REQUIRE_MESSAGE(response.ok(), response.error_detail);
  CHECK(response.status == 202);
  CHECK(response.body == "draining");
  CHECK(HeaderOf(response, "x-inflight") == "3");
  CHECK(HeaderOf(response, "content-type") == "text/plain; charset=utf-8");

  std::lock_guard lock(mu);
  CHECK(seen.method == "POST");
  CHECK(seen.path == "/drain");
  CHECK(seen.query.at("x") == "1");
  CHECK(seen.body == "{}");
  CHECK(seen.headers.at("host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(seen.headers.at("user-agent") == std::string("lastcall/") + kVersion);
  CHECK(seen.headers.at("authorization") == "Bearer t");
  CHECK(seen.headers.at("connection") == "close");  // the caller cannot keep it open
  CHECK(seen.headers.at("content-length") == "2");
}

TEST_CASE("PosixHttpClient sends Content-Length: 0 with an empty POST and none with GET") {
  std::string head;
  ScriptedServer server([&](int fd, const std::atomic<bool>&) {
    head = testing::ReadRequestHead(fd);
    std::string answer = "HTTP/1.1 204 No Content\r\n\r\n";
    send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  });
  PosixHttpClient client;
  HttpRequest request = Get(server.url("/drain"));
  request.method = "POST";
  HttpResponse response = client.Send(request, In(milliseconds(2000)));
  REQUIRE(response.ok());
  CHECK(response.status == 204);
  CHECK(head.find("\r\nContent-Length: 0\r\n") != std::string::npos);
  CHECK(head.starts_with("POST /drain HTTP/1.1\r\n"));

  response = client.Send(Get(server.url("/drain")), In(milliseconds(2000)));
  REQUIRE(response.ok());
  CHECK(head.find("Content-Length") == std::string::npos);
}

TEST_CASE("PosixHttpClient reads chunked bodies delivered in fragments") {
  ScriptedServer server([](int fd, const std::atomic<bool>&) {
    if (testing::ReadRequestHead(fd).empty()) return;
    const std::string answer =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n6\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    // Three bytes at a time, so every parser state sees a split.
    for (size_t i = 0; i < answer.size(); i += 3) {
      send(fd, answer.data() + i, std::min<size_t>(3, answer.size() - i), MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  HttpResponse response = Fetch(server.url(), milliseconds(3000));
  REQUIRE_MESSAGE(response.ok(), response.error_detail);
  CHECK(response.status == 200);
  CHECK(response.body == "hello world0123456789");
}

TEST_CASE("PosixHttpClient reads a body that ends when the server closes") {
  ScriptedServer server(Answer("HTTP/1.0 200 OK\nContent-Type: text/plain\n\nuntil close"));
  HttpResponse response = Fetch(server.url());
  REQUIRE_MESSAGE(response.ok(), response.error_detail);
  CHECK(response.body == "until close");
  CHECK(HeaderOf(response, "content-type") == "text/plain");
}

TEST_CASE("PosixHttpClient skips interim 1xx answers") {
  ScriptedServer server(
      Answer("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  HttpResponse response = Fetch(server.url());
  REQUIRE_MESSAGE(response.ok(), response.error_detail);
  CHECK(response.status == 200);
  CHECK(response.body == "ok");
}

TEST_CASE("PosixHttpClient expects no body after HEAD") {
  ScriptedServer server(Answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"));
  PosixHttpClient client;
  HttpRequest request = Get(server.url());
  request.method = "HEAD";
  auto start = std::chrono::steady_clock::now();
  HttpResponse response = client.Send(request, In(milliseconds(2000)));
  REQUIRE_MESSAGE(response.ok(), response.error_detail);
  CHECK(response.body.empty());
  CHECK(MillisSince(start) < milliseconds(1000));
}

TEST_CASE("PosixHttpClient reports a closed port as refused") {
  testing::ClosedPort port;
  PosixHttpClient client;
  HttpResponse response = client.Send(Get("http://127.0.0.1:" + std::to_string(port.port()) + "/"),
                                      In(milliseconds(1000)));
  CHECK(response.error == HttpError::kRefused);
  CHECK(response.error_detail ==
        "connect to 127.0.0.1:" + std::to_string(port.port()) + ": Connection refused");
  CHECK(ToString(response.error) == "refused");
}

TEST_CASE("PosixHttpClient tries 127.0.0.1 then ::1 for localhost") {
  HttpServer server({}, [](const ServerRequest&, Responder respond) { respond({}); });
  std::string error;
  REQUIRE(server.Listen(*ParseListenAddress("127.0.0.1:0", &error)) == "");
  server.Start();
  PosixHttpClient client;
  HttpResponse response = client.Send(
      Get("http://localhost:" + std::to_string(server.port()) + "/"), In(milliseconds(2000)));
  REQUIRE_MESSAGE(response.ok(), response.error_detail);
  CHECK(response.status == 200);

  testing::ClosedPort port;
  response = client.Send(Get("http://localhost:" + std::to_string(port.port()) + "/"),
                         In(milliseconds(1000)));
  CHECK(response.error == HttpError::kRefused);
}

TEST_CASE("PosixHttpClient over a Unix socket: missing or stale socket files are refused") {
  testing::TempDir dir;
  PosixHttpClient client;
  HttpResponse response =
      client.Send(Get("unix://" + dir.path() + "/missing.sock"), In(milliseconds(1000)));
  CHECK(response.error == HttpError::kRefused);
  CHECK(response.error_detail ==
        "connect to " + dir.path() + "/missing.sock: No such file or directory");

  // A socket file left behind by a dead process.
  std::string stale = dir.path() + "/stale.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, stale.c_str(), sizeof(address.sun_path) - 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  close(fd);
  response = client.Send(Get("unix://" + stale), In(milliseconds(1000)));
  CHECK(response.error == HttpError::kRefused);

  HttpServer server({}, [](const ServerRequest& request, Responder respond) {
    ServerResponse answer;
    answer.body = request.path + " via " + request.peer + " host " + request.headers.at("host");
    respond(answer);
  });
  std::string error;
  REQUIRE(server.Listen(*ParseListenAddress("unix://" + dir.path() + "/ok.sock", &error)) == "");
  server.Start();
  HttpRequest request = Get("unix://" + dir.path() + "/ok.sock");
  request.url.target = "/prestop";
  response = client.Send(request, In(milliseconds(2000)));
  REQUIRE_MESSAGE(response.ok(), response.error_detail);
  CHECK(response.body == "/prestop via unix host localhost");
}

TEST_CASE("PosixHttpClient times out at the deadline when the server never answers") {
  ScriptedServer server([](int fd, const std::atomic<bool>& stop) {
    testing::ReadRequestHead(fd);
    while (!stop.load()) std::this_thread::sleep_for(milliseconds(5));
  });
  PosixHttpClient client;
  auto start = std::chrono::steady_clock::now();
  HttpResponse response = client.Send(Get(server.url()), start + milliseconds(200));
  auto elapsed = MillisSince(start);
  CHECK(response.error == HttpError::kTimeout);
  CHECK(response.error_detail == "no complete response before the deadline (0 bytes received)");
  CHECK(elapsed >= milliseconds(200));
  CHECK(elapsed < milliseconds(250));
}

TEST_CASE("PosixHttpClient ends at the deadline even when the server trickles bytes forever") {
  ScriptedServer server([](int fd, const std::atomic<bool>& stop) {
    testing::ReadRequestHead(fd);
    const std::string endless = "HTTP/1.1 200 OK\r\nX-Slow: ";
    for (size_t i = 0; !stop.load(); ++i) {
      char c = i < endless.size() ? endless[i] : 'z';
      if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) return;
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  PosixHttpClient client;
  auto start = std::chrono::steady_clock::now();
  HttpResponse response = client.Send(Get(server.url()), start + milliseconds(500));
  auto elapsed = MillisSince(start);
  CHECK(response.error == HttpError::kTimeout);
  CHECK(elapsed >= milliseconds(500));
  CHECK(elapsed < milliseconds(550));
}

TEST_CASE("PosixHttpClient refuses to buffer oversized answers") {
  SUBCASE("Content-Length over the limit fails before the body is read") {
    ScriptedServer server(Answer("HTTP/1.1 200 OK\r\nContent-Length: 4194305\r\n\r\n"));
    HttpResponse response = Fetch(server.url());
    CHECK(response.error == HttpError::kMalformed);
    CHECK(response.error_detail == "the response body exceeds 4194304 bytes (max_body)");
  }
  SUBCASE("a body read until close") {
    ScriptedServer server([](int fd, const std::atomic<bool>&) {
      testing::ReadRequestHead(fd);
      std::string head = "HTTP/1.1 200 OK\r\n\r\n";
      send(fd, head.data(), head.size(), MSG_NOSIGNAL);
      std::string block(64 * 1024, 'x');
      for (int i = 0; i < 100; ++i) {  // 6.25 MiB, more than the limit
        if (send(fd, block.data(), block.size(), MSG_NOSIGNAL) <= 0) return;
      }
    });
    HttpResponse response = Fetch(server.url(), milliseconds(5000));
    CHECK(response.error == HttpError::kMalformed);
    CHECK(response.error_detail == "the response body exceeds 4194304 bytes (max_body)");
  }
  SUBCASE("a chunk whose size is over the limit") {
    ScriptedServer server(
        Answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400001\r\n"));
    HttpResponse response = Fetch(server.url());
    CHECK(response.error == HttpError::kMalformed);
    CHECK(response.error_detail == "the response body exceeds 4194304 bytes (max_body)");
  }
  SUBCASE("a configured limit, whatever the framing") {
    const std::string body(3000, 'x');
    for (const std::string& answer :
         {"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + body,
          "HTTP/1.1 200 OK\r\n\r\n" + body,
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + body.substr(0, 2000) +
              "\r\n3e8\r\n" + body.substr(0, 1000) + "\r\n0\r\n\r\n"}) {
      CAPTURE(answer.substr(0, 50));
      ScriptedServer server(Answer(answer));
      HttpResponse response = PosixHttpClient(2048).Send(
          Get(server.url()), std::chrono::steady_clock::now() + milliseconds(2000));
      CHECK(response.error == HttpError::kMalformed);
      CHECK(response.error_detail == "the response body exceeds 2048 bytes (max_body)");
      ScriptedServer roomy(Answer(answer));
      response = PosixHttpClient(3000).Send(Get(roomy.url()),
                                            std::chrono::steady_clock::now() + milliseconds(2000));
      CHECK(response.ok());
      CHECK(response.body == body);
    }
  }
  SUBCASE("headers over the limit") {
    ScriptedServer server(
        Answer("HTTP/1.1 200 OK\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n"));
    HttpResponse response = Fetch(server.url());
    CHECK(response.error == HttpError::kMalformed);
    CHECK(response.error_detail == "the response headers exceed 16384 bytes");
  }
}

TEST_CASE("PosixHttpClient reports answers that are not HTTP/1.x as malformed") {
  const std::pair<std::string, std::string> cases[] = {
      {"SSH-2.0-OpenSSH_9.2\r\n",
       "the answer is not HTTP/1.x (it starts with \"SSH-2.0-OpenSSH_\")"},
      {"HTTP/2.0 200 OK\r\n\r\n",
       "the answer is not HTTP/1.x (it starts with \"HTTP/2.0 200 OK?\")"},
      {"HTTP/1.1 2000 OK\r\n\r\n", "bad status line \"HTTP/1.1 2000 OK\""},
      {"HTTP/1.1 abc OK\r\n\r\n", "bad status line \"HTTP/1.1 abc OK\""},
      {"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "bad header line \"no colon\""},
      {"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length \"x\""},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       "conflicting Content-Length"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
       "unsupported Transfer-Encoding \"gzip\""},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size line \"zz\""},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
       "a chunk is longer than its size line says"},
  };
  for (const auto& one_case : cases) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& answer = one_case.first;
    const auto& detail = one_case.second;
    CAPTURE(answer);
    ScriptedServer server(Answer(answer));
    HttpResponse response = Fetch(server.url());
    CHECK(response.error == HttpError::kMalformed);
    CHECK(response.error_detail == detail);
  }
}

TEST_CASE("PosixHttpClient reports a close before the answer is complete as reset") {
  SUBCASE("no answer at all") {
    ScriptedServer server(Answer(""));
    HttpResponse response = Fetch(server.url());
    CHECK(response.error == HttpError::kReset);
    CHECK(response.error_detail ==
          "the server closed the connection before the response headers were complete (0 bytes "
          "received)");
  }
  SUBCASE("half a body") {
    ScriptedServer server(Answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"));
    HttpResponse response = Fetch(server.url());
    CHECK(response.error == HttpError::kReset);
    CHECK(response.error_detail ==
          "the server closed the connection in the middle of the response body (43 bytes "
          "received)");
  }
}

TEST_CASE("PosixHttpClient reads an early answer from a server that stops reading the body") {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  HttpServer server(options, [](const ServerRequest&, Responder respond) { respond({}); });
  std::string error;
  REQUIRE(server.Listen(*ParseListenAddress("127.0.0.1:0", &error)) == "");
  server.Start();
  HttpRequest request = Get("http://127.0.0.1:" + std::to_string(server.port()) + "/");
  request.method = "PUT";
  request.body = std::string(512 * 1024, 'x');
  PosixHttpClient client;
  HttpResponse response = client.Send(request, In(milliseconds(3000)));
  REQUIRE_MESSAGE(response.ok(), response.error_detail);
  CHECK(response.status == 413);
}

TEST_CASE("PosixHttpClient refuses requests it would have to send malformed") {
  PosixHttpClient client;
  HttpRequest request = Get("http://127.0.0.1:1/");
  request.headers = {{"X-Evil", "a\r\nHost: other"}};
  HttpResponse response = client.Send(request, In(milliseconds(1000)));
  CHECK(response.error == HttpError::kOther);
  CHECK(response.error_detail == "header X-Evil contains a line break or NUL");

  request = Get("http://127.0.0.1:1/");
  request.method = "GET /x";
  response = client.Send(request, In(milliseconds(1000)));
  CHECK(response.error == HttpError::kOther);
  CHECK(response.error_detail == "invalid request method \"GET /x\"");
}

TEST_CASE("PosixHttpClient with a deadline already passed does not connect") {
  PosixHttpClient client;
  HttpResponse response =
      client.Send(Get("http://127.0.0.1:1/"), std::chrono::steady_clock::now() - milliseconds(1));
  CHECK(response.error == HttpError::kTimeout);
  CHECK(response.error_detail == "the deadline passed before connecting");
}

TEST_CASE("PosixHttpClient talks to an IPv6 loopback server") {
  HttpServer server({}, [](const ServerRequest& request, Responder respond) {
    ServerResponse answer;
    answer.body = request.peer.substr(0, 5);
    respond(answer);
  });
  std::string error;
  std::string problem = server.Listen(*ParseListenAddress("[::1]:0", &error));
  if (!problem.empty()) {
    MESSAGE("skipping: no IPv6 loopback here: " << problem);
    return;
  }
  server.Start();
  PosixHttpClient client;
  HttpResponse response = client.Send(Get("http://[::1]:" + std::to_string(server.port()) + "/"),
                                      In(milliseconds(2000)));
  REQUIRE_MESSAGE(response.ok(), response.error_detail);
  CHECK(response.body == "[::1]");
}

}  // namespace
}  // namespace lastcall

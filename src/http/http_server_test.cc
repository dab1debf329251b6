#include "http/http_server.h"

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http_testing.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using testing::In;
using testing::MillisSince;
using testing::RawClient;
using testing::StatusOf;

ListenAddress Address(const std::string& text) {
  std::string error;
  std::optional<ListenAddress> address = ParseListenAddress(text, &error);
  REQUIRE_MESSAGE(address.has_value(), error);
  return *address;
}

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options, Handler handler,
                                        const std::string& address = "127.0.0.1:0") {
  auto server = std::make_unique<HttpServer>(std::move(options), std::move(handler));
  std::string problem = server->Listen(Address(address));
  REQUIRE_MESSAGE(problem.empty(), problem);
  server->Start();
  return server;
}

// Answers with the request path as the body.
void EchoPath(const ServerRequest& request, Responder respond) {
  ServerResponse response;
  response.body = request.path;
  respond(response);
}

// Holds the Responders of requests to /prestop (answering others with their path), as the
// control endpoint does while the shutdown sequence runs.
class Holder {
 public:
  Handler handler() {
    return [this](const ServerRequest& request, Responder respond) {
      if (request.path != "/prestop") {
        EchoPath(request, std::move(respond));
        return;
      }
      std::lock_guard lock(mu_);
      held_.push_back(std::move(respond));
      cv_.notify_all();
    };
  }

  // Waits until `count` requests are held; false after two seconds.
  bool WaitFor(size_t count) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(2), [&] { return held_.size() >= count; });
  }

  Responder Get(size_t index) {
    std::lock_guard lock(mu_);
    return held_.at(index);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Responder> held_;
};

ServerResponse Text(int status, std::string body) {
  ServerResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

bool WaitForOpenConnections(const HttpServer& server, size_t count) {
  auto deadline = In(milliseconds(2000));
  while (server.open_connections() != count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

TEST_CASE("HttpServer answers a GET with status, Content-Length and the handler's headers") {
  std::mutex mu;
  ServerRequest seen;
  auto server = StartServer({}, [&](const ServerRequest& request, Responder respond) {
    {
      std::lock_guard lock(mu);
      seen = request;
    }
    ServerResponse response;
    response.status = 503;
    response.body = "unready\n";
    response.headers = {
        {"X-Phase", "draining"}, {"X-Evil", "a\r\nSet-Cookie: b"}, {"Content-Length", "999"}};
    respond(response);
  });
  RawClient client = RawClient::Tcp(server->port());
  REQUIRE(client.connected());
  REQUIRE(client.Send(
      "GET /readyz?verbose=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: kube-probe/1.29\r\n\r\n"));
  std::string response = client.ReadResponse();
  CHECK(response ==
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 8\r\n"
        "X-Phase: draining\r\n"
        "\r\n"
        "unready\n");
  std::lock_guard lock(mu);
  CHECK(seen.method == "GET");
  CHECK(seen.path == "/readyz");
  CHECK(seen.query.at("verbose") == "1");
  CHECK(seen.headers.at("user-agent") == "kube-probe/1.29");
  CHECK(seen.peer.starts_with("127.0.0.1:"));
}

TEST_CASE(
    "HttpServer keeps a connection alive across requests and answers pipelined ones in order") {
  auto server = StartServer({}, EchoPath);
  RawClient client = RawClient::Tcp(server->port());
  for (const char* path : {"/a", "/b", "/c"}) {
    REQUIRE(client.Send(std::string("GET ") + path + " HTTP/1.1\r\n\r\n"));
    CHECK(testing::BodyOf(client.ReadResponse()) == path);
  }
  REQUIRE(
      client.Send("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\n"
                  "Content-Length: 3\r\n\r\nabc"));
  CHECK(testing::BodyOf(client.ReadResponse()) == "/1");
  CHECK(testing::BodyOf(client.ReadResponse()) == "/2");
  CHECK(testing::BodyOf(client.ReadResponse()) == "/3");
  CHECK(server->open_connections() == 1);
}

TEST_CASE("HttpServer sends headers only for HEAD") {
  auto server =
      StartServer({}, [](const ServerRequest&, Responder respond) { respond(Text(200, "hello")); });
  RawClient client = RawClient::Tcp(server->port());
  REQUIRE(client.Send("HEAD /livez HTTP/1.1\r\n\r\n"));
  std::string head = client.ReadResponse(milliseconds(2000), /*head=*/true);
  CHECK(head.find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(head.ends_with("\r\n\r\n"));
  // Had the body been sent, it would precede the next status line.
  REQUIRE(client.Send("GET /livez HTTP/1.1\r\n\r\n"));
  std::string next = client.ReadResponse();
  CHECK(next.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(testing::BodyOf(next) == "hello");
}

TEST_CASE("HttpServer closes after HTTP/1.0, Connection: close and max_requests_per_connection") {
  HttpServerOptions options;
  options.max_requests_per_connection = 2;
  auto server = StartServer(options, EchoPath);

  RawClient old_client = RawClient::Tcp(server->port());
  REQUIRE(old_client.Send("GET /old HTTP/1.0\r\n\r\n"));
  CHECK(old_client.ReadResponse().find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(old_client.WaitForClose());

  RawClient keep_alive = RawClient::Tcp(server->port());
  REQUIRE(keep_alive.Send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  CHECK(keep_alive.ReadResponse().find("\r\nConnection: keep-alive\r\n") != std::string::npos);
  REQUIRE(keep_alive.Send("GET /second HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  std::string last = keep_alive.ReadResponse();
  CHECK(testing::BodyOf(last) == "/second");
  CHECK(last.find("\r\nConnection: close\r\n") != std::string::npos);  // the second of two
  CHECK(keep_alive.WaitForClose());

  RawClient closing = RawClient::Tcp(server->port());
  REQUIRE(closing.Send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  CHECK(StatusOf(closing.ReadResponse()) == 200);
  CHECK(closing.WaitForClose());
}

TEST_CASE("HttpServer delivers a deferred answer given later from another thread") {
  Holder holder;
  auto server = StartServer({}, holder.handler());
  std::string url = "http://127.0.0.1:" + std::to_string(server->port());
  std::string error;

  HttpResponse waited;
  milliseconds waited_for{0};
  std::thread waiter([&] {
    HttpRequest request;
    request.url = *ParseUrl(url + "/prestop", &error);
    auto start = std::chrono::steady_clock::now();
    waited = PosixHttpClient().Send(request, In(milliseconds(3000)));
    waited_for = MillisSince(start);
  });
  REQUIRE(holder.WaitFor(1));
  // The server thread is free while /prestop waits.
  HttpRequest probe;
  probe.url = *ParseUrl(url + "/readyz", &error);
  HttpResponse readyz = PosixHttpClient().Send(probe, In(milliseconds(1000)));
  CHECK(readyz.status == 200);

  std::thread answerer([&] {
    std::this_thread::sleep_for(milliseconds(200));
    holder.Get(0)(Text(200, "drained"));
    holder.Get(0)(Text(504, "twice"));  // a second call is ignored
  });
  answerer.join();
  waiter.join();
  REQUIRE_MESSAGE(waited.ok(), waited.error_detail);
  CHECK(waited.status == 200);
  CHECK(waited.body == "drained");
  CHECK(waited_for >= milliseconds(200));
}

TEST_CASE("HttpServer does not process pipelined input past a waiting request") {
  Holder holder;
  auto server = StartServer({}, holder.handler());
  RawClient client = RawClient::Tcp(server->port());
  REQUIRE(client.Send("GET /prestop HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n"));
  REQUIRE(holder.WaitFor(1));
  CHECK(client.ReadResponse(milliseconds(150)).empty());
  holder.Get(0)(Text(200, "first"));
  CHECK(testing::BodyOf(client.ReadResponse()) == "first");
  CHECK(testing::BodyOf(client.ReadResponse()) == "/after");

  // A used Responder must not answer the connection's next waiting request.
  REQUIRE(client.Send("GET /prestop HTTP/1.1\r\n\r\n"));
  REQUIRE(holder.WaitFor(2));
  holder.Get(0)(Text(200, "stale"));
  CHECK(client.ReadResponse(milliseconds(150)).empty());
  holder.Get(1)(Text(200, "second"));
  CHECK(testing::BodyOf(client.ReadResponse()) == "second");
}

TEST_CASE("HttpServer: a deferred request is not subject to request_timeout") {
  HttpServerOptions options;
  options.request_timeout = milliseconds(100);
  options.idle_timeout = milliseconds(100);
  Holder holder;
  auto server = StartServer(options, holder.handler());
  RawClient client = RawClient::Tcp(server->port());
  REQUIRE(client.Send("GET /prestop HTTP/1.1\r\n\r\n"));
  REQUIRE(holder.WaitFor(1));
  std::this_thread::sleep_for(milliseconds(350));
  holder.Get(0)(Text(200, "late but fine"));
  CHECK(testing::BodyOf(client.ReadResponse()) == "late but fine");
}

TEST_CASE("HttpServer closes a waiting request's connection when the client resets it") {
  Holder holder;
  auto server = StartServer({}, holder.handler());
  RawClient client = RawClient::Tcp(server->port());
  REQUIRE(client.Send("GET /prestop HTTP/1.1\r\n\r\n"));
  REQUIRE(holder.WaitFor(1));
  CHECK(server->open_connections() == 1);
  linger reset{1, 0};  // close() sends RST: the client is gone for certain
  setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  client.Close();
  CHECK(WaitForOpenConnections(*server, 0));
  holder.Get(0)(Text(200, "nobody listens"));  // harmless

  RawClient next = RawClient::Tcp(server->port());
  REQUIRE(next.Send("GET /still-fine HTTP/1.1\r\n\r\n"));
  CHECK(testing::BodyOf(next.ReadResponse()) == "/still-fine");
}

// A FIN looks the same whether the client closed or only shut down its sending side: the
// request stays with the handler, and the connection goes once the answer was written.
TEST_CASE("HttpServer answers a waiting request after the client half-closes") {
  Holder holder;
  auto server = StartServer({}, holder.handler());
  RawClient client = RawClient::Tcp(server->port());
  SUBCASE("shutdown(SHUT_WR) after the request") {
    REQUIRE(client.Send("GET /prestop HTTP/1.1\r\n\r\n"));
    REQUIRE(holder.WaitFor(1));
    REQUIRE(shutdown(client.fd(), SHUT_WR) == 0);
  }
  SUBCASE("the request and the FIN arrive together") {
    REQUIRE(client.Send("GET /prestop HTTP/1.1\r\nConnection: close\r\n\r\n"));
    REQUIRE(shutdown(client.fd(), SHUT_WR) == 0);
    REQUIRE(holder.WaitFor(1));
  }
  std::this_thread::sleep_for(milliseconds(100));  // the FIN has reached the server
  CHECK(server->open_connections() == 1);
  holder.Get(0)(Text(200, "drained"));
  const std::string response = client.ReadResponse();
  CHECK(StatusOf(response) == 200);
  CHECK(testing::BodyOf(response) == "drained");
  CHECK(client.WaitForClose());
  CHECK(WaitForOpenConnections(*server, 0));
}

TEST_CASE("HttpServer frees a waiting request's connection once its answer is out") {
  Holder holder;
  auto server = StartServer({}, holder.handler());
  RawClient client = RawClient::Tcp(server->port());
  REQUIRE(client.Send("GET /prestop HTTP/1.1\r\n\r\n"));
  REQUIRE(holder.WaitFor(1));
  client.Close();  // a plain close: to the server, a half-close
  holder.Get(0)(Text(200, "nobody reads this"));
  CHECK(WaitForOpenConnections(*server, 0));
}

TEST_CASE("HttpServer::Stop closes waiting requests without an answer") {
  Holder holder;
  auto server = StartServer({}, holder.handler());
  RawClient client = RawClient::Tcp(server->port());
  REQUIRE(client.Send("GET /prestop HTTP/1.1\r\n\r\n"));
  REQUIRE(holder.WaitFor(1));
  server->Stop();
  CHECK(client.ReadResponse(milliseconds(500)).empty());
  holder.Get(0)(Text(200, "after stop"));  // harmless
  server->Stop();                          // idempotent
  server.reset();
  // Even after the server is gone.
  Responder kept = holder.Get(0);
  kept(Text(200, "after destruction"));
}

TEST_CASE("HttpServer rejects bad, oversized and slow requests, then closes") {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  options.max_body_bytes = 64;
  options.request_timeout = milliseconds(200);
  options.idle_timeout = milliseconds(300);
  auto server = StartServer(options, EchoPath);

  struct Case {
    std::string request;
    std::string status_line;
    std::string body;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431 Request Header Fields Too Large", "request headers too large\n"},
      {"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", "HTTP/1.1 413 Content Too Large",
       "request body too large\n"},
      {"BLAH\r\n\r\n", "HTTP/1.1 400 Bad Request",
       "bad request: the request line must be METHOD TARGET HTTP/1.x\n"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 400 Bad Request",
       "bad request: Transfer-Encoding is not supported; send Content-Length\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.status_line);
    RawClient client = RawClient::Tcp(server->port());
    REQUIRE(client.Send(c.request));
    std::string response = client.ReadResponse();
    CHECK(response.starts_with(c.status_line + "\r\n"));
    CHECK(response.find("\r\nConnection: close\r\n") != std::string::npos);
    CHECK(testing::BodyOf(response) == c.body);
    CHECK(client.WaitForClose());
  }

  SUBCASE("408 when the request does not complete in time") {
    RawClient client = RawClient::Tcp(server->port());
    auto start = std::chrono::steady_clock::now();
    REQUIRE(client.Send("GET /slow HTTP/1.1\r\nHost: x\r\n"));
    std::string response = client.ReadResponse();
    CHECK(response.starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    CHECK(MillisSince(start) >= milliseconds(200));
    CHECK(MillisSince(start) < milliseconds(400));
    CHECK(client.WaitForClose());
  }
  SUBCASE("a trickle that keeps sending still gets 408") {
    RawClient client = RawClient::Tcp(server->port());
    auto start = std::chrono::steady_clock::now();
    std::string request = "GET /trickle HTTP/1.1\r\nX-A: " + std::string(100, 'a');
    for (char c : request) {
      if (MillisSince(start) > milliseconds(300)) break;
      if (!client.Send(std::string(1, c))) break;
      std::this_thread::sleep_for(milliseconds(10));
    }
    CHECK(client.ReadResponse().starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    CHECK(MillisSince(start) < milliseconds(450));
  }
  SUBCASE("an idle connection is closed without an answer") {
    RawClient client = RawClient::Tcp(server->port());
    auto start = std::chrono::steady_clock::now();
    CHECK(client.ReadResponse(milliseconds(1000)).empty());
    CHECK(MillisSince(start) >= milliseconds(300));
    CHECK(MillisSince(start) < milliseconds(600));
  }
}

TEST_CASE("HttpServer at max_connections evicts the longest-waiting connection") {
  HttpServerOptions options;
  options.max_connections = 3;
  Holder holder;
  auto server = StartServer(options, holder.handler());
  // Connects one more client and waits until the server has accepted it, so accept order (and
  // with it the eviction order) is the order of this function's calls.
  auto connect = [&](size_t expected_open) {
    RawClient client = RawClient::Tcp(server->port());
    REQUIRE(client.connected());
    CHECK(WaitForOpenConnections(*server, expected_open));
    return client;
  };

  SUBCASE("idle connections go oldest first") {
    RawClient a = connect(1);
    RawClient b = connect(2);
    RawClient c = connect(3);
    RawClient d = RawClient::Tcp(server->port());
    REQUIRE(d.Send("GET /new HTTP/1.1\r\n\r\n"));
    CHECK(testing::BodyOf(d.ReadResponse()) == "/new");
    CHECK(a.WaitForClose(milliseconds(500)));
    CHECK_FALSE(b.WaitForClose(milliseconds(50)));
    CHECK_FALSE(c.WaitForClose(milliseconds(50)));
    CHECK(server->open_connections() == 3);
  }
  SUBCASE("a waiting /prestop is never evicted while another connection can go") {
    RawClient a = connect(1);
    REQUIRE(a.Send("GET /prestop HTTP/1.1\r\n\r\n"));
    REQUIRE(holder.WaitFor(1));
    RawClient b = connect(2);
    RawClient c = connect(3);
    RawClient d = RawClient::Tcp(server->port());
    REQUIRE(d.Send("GET /new HTTP/1.1\r\n\r\n"));
    CHECK(testing::BodyOf(d.ReadResponse()) == "/new");
    CHECK(b.WaitForClose(milliseconds(500)));
    holder.Get(0)(Text(200, "kept"));
    CHECK(testing::BodyOf(a.ReadResponse()) == "kept");
  }
  SUBCASE("when every connection waits, the newcomer is refused") {
    RawClient a = connect(1);
    RawClient b = connect(2);
    RawClient c = connect(3);
    for (RawClient* client : {&a, &b, &c}) {
      REQUIRE(client->Send("GET /prestop HTTP/1.1\r\n\r\n"));
    }
    REQUIRE(holder.WaitFor(3));
    RawClient d = RawClient::Tcp(server->port());
    CHECK(d.WaitForClose(milliseconds(500)));
    for (size_t i = 0; i < 3; ++i) holder.Get(i)(Text(200, "answered " + std::to_string(i)));
    std::vector<std::string> bodies;
    for (RawClient* client : {&a, &b, &c})
      bodies.push_back(testing::BodyOf(client->ReadResponse()));
    std::sort(bodies.begin(), bodies.end());
    CHECK(bodies == std::vector<std::string>{"answered 0", "answered 1", "answered 2"});
  }
}

TEST_CASE("HttpServer: Expect: 100-continue gets 100 before the body, or a final status") {
  auto server = StartServer({}, [](const ServerRequest& request, Responder respond) {
    respond(Text(200, request.path + ":" + request.body));
  });
  RawClient client = RawClient::Tcp(server->port());
  SUBCASE("a body that fits: 100 Continue, then the answer") {
    REQUIRE(
        client.Send("POST /prestop HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    CHECK(client.ReadResponse() == "HTTP/1.1 100 Continue\r\n\r\n");
    REQUIRE(client.Send("hello"));
    CHECK(testing::BodyOf(client.ReadResponse()) == "/prestop:hello");
    // The next request on the connection gets its own 100.
    REQUIRE(client.Send("PUT /b HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
    CHECK(client.ReadResponse() == "HTTP/1.1 100 Continue\r\n\r\n");
    REQUIRE(client.Send("ok"));
    CHECK(testing::BodyOf(client.ReadResponse()) == "/b:ok");
  }
  SUBCASE("the body sent at once: no 100 needed") {
    REQUIRE(client.Send("POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"));
    const std::string response = client.ReadResponse();
    CHECK(StatusOf(response) == 200);
    CHECK(testing::BodyOf(response) == "/x:hi");
  }
  SUBCASE("a body too large: 413 without waiting for it") {
    REQUIRE(
        client.Send("POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 99999\r\n\r\n"));
    CHECK(StatusOf(client.ReadResponse()) == 413);
    CHECK(client.WaitForClose());
  }
  SUBCASE("an expectation it cannot meet: 417") {
    REQUIRE(client.Send("POST /x HTTP/1.1\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n"));
    CHECK(StatusOf(client.ReadResponse()) == 417);
  }
}

TEST_CASE("HttpServer routes absolute-form targets by path and answers 501 to unknown methods") {
  auto server = StartServer({}, EchoPath);
  RawClient client = RawClient::Tcp(server->port());
  REQUIRE(client.Send("GET http://10.0.0.7:9901/readyz?x=1 HTTP/1.1\r\nHost: 10.0.0.7\r\n\r\n"));
  CHECK(testing::BodyOf(client.ReadResponse()) == "/readyz");
  REQUIRE(client.Send("BREW /pot HTTP/1.1\r\n\r\n"));
  const std::string response = client.ReadResponse();
  CHECK(StatusOf(response) == 501);
  CHECK(testing::BodyOf(response) == "method BREW is not known\n");
}

TEST_CASE("ConnectionBudget leaves the reserve to the rest of the process") {
  CHECK(ConnectionBudget(1024, 64) == 960);
  CHECK(ConnectionBudget(256, 64) == 192);
  CHECK(ConnectionBudget(100, 64) == 50);  // a reserve over half the limit: half each
  CHECK(ConnectionBudget(0, 64) == SIZE_MAX);
}

// The descriptor numbers the kernel hands out tell how full the process's table is, whoever holds
// the descriptors: past the budget, a newcomer evicts the oldest idle connection even though
// max_connections is far away.
TEST_CASE("HttpServer evicts once accepted descriptors reach the budget") {
  HttpServerOptions options;
  options.max_connections = 100000;
  // A budget a few descriptors above the ones already open: the third client crosses it.
  const int lowest_free = dup(0);
  REQUIRE(lowest_free >= 0);
  close(lowest_free);
  options.reserved_descriptors = 16;
  options.file_limit = static_cast<size_t>(lowest_free) + 8 + options.reserved_descriptors;
  auto server = StartServer(options, EchoPath);  // takes 3 (listener, epoll, eventfd)
  std::vector<RawClient> clients;
  size_t admitted = 0;
  for (int i = 0; i < 12; ++i) {
    clients.push_back(RawClient::Tcp(server->port()));
    REQUIRE(clients.back().Send("GET /x HTTP/1.1\r\n\r\n"));
    REQUIRE(testing::BodyOf(clients.back().ReadResponse()) == "/x");
    admitted = server->open_connections();
  }
  // Each client costs the test one descriptor and the server one more, so the server reaches
  // its budget after two or three clients and then trades its oldest connection for each new one.
  CHECK(admitted >= 1);
  CHECK(admitted <= 3);
  CHECK(clients.front().WaitForClose(milliseconds(500)));  // the oldest went first
  CHECK_FALSE(clients.back().WaitForClose(milliseconds(50)));
}

TEST_CASE("HttpServer::Listen reports an address in use") {
  auto first = StartServer({}, EchoPath);
  HttpServer second({}, EchoPath);
  std::string address = "127.0.0.1:" + std::to_string(first->port());
  CHECK(second.Listen(Address(address)) == address + ": address already in use");
}

TEST_CASE("HttpServer on :PORT serves IPv4 and IPv6 clients") {
  auto server = StartServer(
      {}, [](const ServerRequest& request, Responder respond) { respond(Text(200, request.peer)); },
      ":0");
  RawClient v4 = RawClient::Tcp(server->port(), "127.0.0.1");
  REQUIRE(v4.Send("GET / HTTP/1.1\r\n\r\n"));
  CHECK(testing::BodyOf(v4.ReadResponse()).starts_with("127.0.0.1:"));
  RawClient v6 = RawClient::Tcp(server->port(), "::1");
  if (v6.connected()) {
    REQUIRE(v6.Send("GET / HTTP/1.1\r\n\r\n"));
    CHECK(testing::BodyOf(v6.ReadResponse()).starts_with("[::1]:"));
  }
}

TEST_CASE("HttpServer on a Unix socket") {
  testing::TempDir dir;
  REQUIRE(!dir.path().empty());
  std::string path = dir.path() + "/run/lastcall/control.sock";
  std::string address = "unix://" + path;

  SUBCASE("creates the directory, sets the mode, serves, and removes the file on Stop") {
    auto server = StartServer({}, EchoPath, address);
    struct stat info {};
    REQUIRE(stat(path.c_str(), &info) == 0);
    CHECK(S_ISSOCK(info.st_mode));
    CHECK((info.st_mode & 07777) == 0660);
    REQUIRE(stat((dir.path() + "/run/lastcall").c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0750);
    RawClient client = RawClient::Unix(path);
    REQUIRE(client.Send("GET /prestop HTTP/1.1\r\n\r\n"));
    CHECK(testing::BodyOf(client.ReadResponse()) == "/prestop");
    server->Stop();
    CHECK(lstat(path.c_str(), &info) != 0);
  }
  SUBCASE("honours unix_socket_mode") {
    HttpServerOptions options;
    options.unix_socket_mode = 0600;
    auto server = StartServer(options, EchoPath, address);
    struct stat info {};
    REQUIRE(stat(path.c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0600);
  }
  SUBCASE("replaces a stale socket file") {
    std::filesystem::create_directories(dir.path() + "/run/lastcall");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un stale{};
    stale.sun_family = AF_UNIX;
    std::strncpy(stale.sun_path, path.c_str(), sizeof(stale.sun_path) - 1);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&stale), sizeof(stale)) == 0);
    close(fd);  // the file stays: a crashed process left it
    auto server = StartServer({}, EchoPath, address);
    RawClient client = RawClient::Unix(path);
    REQUIRE(client.Send("GET /fresh HTTP/1.1\r\n\r\n"));
    CHECK(testing::BodyOf(client.ReadResponse()) == "/fresh");
  }
  SUBCASE("refuses to replace a live socket") {
    auto first = StartServer({}, EchoPath, address);
    HttpServer second({}, EchoPath);
    CHECK(second.Listen(Address(address)) ==
          address + ": another process (another lastcall?) is already listening on " + path);
    second.Stop();
    RawClient client = RawClient::Unix(path);  // the first one is unharmed
    REQUIRE(client.Send("GET /first HTTP/1.1\r\n\r\n"));
    CHECK(testing::BodyOf(client.ReadResponse()) == "/first");
  }
  SUBCASE("refuses to replace a file that is not a socket") {
    std::filesystem::create_directories(dir.path() + "/run/lastcall");
    std::ofstream(path) << "precious";
    HttpServer server({}, EchoPath);
    CHECK(server.Listen(Address(address)) ==
          address + ": " + path + " exists and is not a socket; refusing to replace it");
    std::ifstream in(path);
    std::string content;
    in >> content;
    CHECK(content == "precious");
  }
  SUBCASE("Stop leaves a file that replaced ours alone") {
    auto server = StartServer({}, EchoPath, address);
    REQUIRE(unlink(path.c_str()) == 0);
    std::ofstream(path) << "new";
    server->Stop();
    struct stat info {};
    CHECK(lstat(path.c_str(), &info) == 0);
  }
}

TEST_CASE("RaiseFileLimit raises the soft limit to the hard limit") {
  size_t limit = RaiseFileLimit();
  rlimit current{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &current) == 0);
  CHECK(limit == current.rlim_cur);
  CHECK((current.rlim_cur == current.rlim_max || current.rlim_cur == (rlim_t{1} << 20)));
}

// A thousand connections each trickling one byte a second (the slowloris attack) must not delay
// a probe: every GET is answered within 100 ms while they trickle.
TEST_CASE("HttpServer answers promptly under a slowloris attack") {
  constexpr size_t kAttackers = 1000;
  constexpr int kProbes = 20;
  auto server = StartServer({}, EchoPath);
  REQUIRE(RaiseFileLimit() >= 2 * kAttackers + 64);

  std::vector<RawClient> attackers;
  attackers.reserve(kAttackers);
  for (size_t i = 0; i < kAttackers; ++i) {
    attackers.push_back(RawClient::Tcp(server->port()));
    REQUIRE(attackers.back().connected());
  }
  REQUIRE(WaitForOpenConnections(*server, kAttackers));

  std::atomic<bool> done{false};
  std::thread trickle([&] {
    const std::string request = "GET /slow HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaa";
    for (size_t second = 0; !done.load() && second < request.size(); ++second) {
      for (RawClient& attacker : attackers) attacker.Send(std::string(1, request[second]));
      for (int i = 0; i < 100 && !done.load(); ++i) std::this_thread::sleep_for(milliseconds(10));
    }
  });

  std::string error;
  HttpRequest probe;
  probe.url = *ParseUrl("http://127.0.0.1:" + std::to_string(server->port()) + "/readyz", &error);
  PosixHttpClient client;
  std::chrono::microseconds slowest{0};
  int answered = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kProbes; ++i) {
    // Spread the probes over ~3 s so they meet every trickle burst.
    std::this_thread::sleep_until(start + milliseconds(150) * i);
    auto sent = std::chrono::steady_clock::now();
    HttpResponse response = client.Send(probe, In(milliseconds(1000)));
    slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - sent));
    if (response.ok() && response.status == 200 && response.body == "/readyz") ++answered;
  }
  done.store(true);
  trickle.join();
  MESSAGE("slowest of " << kProbes << " probes beside " << kAttackers
                        << " slowloris connections: " << slowest.count() << " us");
  CHECK(answered == kProbes);
  CHECK(slowest < milliseconds(100));
  // The attackers were not simply dropped: they are still connected, waiting for their timeout.
  CHECK(server->open_connections() >= kAttackers);
}

}  // namespace
}  // namespace lastcall

namespace lastcall {
namespace {

TEST_CASE("HttpServer: a waiting request's caller that resets is closed and its handler told") {
  std::atomic<int> left{0};
  std::mutex mu;
  std::vector<Responder> held;
  auto server = StartServer({}, [&](const ServerRequest& request, Responder respond) {
    if (request.path != "/wait") {
      respond(Text(200, "now"));
      return;
    }
    respond.OnCallerLeft([&left] { ++left; });
    std::lock_guard lock(mu);
    held.push_back(std::move(respond));
  });
  {
    RawClient client = RawClient::Tcp(server->port());
    REQUIRE(client.Send("GET /wait HTTP/1.1\r\n\r\n"));
    REQUIRE(WaitForOpenConnections(*server, 1));
    linger reset{1, 0};  // close() sends a reset: the caller is gone, not half-closed
    setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    client.Close();
  }
  REQUIRE(WaitForOpenConnections(*server, 0));
  CHECK(left.load() == 1);
  // A caller that is answered is never reported as gone, and an answer after a departure is
  // harmless.
  {
    RawClient client = RawClient::Tcp(server->port());
    REQUIRE(client.Send("GET /now HTTP/1.1\r\n\r\n"));
    CHECK(client.ReadResponse().find("now") != std::string::npos);
  }
  std::lock_guard lock(mu);
  for (const Responder& respond : held) respond(Text(200, "late"));
  CHECK(left.load() == 1);
}

TEST_CASE("HttpServer: a handler that throws costs its connection, not the server") {
  auto server = StartServer({}, [&](const ServerRequest& request, Responder respond) {
    if (request.path == "/throw") throw std::bad_alloc();
    respond(Text(200, "fine"));
  });
  RawClient thrower = RawClient::Tcp(server->port());
  REQUIRE(thrower.Send("GET /throw HTTP/1.1\r\n\r\n"));
  CHECK(thrower.WaitForClose());
  RawClient client = RawClient::Tcp(server->port());
  REQUIRE(client.Send("GET /ok HTTP/1.1\r\n\r\n"));
  CHECK(client.ReadResponse().find("fine") != std::string::npos);
}

}  // namespace
}  // namespace lastcall

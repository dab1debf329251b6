#include "rehearse_balancer.h"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <thread>

#include "http/http_server.h"
#include "http_testing.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using testing::BodyOf;
using testing::ClosedPort;
using testing::RawClient;
using testing::StatusOf;

// The replica: answers "replica PATH".
std::unique_ptr<HttpServer> StartReplica() {
  auto server = std::make_unique<HttpServer>(
      HttpServerOptions{}, [](const ServerRequest& request, const Responder& respond) {
        ServerResponse response;
        response.body = "replica " + request.path;
        respond(std::move(response));
      });
  std::string error;
  const std::optional<ListenAddress> address = ParseListenAddress("127.0.0.1:0", &error);
  REQUIRE(address.has_value());
  REQUIRE(server->Listen(*address).empty());
  server->Start();
  return server;
}

std::string Get(RawClient& client, const std::string& path) {
  REQUIRE(client.Send("GET " + path + " HTTP/1.1\r\nHost: rehearse\r\n\r\n"));
  return client.ReadResponse();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE(
    "new connections go to the replica until the endpoint is removed, then elsewhere; "
    "connections from before stay on the replica") {
  std::unique_ptr<HttpServer> replica = StartReplica();
  LoadBalancer balancer("127.0.0.1", replica->port());
  REQUIRE(balancer.Start().empty());
  CHECK_FALSE(balancer.endpoint_removed());

  RawClient before = RawClient::Tcp(balancer.port());
  std::string answer = Get(before, "/a");
  CHECK(StatusOf(answer) == 200);
  CHECK(BodyOf(answer) == "replica /a");

  balancer.RemoveEndpoint();
  balancer.RemoveEndpoint();  // idempotent
  CHECK(balancer.endpoint_removed());
  RawClient after = RawClient::Tcp(balancer.port());
  for (const char* path : {"/b", "/c"}) {  // the stand-in keeps its connection alive
    answer = Get(after, path);
    CHECK(StatusOf(answer) == 200);
    CHECK(Contains(answer, "X-Lastcall-Rehearse: other-replica\r\n"));
    CHECK(BodyOf(answer) == "served by another replica\n");
  }

  // What kube-proxy does too: the established connection still reaches the terminating pod.
  answer = Get(before, "/d");
  CHECK(BodyOf(answer) == "replica /d");
  CHECK_FALSE(Contains(answer, "X-Lastcall-Rehearse"));

  const BalancerCounts counts = balancer.counts();
  CHECK(counts.to_replica == 1);
  CHECK(counts.to_other_replicas == 1);
  CHECK(counts.refused == 0);

  // The replica goes away: its connections close on the client's side as well.
  replica->Stop();
  CHECK(before.WaitForClose(milliseconds(2000)));
  balancer.Stop();
  balancer.Stop();  // idempotent
}

TEST_CASE("a replica nobody listens on: the request gets 502 marked refused") {
  ClosedPort closed;
  LoadBalancer balancer("127.0.0.1", closed.port());
  REQUIRE(balancer.Start().empty());
  RawClient client = RawClient::Tcp(balancer.port());
  const std::string answer = Get(client, "/x");
  CHECK(StatusOf(answer) == 502);
  CHECK(Contains(answer, "X-Lastcall-Rehearse: refused\r\n"));
  CHECK(Contains(answer, "Connection: close\r\n"));
  CHECK(client.WaitForClose(milliseconds(2000)));
  CHECK(balancer.counts().refused == 1);
  CHECK(balancer.counts().to_replica == 0);
}

TEST_CASE("a replica that resets the connection: the client's connection is reset too") {
  uint16_t port = 0;
  const int listener = testing::BindLoopback(&port);
  REQUIRE(listen(listener, 8) == 0);
  std::thread replica([listener] {
    const int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    testing::ReadRequestHead(fd);
    linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(fd);
  });
  LoadBalancer balancer("127.0.0.1", port);
  REQUIRE(balancer.Start().empty());
  PosixHttpClient http;
  HttpRequest request;
  request.url.host = "127.0.0.1";
  request.url.port = balancer.port();
  const HttpResponse response =
      http.Send(request, std::chrono::steady_clock::now() + milliseconds(2000));
  replica.join();
  close(listener);
  CHECK(response.error == HttpError::kReset);
  CHECK(balancer.counts().to_replica == 1);
}

}  // namespace
}  // namespace lastcall

#include "webhook_server.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "base/url.h"
#include "tls/certs.h"
#include "tls_test_client.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using test::TlsTestClient;
constexpr const char* kName = "hook.ops.svc";

std::string MakeTempDir() {
  std::string pattern = "/tmp/webhook-server-test-XXXXXX";
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

void WriteFile(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
  }
  REQUIRE(rename(temporary.c_str(), path.c_str()) == 0);
}

tls::WebhookCertificates WriteCerts(const std::string& dir) {
  auto made = tls::MakeWebhookCertificates("hook", "ops", std::chrono::system_clock::now());
  REQUIRE(made.ok());
  WriteFile(dir + "/tls.key", made->key_pem);
  WriteFile(dir + "/tls.crt", made->cert_pem);
  return *made;
}

// A server with an echo handler on 127.0.0.1, certificates in a fresh directory.
struct Fixture {
  std::string dir = MakeTempDir();
  tls::WebhookCertificates certs = WriteCerts(dir);
  WebhookServerOptions options;
  std::unique_ptr<WebhookServer> server;

  explicit Fixture(void (*tune)(WebhookServerOptions*) = nullptr) {
    options.cert_file = dir + "/tls.crt";
    options.key_file = dir + "/tls.key";
    options.reload_interval = milliseconds(50);
    if (tune != nullptr) tune(&options);
    server = std::make_unique<WebhookServer>(
        options,
        [](const ServerRequest& request) {
          if (request.body == "slow") std::this_thread::sleep_for(milliseconds(600));
          if (request.body == "throw") throw std::runtime_error("handler broke");
          ServerResponse response;
          response.content_type = "application/json";
          response.body = "echo:" + request.body;
          return response;
        },
        [] { return std::string("extra_metric 1\n"); });
    REQUIRE(server->LoadIdentity().ok());
    std::string error;
    auto address = ParseListenAddress("127.0.0.1:0", &error);
    REQUIRE(server->Listen(*address) == "");
    server->Start();
  }
  ~Fixture() {
    server->Stop();
    std::string command = "rm -rf " + dir;
    (void)!std::system(command.c_str());
  }
  uint16_t port() const { return server->port(); }
  std::unique_ptr<TlsTestClient> Connect(const std::string& ca_pem, std::string* error) const {
    return TlsTestClient::Connect(port(), ca_pem, kName, error);
  }
  std::unique_ptr<TlsTestClient> Connect() const {
    std::string error;
    auto client = Connect(certs.ca_pem, &error);
    INFO(error);
    REQUIRE(client != nullptr);
    return client;
  }
};

int RawConnect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  timeval timeout{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

// Reads until the peer closes (or 3 s pass); returns what came, and whether it closed.
std::pair<std::string, bool> ReadUntilClosed(int fd) {
  std::string got;
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      got.append(buffer, static_cast<size_t>(n));
      continue;
    }
    return {got, n == 0 || (n < 0 && errno == ECONNRESET)};
  }
}

TEST_CASE("WebhookServer: /mutate reaches the handler over TLS; /healthz, /readyz, /metrics") {
  Fixture fixture;
  auto client = fixture.Connect();
  auto answer = client->Request("POST", "/mutate?timeout=2s", R"({"kind":"AdmissionReview"})");
  CHECK(answer.status == 200);
  CHECK(answer.body == R"(echo:{"kind":"AdmissionReview"})");
  // Keep-alive: the same connection serves the next requests.
  CHECK(client->Request("GET", "/healthz").body == "ok\n");
  CHECK(client->Request("GET", "/readyz").body == "ready\n");
  CHECK(client->Request("GET", "/mutate").status == 405);
  CHECK(client->Request("GET", "/nope").status == 404);
  const auto metrics = client->Request("GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("lastcall_webhook_requests_total{route=\"mutate\",code=\"200\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.body.find("lastcall_webhook_requests_total{route=\"mutate\",code=\"405\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.body.find("lastcall_webhook_request_duration_seconds_count 1\n") !=
        std::string::npos);
  CHECK(metrics.body.find("lastcall_webhook_tls_handshakes_total 1\n") != std::string::npos);
  CHECK(metrics.body.find("lastcall_webhook_connections 1\n") != std::string::npos);
  CHECK(metrics.body.find("extra_metric 1\n") != std::string::npos);
}

TEST_CASE("WebhookServer: a slow admission holds up no other connection; a throw is a 500") {
  Fixture fixture;
  auto slow = fixture.Connect();
  auto other = fixture.Connect();
  std::thread waiting([&] { CHECK(slow->Request("POST", "/mutate", "slow").body == "echo:slow"); });
  std::this_thread::sleep_for(milliseconds(100));
  const auto started = std::chrono::steady_clock::now();
  CHECK(other->Request("GET", "/healthz").status == 200);
  CHECK(fixture.Connect()->Request("POST", "/mutate", "x").body == "echo:x");
  CHECK(std::chrono::steady_clock::now() - started < milliseconds(300));
  waiting.join();
  CHECK(other->Request("POST", "/mutate", "throw").status == 500);
  CHECK(other->Request("POST", "/mutate", "after").body == "echo:after");
}

TEST_CASE("WebhookServer: pipelined requests are answered in order") {
  Fixture fixture;
  auto client = fixture.Connect();
  std::string two;
  for (const char* body : {"one", "two"}) {
    two += std::string("POST /mutate HTTP/1.1\r\nContent-Length: 3\r\n\r\n") + body;
  }
  REQUIRE(client->SendRaw(two));
  CHECK(client->ReadAnswer().body == "echo:one");
  CHECK(client->ReadAnswer().body == "echo:two");
}

TEST_CASE("WebhookServer: a body over the limit gets 413 before it is read, then the close") {
  Fixture fixture([](WebhookServerOptions* o) { o->max_body_bytes = 1000; });
  auto client = fixture.Connect();
  auto fits = client->Request("POST", "/mutate", std::string(1000, 'x'));
  CHECK(fits.status == 200);
  // Only the head: the answer comes without waiting for the body.
  REQUIRE(client->SendRaw("POST /mutate HTTP/1.1\r\nContent-Length: 1001\r\n\r\n"));
  auto refused = client->ReadAnswer();
  CHECK(refused.status == 413);
  CHECK(refused.head.find("Connection: close") != std::string::npos);
  CHECK(client->ClosedByServer());
}

TEST_CASE("WebhookServer: malformed HTTP over TLS gets 400 and the close") {
  Fixture fixture;
  auto client = fixture.Connect();
  REQUIRE(client->SendRaw("this is not HTTP\r\n\r\n"));
  CHECK(client->ReadAnswer().status == 400);
  CHECK(client->ClosedByServer());
}

TEST_CASE("WebhookServer: plain HTTP on the TLS port is told so, then closed") {
  Fixture fixture;
  const int fd = RawConnect(fixture.port());
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(send(fd, request.data(), request.size(), MSG_NOSIGNAL) > 0);
  auto [got, closed] = ReadUntilClosed(fd);
  close(fd);
  CHECK(got.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK(got.find("This port speaks HTTPS") != std::string::npos);
  CHECK(closed);
  // The server goes on.
  CHECK(fixture.Connect()->Request("GET", "/healthz").status == 200);
}

TEST_CASE("WebhookServer: garbage bytes and a broken ClientHello are closed without an answer") {
  Fixture fixture;
  for (const std::string& bytes : {std::string("\x01\x02\x03\xff garbage", 12),
                                   std::string("\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff", 10)}) {
    const int fd = RawConnect(fixture.port());
    REQUIRE(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) > 0);
    const auto started = std::chrono::steady_clock::now();
    auto [got, closed] = ReadUntilClosed(fd);
    close(fd);
    CHECK(closed);
    CHECK(std::chrono::steady_clock::now() - started < milliseconds(1000));
    // BearSSL may send an alert record before closing; never an HTTP answer.
    CHECK(got.find("HTTP/") == std::string::npos);
  }
  CHECK(fixture.Connect()->Request("GET", "/healthz").status == 200);
}

TEST_CASE("WebhookServer: a handshake that never finishes is closed at the deadline") {
  Fixture fixture([](WebhookServerOptions* o) { o->handshake_timeout = milliseconds(300); });
  const int silent = RawConnect(fixture.port());
  const int partial = RawConnect(fixture.port());
  // The start of a ClientHello record that announces more than it sends.
  const std::string hello("\x16\x03\x01\x00\x80\x01\x00\x00\x7c\x03\x03", 11);
  REQUIRE(send(partial, hello.data(), hello.size(), MSG_NOSIGNAL) > 0);
  const auto started = std::chrono::steady_clock::now();
  for (int fd : {silent, partial}) {
    auto [got, closed] = ReadUntilClosed(fd);
    close(fd);
    CHECK(closed);
  }
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took >= milliseconds(200));
  CHECK(took < milliseconds(1500));
  auto metrics = fixture.Connect()->Request("GET", "/metrics").body;
  CHECK(metrics.find("lastcall_webhook_tls_handshake_failures_total{reason=\"timeout\"} 2\n") !=
        std::string::npos);
}

TEST_CASE("WebhookServer: idle keep-alive and slow requests are closed at their deadlines") {
  Fixture fixture([](WebhookServerOptions* o) {
    o->idle_timeout = milliseconds(300);
    o->request_timeout = milliseconds(300);
  });
  auto idle = fixture.Connect();
  CHECK(idle->Request("GET", "/healthz").status == 200);
  auto slow = fixture.Connect();
  REQUIRE(slow->SendRaw("POST /mutate HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  const auto started = std::chrono::steady_clock::now();
  CHECK(idle->ClosedByServer());
  CHECK(slow->ClosedByServer());
  CHECK(std::chrono::steady_clock::now() - started < milliseconds(1500));
}

TEST_CASE("WebhookServer: at the connection limit the oldest idle connection makes room") {
  Fixture fixture([](WebhookServerOptions* o) { o->max_connections = 2; });
  auto first = fixture.Connect();
  CHECK(first->Request("GET", "/healthz").status == 200);
  std::this_thread::sleep_for(milliseconds(20));
  auto second = fixture.Connect();
  CHECK(second->Request("GET", "/healthz").status == 200);
  auto third = fixture.Connect();
  CHECK(third->Request("GET", "/healthz").status == 200);
  CHECK(first->ClosedByServer());
  CHECK(second->Request("GET", "/healthz").status == 200);
  CHECK(fixture.server->open_connections() == 2);
  auto metrics = third->Request("GET", "/metrics").body;
  CHECK(metrics.find("lastcall_webhook_connections_total{result=\"evicted\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("WebhookServer: rotated files serve new handshakes; open connections keep theirs") {
  Fixture fixture;
  auto before = fixture.Connect();
  CHECK(before->Request("POST", "/mutate", "a").status == 200);
  const tls::WebhookCertificates old_certs = fixture.certs;
  const tls::WebhookCertificates rotated = WriteCerts(fixture.dir);
  // New handshakes present the new certificate: only the new CA verifies them.
  std::string error;
  bool switched = false;
  for (int i = 0; i < 100 && !switched; ++i) {
    switched = fixture.Connect(rotated.ca_pem, &error) != nullptr;
    if (!switched) std::this_thread::sleep_for(milliseconds(20));
  }
  CHECK(switched);
  CHECK(fixture.Connect(old_certs.ca_pem, &error) == nullptr);
  // The connection from before still works.
  CHECK(before->Request("POST", "/mutate", "b").body == "echo:b");

  // A key that does not belong to the certificate: refused, the rotated pair goes on serving.
  WriteFile(fixture.dir + "/tls.key", old_certs.key_pem);
  std::this_thread::sleep_for(milliseconds(300));
  auto after = fixture.Connect(rotated.ca_pem, &error);
  INFO(error);
  REQUIRE(after != nullptr);
  auto metrics = after->Request("GET", "/metrics").body;
  CHECK(metrics.find("lastcall_webhook_certificate_reloads_total{result=\"loaded\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("lastcall_webhook_certificate_reloads_total{result=\"refused\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("WebhookServer::LoadIdentity names the file and what is wrong") {
  const std::string dir = MakeTempDir();
  WebhookServerOptions options;
  options.cert_file = dir + "/missing.crt";
  options.key_file = dir + "/tls.key";
  WebhookServer missing(options, nullptr, nullptr);
  const Status status = missing.LoadIdentity();
  CHECK(status.message().rfind("--tls-cert " + dir + "/missing.crt: cannot read", 0) == 0);
  WriteFile(dir + "/tls.crt", "not a certificate\n");
  WriteFile(dir + "/tls.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  options.cert_file = dir + "/tls.crt";
  WebhookServer invalid(options, nullptr, nullptr);
  CHECK(invalid.LoadIdentity().message().rfind(dir + "/tls.crt: ", 0) == 0);
  (void)!std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace lastcall

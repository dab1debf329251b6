#include "tls/tls_client.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "kube_api_stand_in.h"

namespace lastcall::tls {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test::KubeApiCerts;
using test::KubeApiStandIn;

std::string FreshDir() {
  char pattern[] = "/tmp/lastcall-tls-test-XXXXXX";
  const char* dir = mkdtemp(pattern);
  REQUIRE(dir != nullptr);
  return dir;
}

TrustAnchors AnchorsOf(const std::string& ca_file) {
  Expected<TrustAnchors> anchors = TrustAnchors::FromPem(test::ReadWholeFile(ca_file), ca_file);
  REQUIRE(anchors.ok());
  return std::move(anchors).value();
}

Expected<std::unique_ptr<TlsClient>> ConnectTo(const KubeApiStandIn& server,
                                               const TrustAnchors& anchors,
                                               milliseconds within = milliseconds(3000),
                                               const std::string& name = "kubernetes.default.svc") {
  return TlsClient::Connect("127.0.0.1", server.port(), name, anchors,
                            steady_clock::now() + within);
}

// A CA and a server certificate for kubernetes.default.svc whose keys are `key` (openssl's
// -newkey argument: "rsa:2048" as kubeadm makes them, "ec -pkeyopt ec_paramgen_curve:P-384").
KubeApiCerts MakeCertsWithKey(const std::string& dir, const std::string& key) {
  KubeApiCerts certs{dir, dir + "/ca.crt", dir + "/server.crt", dir + "/server.key"};
  const std::string quiet = " >/dev/null 2>&1";
  const std::string script =
      "cd '" + dir + "' && openssl req -x509 -newkey " + key +
      " -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=test-ca" + quiet +
      " && openssl req -newkey " + key +
      " -nodes -keyout server.key -out server.csr -subj /CN=kube-apiserver" + quiet +
      " && printf 'subjectAltName=DNS:kubernetes.default.svc\\nextendedKeyUsage=serverAuth\\n'"
      " > server.ext && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -days 30"
      " -CAcreateserial -out server.crt -extfile server.ext" +
      quiet;
  REQUIRE(std::system(script.c_str()) == 0);
  return certs;
}

// One request over a verified connection; the answer's status line.
std::string StatusLineFrom(const KubeApiStandIn& server, const TrustAnchors& anchors) {
  Expected<std::unique_ptr<TlsClient>> client = ConnectTo(server, anchors);
  REQUIRE_MESSAGE(client.ok(), client.status().message());
  const auto deadline = steady_clock::now() + milliseconds(3000);
  REQUIRE((*client)->Write("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", deadline).ok());
  std::string answer;
  char buffer[256];
  while (answer.find("\r\n") == std::string::npos) {
    Expected<size_t> n = (*client)->Read(buffer, sizeof(buffer), deadline);
    REQUIRE_MESSAGE(n.ok(), n.status().message());
    if (*n == 0) break;
    answer.append(buffer, *n);
  }
  return answer.substr(0, answer.find("\r\n"));
}

TEST_CASE("TlsClient verifies the server, sends a request and reads the answer") {
  const KubeApiCerts certs = test::MakeKubeApiCerts(FreshDir());
  KubeApiStandIn server(certs);
  const TrustAnchors anchors = AnchorsOf(certs.ca_file);
  Expected<std::unique_ptr<TlsClient>> client = ConnectTo(server, anchors);
  REQUIRE_MESSAGE(client.ok(), client.status().message());
  const std::string body = "{\"hello\":1}";
  const auto deadline = steady_clock::now() + milliseconds(3000);
  REQUIRE((*client)
              ->Write("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body,
                      deadline)
              .ok());
  std::string answer;
  char buffer[100];
  while (true) {
    Expected<size_t> n = (*client)->Read(buffer, sizeof(buffer), deadline);
    REQUIRE_MESSAGE(n.ok(), n.status().message());
    if (*n == 0) break;
    answer.append(buffer, *n);
  }
  CHECK(answer.rfind("HTTP/1.1 201 Created\r\n", 0) == 0);
  CHECK(answer.find(body) != std::string::npos);
  REQUIRE(server.seen().size() == 1);
  CHECK(server.seen()[0].body == body);
}

TEST_CASE("TlsClient names what is wrong with the server's certificate") {
  const std::string dir = FreshDir();
  SUBCASE("an unknown issuer") {
    const KubeApiCerts certs = test::MakeKubeApiCerts(dir);
    const KubeApiCerts other = test::MakeKubeApiCerts(FreshDir());
    KubeApiStandIn server(certs);
    const TrustAnchors anchors = AnchorsOf(other.ca_file);
    Expected<std::unique_ptr<TlsClient>> client = ConnectTo(server, anchors);
    REQUIRE_FALSE(client.ok());
    CHECK(client.status().message().find("unknown issuer") != std::string::npos);
    CHECK(client.status().message().find("127.0.0.1:" + std::to_string(server.port())) !=
          std::string::npos);
  }
  SUBCASE("expired") {
    const KubeApiCerts certs = test::MakeKubeApiCerts(dir, "kubernetes.default.svc", true);
    KubeApiStandIn server(certs);
    const TrustAnchors anchors = AnchorsOf(certs.ca_file);
    Expected<std::unique_ptr<TlsClient>> client = ConnectTo(server, anchors);
    REQUIRE_FALSE(client.ok());
    CHECK(client.status().message().find("expired") != std::string::npos);
    CHECK(client.status().code() == StatusCode::kUntrusted);
  }
  SUBCASE("another host's") {
    const KubeApiCerts certs = test::MakeKubeApiCerts(dir, "evil.example.com");
    KubeApiStandIn server(certs);
    const TrustAnchors anchors = AnchorsOf(certs.ca_file);
    Expected<std::unique_ptr<TlsClient>> client = ConnectTo(server, anchors);
    REQUIRE_FALSE(client.ok());
    CHECK(client.status().message().find("wrong host") != std::string::npos);
    CHECK(client.status().message().find("kubernetes.default.svc") != std::string::npos);
  }
}

TEST_CASE("TlsClient keeps one absolute deadline whatever the server does") {
  const KubeApiCerts certs = test::MakeKubeApiCerts(FreshDir());
  const TrustAnchors anchors = AnchorsOf(certs.ca_file);
  SUBCASE("a server that accepts TCP and never speaks TLS") {
    KubeApiStandIn server(certs, KubeApiStandIn::Mode::kNoHandshake);
    const auto start = steady_clock::now();
    Expected<std::unique_ptr<TlsClient>> client = ConnectTo(server, anchors, milliseconds(300));
    const auto took = steady_clock::now() - start;
    REQUIRE_FALSE(client.ok());
    CHECK(client.status().message().find("deadline") != std::string::npos);
    CHECK(took >= milliseconds(295));
    CHECK(took < milliseconds(350));
  }
  SUBCASE("a server that trickles one byte a second") {
    KubeApiStandIn server(certs, KubeApiStandIn::Mode::kTrickle);
    Expected<std::unique_ptr<TlsClient>> client = ConnectTo(server, anchors);
    REQUIRE(client.ok());
    const auto start = steady_clock::now();
    const auto deadline = start + milliseconds(1500);
    REQUIRE((*client)->Write("GET / HTTP/1.1\r\n\r\n", deadline).ok());
    char buffer[64];
    Status failed;
    while (failed.ok()) {
      Expected<size_t> n = (*client)->Read(buffer, sizeof(buffer), deadline);
      if (!n.ok()) failed = n.status();
    }
    const auto took = steady_clock::now() - start;
    CHECK(failed.message().find("deadline") != std::string::npos);
    CHECK(took >= milliseconds(1495));
    CHECK(took < milliseconds(1550));
  }
}

TEST_CASE("TlsClient reports a refused connection with the address") {
  const KubeApiCerts certs = test::MakeKubeApiCerts(FreshDir());
  const TrustAnchors anchors = AnchorsOf(certs.ca_file);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const uint16_t port = ntohs(address.sin_port);
  close(fd);  // bound, never listened: nobody is there now
  Expected<std::unique_ptr<TlsClient>> client =
      TlsClient::Connect("127.0.0.1", port, "kubernetes.default.svc", anchors,
                         steady_clock::now() + milliseconds(500));
  REQUIRE_FALSE(client.ok());
  CHECK(client.status().message() ==
        "connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST_CASE("TlsClient's profile speaks to the keys clusters have: RSA 2048 and ECDSA P-384") {
  // kubeadm, EKS and most installers make RSA keys; the stand-in's default is P-256 (above).
  for (const std::string key : {"rsa:2048", "ec -pkeyopt ec_paramgen_curve:P-384"}) {
    CAPTURE(key);
    const KubeApiCerts certs = MakeCertsWithKey(FreshDir(), key);
    KubeApiStandIn server(certs);
    CHECK(StatusLineFrom(server, AnchorsOf(certs.ca_file)) == "HTTP/1.1 201 Created");
  }
}

TEST_CASE("DescribeBearSslError puts BearSSL's codes in words") {
  CHECK(DescribeBearSslError(BR_ERR_X509_NOT_TRUSTED).find("unknown issuer") != std::string::npos);
  CHECK(DescribeBearSslError(BR_ERR_X509_EXPIRED).find("expired") != std::string::npos);
  CHECK(DescribeBearSslError(BR_ERR_X509_BAD_SERVER_NAME).find("wrong host") != std::string::npos);
  CHECK(DescribeBearSslError(BR_ERR_RECV_FATAL_ALERT + 40).find("handshake_failure") !=
        std::string::npos);
}

}  // namespace
}  // namespace lastcall::tls

// `lastcall webhook` as the API server meets it: the real binary, certificates from
// `lastcall webhook certs`, clients that verify the chain and the name (curl, openssl, a BearSSL
// client), certificate rotation under traffic, and hostile clients. The admission answers
// themselves are tests/webhook_*_test.cc's.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "test_timing.h"
#include "tls_test_client.h"
#include "webhook_testing.h"

namespace lastcall::test {
namespace {

#if __has_include("webhook/admission.h")
constexpr int kMalformedJsonStatus = 400;  // Admit refuses it
#else
constexpr int kMalformedJsonStatus = 501;  // no admission logic linked: the server's fallback
#endif

constexpr const char* kName = kWebhookName;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Bin() { return LASTCALL_BINARY; }

int StatusOf(const ShellRun& result) {
  const size_t line = result.out.rfind('\n');
  return std::atoi(result.out.c_str() + (line == std::string::npos ? 0 : line + 1));
}

std::string Fingerprint(const std::string& pem_file) {
  return RunShell("openssl x509 -in " + pem_file + " -noout -fingerprint -sha256").out;
}

// The leaf the server presents to a new handshake, as openssl s_client sees it.
std::string PresentedFingerprint(uint16_t port) {
  return RunShell("echo | timeout 5 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                  " -servername " + kName +
                  " -showcerts 2>/dev/null | openssl x509 -noout -fingerprint -sha256")
      .out;
}

int RawConnect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

bool ClosedWithin(int fd, milliseconds limit) {
  const auto started = std::chrono::steady_clock::now();
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) continue;
    const bool closed = n == 0 || (n < 0 && errno == ECONNRESET);
    return closed && std::chrono::steady_clock::now() - started <= limit;
  }
}

const char* kReview =
    R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",)"
    R"("kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"ops",)"
    R"("object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},)"
    R"("spec":{"containers":[{"name":"app","image":"app"}]}}}})";

TEST_CASE("webhook certs: a CA and a serving certificate that openssl verifies, SANs and usages") {
  const std::string dir = TempDir() + "/certs";
  const ShellRun made = MakeWebhookCerts(dir);
  REQUIRE_MESSAGE(made.exit_code == 0, ReadAll(dir + ".err"));
  struct stat info {};
  REQUIRE(stat(dir.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);
  REQUIRE(stat((dir + "/tls.key").c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  // The caBundle on stdout is ca.crt in base64.
  CHECK(
      RunShell("echo '" + made.out + "' | base64 -d | cmp - " + dir + "/ca.crt && echo same").out ==
      "same\n");
  CHECK(RunShell("openssl verify -purpose sslserver -CAfile " + dir + "/ca.crt " + dir +
                 "/tls.crt 2>&1")
            .out == dir + "/tls.crt: OK\n");
  const std::string leaf = RunShell("openssl x509 -in " + dir + "/tls.crt -noout -text").out;
  CHECK(leaf.find("DNS:hook, DNS:hook.ops, DNS:hook.ops.svc, DNS:hook.ops.svc.cluster.local") !=
        std::string::npos);
  CHECK(leaf.find("TLS Web Server Authentication") != std::string::npos);
  CHECK(leaf.find("CA:FALSE") != std::string::npos);
  CHECK(leaf.find("ASN1 OID: prime256v1") != std::string::npos);
  CHECK(leaf.find("Signature Algorithm: ecdsa-with-SHA256") != std::string::npos);
  const std::string ca = RunShell("openssl x509 -in " + dir + "/ca.crt -noout -text").out;
  CHECK(ca.find("CA:TRUE, pathlen:0") != std::string::npos);
  CHECK(ca.find("Certificate Sign, CRL Sign") != std::string::npos);
  // Validity: one year for the serving certificate, ten for the CA (within a day).
  CHECK(RunShell("openssl x509 -in " + dir + "/tls.crt -noout -checkend " +
                 std::to_string(364 * 86400) + " >/dev/null && echo ok")
            .out == "ok\n");
  CHECK(RunShell("openssl x509 -in " + dir + "/tls.crt -noout -checkend " +
                 std::to_string(366 * 86400) + " >/dev/null || echo expires")
            .out == "expires\n");
  CHECK(RunShell("openssl x509 -in " + dir + "/ca.crt -noout -checkend " +
                 std::to_string(3649 * 86400) + " >/dev/null && echo ok")
            .out == "ok\n");
  // The key is the certificate's, in a form openssl reads.
  CHECK(RunShell("openssl pkey -in " + dir + "/tls.key -pubout").out ==
        RunShell("openssl x509 -in " + dir + "/tls.crt -noout -pubkey").out);

  // Never over existing files without --force.
  const std::string before = ReadAll(dir + "/tls.crt");
  CHECK(MakeWebhookCerts(dir).exit_code == 2);
  CHECK(ReadAll(dir + ".err").find("refusing to replace") != std::string::npos);
  CHECK(ReadAll(dir + "/tls.crt") == before);
  const std::string ca_before = ReadAll(dir + "/ca.crt");
  // A renewal: the CA there signs the new certificate, the caBundle stays.
  const ShellRun renewed = MakeWebhookCerts(dir, "--force");
  CHECK(renewed.exit_code == 0);
  CHECK(renewed.out == made.out);
  CHECK(ReadAll(dir + "/tls.crt") != before);
  CHECK(ReadAll(dir + "/ca.crt") == ca_before);
  CHECK(RunShell("openssl verify -purpose sslserver -CAfile " + dir + "/ca.crt " + dir +
                 "/tls.crt 2>&1")
            .out == dir + "/tls.crt: OK\n");
  REQUIRE(stat((dir + "/ca.key").c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  // --new-ca: a new CA, a new caBundle.
  const ShellRun fresh = MakeWebhookCerts(dir, "--force --new-ca");
  CHECK(fresh.exit_code == 0);
  CHECK(fresh.out != made.out);
  CHECK(ReadAll(dir + "/ca.crt") != ca_before);
  // Names a Service cannot have.
  CHECK(
      RunShell(Bin() + " webhook certs --service Bad_Name --namespace ops --out " + dir + "/x 2>&1")
          .exit_code == 2);
}

TEST_CASE("webhook: curl verifying the chain and the SAN gets answers, /healthz /readyz /metrics") {
  const std::string dir = TempDir() + "/certs";
  REQUIRE(MakeWebhookCerts(dir).exit_code == 0);
  Webhook webhook = StartWebhook(dir);
  const std::string body =
      std::string("-H 'Content-Type: application/json' --data-binary '") + kReview + "'";
  // Every name of the Service verifies.
  for (const std::string name : {"hook.ops.svc", "hook.ops.svc.cluster.local", "hook.ops"}) {
    const ShellRun answer = CurlWebhook(webhook, body, name);
    CAPTURE(answer.out);
    CHECK(answer.exit_code == 0);
    CHECK((StatusOf(answer) == 200 || StatusOf(answer) == kMalformedJsonStatus));
  }
  // A name the certificate does not carry fails verification.
  CHECK(CurlWebhook(webhook, body, "other.ops.svc").exit_code != 0);
  const std::string port = std::to_string(webhook.port);
  const std::string base = "curl -sS --max-time 5 --cacert " + dir + "/ca.crt --resolve " + kName +
                           ":" + port + ":127.0.0.1 https://" + kName + ":" + port;
  CHECK(RunShell(base + "/healthz").out == "ok\n");
  CHECK(RunShell(base + "/readyz").out == "ready\n");
  const std::string metrics = WebhookMetrics(webhook);
  CHECK(metrics.find("lastcall_webhook_requests_total{route=\"mutate\"") != std::string::npos);
  CHECK(metrics.find("lastcall_webhook_request_duration_seconds_bucket{le=\"0.005\"}") !=
        std::string::npos);
  CHECK(metrics.find("lastcall_webhook_connections ") != std::string::npos);
  // TLS 1.2 only, and only ECDHE with an AEAD.
  CHECK(RunShell(base + "/healthz --tls-max 1.1 2>/dev/null").exit_code != 0);
  CHECK(RunShell("echo | timeout 5 openssl s_client -connect 127.0.0.1:" + port +
                 " -cipher AES128-SHA -tls1_2 2>&1 >/dev/null")
            .exit_code != 0);
  CHECK(RunShell("echo | timeout 5 openssl s_client -connect 127.0.0.1:" + port +
                 " -cipher ECDHE-ECDSA-CHACHA20-POLY1305 -tls1_2 2>/dev/null | grep -c 'Cipher is'")
            .out == "1\n");
}

TEST_CASE("webhook: start-up with a missing, invalid or mismatched pair exits 2 naming the file") {
  const std::string dir = TempDir() + "/certs";
  const std::string other = TempDir() + "/other";
  REQUIRE(MakeWebhookCerts(dir).exit_code == 0);
  REQUIRE(MakeWebhookCerts(other).exit_code == 0);
  struct Case {
    std::string cert;
    std::string key;
    std::string message;
  };
  std::ofstream(dir + "/junk.crt") << "not a certificate\n";
  for (const Case& c : std::vector<Case>{
           {dir + "/missing.crt", dir + "/tls.key", "--tls-cert " + dir + "/missing.crt: "},
           {dir + "/junk.crt", dir + "/tls.key", dir + "/junk.crt: no PEM block"},
           {dir + "/tls.crt", other + "/tls.key",
            other + "/tls.key: the private key does not belong to " + dir + "/tls.crt"}}) {
    const ShellRun result = RunShell(Bin() + " webhook --listen 127.0.0.1:0 --tls-cert " + c.cert +
                                     " --tls-key " + c.key + " 2>&1");
    CAPTURE(result.out);
    CHECK(result.exit_code == 2);
    CHECK(result.out.find(c.message) != std::string::npos);
  }
  CHECK(RunShell(Bin() + " webhook --listen 127.0.0.1:0 2>&1").exit_code == 2);
}

TEST_CASE("webhook: rotated files are served to new handshakes, no request fails meanwhile") {
  const std::string dir = TempDir() + "/certs";
  REQUIRE(MakeWebhookCerts(dir).exit_code == 0);
  Webhook webhook = StartWebhook(dir);
  const std::string ca_a = ReadAll(dir + "/ca.crt");
  const std::string key_a = ReadAll(dir + "/tls.key");
  const std::string fingerprint_a = Fingerprint(dir + "/tls.crt");
  REQUIRE(PresentedFingerprint(webhook.port) == fingerprint_a);

  std::string error;
  auto kept = TlsTestClient::Connect(webhook.port, ca_a, kName, &error);
  REQUIRE_MESSAGE(kept != nullptr, error);
  REQUIRE(kept->Request("POST", "/mutate", kReview).status != 0);

  // New connections all the while, from a client that trusts the old CA and, once it is written,
  // the new one too (as an API server's caBundle holds both during a rotation).
  std::atomic<bool> done{false};
  std::atomic<int> sent{0};
  std::atomic<int> failed{0};
  std::string failure;
  std::thread traffic([&] {
    while (!done.load()) {
      std::string bundle = ca_a;
      if (ReadAll(dir + "/ca.crt") != ca_a) bundle += ReadAll(dir + "/ca.crt");
      std::string why;
      auto client = TlsTestClient::Connect(webhook.port, bundle, kName, &why);
      const int status = client ? client->Request("GET", "/healthz").status : 0;
      ++sent;
      if (status != 200) {
        if (failed++ == 0) failure = why;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  // A new CA too: the harder rotation (the API server's bundle must hold both meanwhile).
  REQUIRE(MakeWebhookCerts(dir, "--force --new-ca").exit_code == 0);
  const std::string fingerprint_b = Fingerprint(dir + "/tls.crt");
  REQUIRE(fingerprint_b != fingerprint_a);
  int kept_requests = 0;
  bool switched = false;
  const auto started = std::chrono::steady_clock::now();
  while (!switched && ElapsedMs(started) < 5000) {
    // The connection from before the rotation goes on being served, with the old identity.
    CHECK(kept->Request("POST", "/mutate", kReview).status != 0);
    ++kept_requests;
    switched = PresentedFingerprint(webhook.port) == fingerprint_b;
  }
  CHECK(switched);
  std::this_thread::sleep_for(milliseconds(200));
  done = true;
  traffic.join();
  CHECK(kept->Request("GET", "/healthz").status == 200);
  kept.reset();  // the old connection finishes
  INFO(failure);
  CHECK(failed.load() == 0);
  CHECK(sent.load() > 5);
  CHECK(kept_requests >= 1);
  // Only the new CA verifies new handshakes now.
  CHECK(TlsTestClient::Connect(webhook.port, ca_a, kName, &error) == nullptr);
  CHECK(TlsTestClient::Connect(webhook.port, ReadAll(dir + "/ca.crt"), kName, &error) != nullptr);

  // A mismatched pair (the old key beside the new certificate) is refused; B goes on serving.
  std::ofstream(dir + "/tls.key.tmp") << key_a;
  REQUIRE(rename((dir + "/tls.key.tmp").c_str(), (dir + "/tls.key").c_str()) == 0);
  CHECK(webhook.process.WaitForOutput("do not load", milliseconds(3000)));
  CHECK(PresentedFingerprint(webhook.port) == fingerprint_b);
  const std::string metrics = WebhookMetrics(webhook);
  CHECK(metrics.find("lastcall_webhook_certificate_reloads_total{result=\"loaded\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("lastcall_webhook_certificate_reloads_total{result=\"refused\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("webhook: hostile clients get an answer or a clean close within 1 s") {
  const std::string dir = TempDir() + "/certs";
  REQUIRE(MakeWebhookCerts(dir).exit_code == 0);
  Webhook webhook = StartWebhook(dir, {"--handshake-timeout", "1s"});
  std::string error;

  SUBCASE("malformed JSON") {
    auto client = TlsTestClient::Connect(webhook.port, ReadAll(dir + "/ca.crt"), kName, &error);
    REQUIRE(client != nullptr);
    const auto started = std::chrono::steady_clock::now();
    CHECK(client->Request("POST", "/mutate", "{\"kind\": [1, 2,").status == kMalformedJsonStatus);
    CHECK(ElapsedMs(started) < 1000);
  }
  SUBCASE("a body of 3 MiB + 1 gets 413, with curl's Expect and without") {
    const std::string big = dir + "/big.json";
    std::ofstream(big) << std::string(3 * 1024 * 1024 + 1, ' ');
    const ShellRun answer = CurlWebhook(webhook, "-o /dev/null --data-binary @" + big);
    CHECK(StatusOf(answer) == 413);
    // A client that sends the whole body without waiting still reads the 413.
    auto client = TlsTestClient::Connect(webhook.port, ReadAll(dir + "/ca.crt"), kName, &error);
    REQUIRE(client != nullptr);
    const auto started = std::chrono::steady_clock::now();
    CHECK(client->Request("POST", "/mutate", std::string(3 * 1024 * 1024 + 1, ' ')).status == 413);
    CHECK(ElapsedMs(started) < 1000);
    // Exactly 3 MiB is the API server's limit: it reaches the handler.
    std::ofstream(big) << std::string(3 * 1024 * 1024, ' ');
    CHECK(StatusOf(CurlWebhook(webhook, "-o /dev/null --data-binary @" + big)) != 413);
  }
  SUBCASE("a TLS handshake that never finishes is closed at the deadline") {
    const int fd = RawConnect(webhook.port);
    const std::string hello("\x16\x03\x01\x00\x80\x01\x00\x00\x7c\x03\x03", 11);
    REQUIRE(send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) > 0);
    const auto started = std::chrono::steady_clock::now();
    CHECK(ClosedWithin(fd, milliseconds(2000)));
    CHECK(ElapsedMs(started) >= 800);
    close(fd);
  }
  SUBCASE("plain HTTP on the TLS port: told so, closed") {
    const HttpResponse answer = Get(webhook.port, "/healthz", milliseconds(1000));
    CHECK(answer.status == 400);
    CHECK(answer.body.find("speaks HTTPS") != std::string::npos);
  }
  SUBCASE("garbage bytes: closed") {
    const int fd = RawConnect(webhook.port);
    const std::string garbage("\x00\xff\x13\x37 not tls at all \x01\x02", 22);
    REQUIRE(send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL) > 0);
    CHECK(ClosedWithin(fd, milliseconds(1000)));
    close(fd);
  }
  // Whatever came before, the webhook still answers.
  CHECK(RunShell("curl -sS --max-time 5 --cacert " + dir + "/ca.crt --resolve " + kName + ":" +
                 std::to_string(webhook.port) + ":127.0.0.1 https://" + kName + ":" +
                 std::to_string(webhook.port) + "/healthz")
            .out == "ok\n");
  CHECK(webhook.process.Running());
}

TEST_CASE("webhook: 1000 idle TLS connections, a real request is still answered, memory bounded") {
  rlimit limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur < 2200) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4096);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &limit) == 0);
  }
  REQUIRE(limit.rlim_cur >= 2200);
  const std::string dir = TempDir() + "/certs";
  REQUIRE(MakeWebhookCerts(dir).exit_code == 0);
  Webhook webhook = StartWebhook(dir, {"--max-connections", "1100"});
  const long rss_before = ProcStatusKib(webhook.process.pid(), "VmRSS");
  const std::string ca = ReadAll(dir + "/ca.crt");
  std::vector<std::unique_ptr<TlsTestClient>> idle;
  std::string error;
  for (int i = 0; i < 1000; ++i) {
    auto client = TlsTestClient::Connect(webhook.port, ca, kName, &error);
    REQUIRE_MESSAGE(client != nullptr, "connection " << i << ": " << error);
    idle.push_back(std::move(client));
  }
  const auto started = std::chrono::steady_clock::now();
  const ShellRun answer = CurlWebhook(
      webhook, std::string("-H 'Content-Type: application/json' --data-binary '") + kReview + "'");
  CHECK(answer.exit_code == 0);
  CHECK(ElapsedMs(started) < 1000);
  const std::string metrics = WebhookMetrics(webhook);
  CHECK(metrics.find("lastcall_webhook_connections 1001\n") != std::string::npos);
  const long rss = ProcStatusKib(webhook.process.pid(), "VmRSS");
  MESSAGE("webhook VmRSS: " << rss_before << " KiB at start, " << rss
                            << " KiB with 1000 idle TLS connections");
  // 1000 sessions of about 25 KiB (BearSSL's context and buffers) at most, and the rest.
  if (!testing::kSanitized) CHECK(rss < rss_before + 1000 * 26 + 4096);
  // Still usable: the idle ones answer too.
  CHECK(idle.front()->Request("GET", "/healthz").status == 200);
  CHECK(idle.back()->Request("GET", "/healthz").status == 200);
}

}  // namespace
}  // namespace lastcall::test

namespace lastcall::test {
namespace {

TEST_CASE("webhook: SIGTERM turns it unready, it answers through the shutdown delay, exits 0") {
  const std::string dir = TempDir() + "/certs";
  REQUIRE(MakeWebhookCerts(dir).exit_code == 0);
  Webhook webhook = StartWebhook(dir, {"--shutdown-delay", "1500ms"});
  const std::string port = std::to_string(webhook.port);
  const std::string readyz = "curl -s --max-time 5 --cacert " + dir + "/ca.crt --resolve " + kName +
                             ":" + port + ":127.0.0.1 -w ' %{http_code}' https://" + kName + ":" +
                             port + "/readyz";
  CHECK(RunShell(readyz).out == "ready\n 200");
  const auto started = std::chrono::steady_clock::now();
  webhook.process.Signal(SIGTERM);
  REQUIRE(webhook.process.WaitForOutput("shutting down", milliseconds(2000)));
  CHECK(RunShell(readyz).out == "shutting down\n 503");
  // Admissions are still answered meanwhile.
  CHECK(StatusOf(CurlWebhook(webhook, std::string("--data-binary '") + kReview + "'")) != 0);
  CHECK(webhook.process.WaitExit(milliseconds(4000)) == 0);
  CHECK(ElapsedMs(started) >= 1400);
}

}  // namespace
}  // namespace lastcall::test

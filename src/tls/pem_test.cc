#include "tls/pem.h"

#include <doctest/doctest.h>

#include <string>

namespace lastcall::tls {
namespace {

// Throwaway test keys made with `openssl req -x509` for this test only (EC P-256, RSA 1024).
constexpr std::string_view kEcCert = R"pem(-----BEGIN CERTIFICATE-----
MIIBozCCAUmgAwIBAgIUCUQlAwqPRT10ZJdr2vyL2g3fiZAwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQbGFzdGNhbGwtdGVzdC1lYzAgFw0yNjEyMDUwMjQwMzlaGA8y
MTI2MTExMTAyNDAzOVowGzEZMBcGA1UEAwwQbGFzdGNhbGwtdGVzdC1lYzBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABNUvGeDM5okSpOzz+a8hbW/90Qy5/T+w2sEs
Pxf07nIWUOoH9xUX485tlqaHYz7ftQD2hOxkCLtHBNf3k89eZdGjaTBnMB0GA1Ud
DgQWBBTzkDPbnjDCUz/Nn9xdxt68ohSDrjAfBgNVHSMEGDAWgBTzkDPbnjDCUz/N
n9xdxt68ohSDrjAPBgNVHRMBAf8EBTADAQH/MBQGA1UdEQQNMAuCCWxvY2FsaG9z
dDAKBggqhkjOPQQDAgNIADBFAiEAjNBQx4HgrxvI+wY1+h7MqnxfqW6OqIrj7IUV
kWLICc8CIEfWJ7L0T1JDIl45b38x77Yo7EII3VdZtziCOpD5mbwd
-----END CERTIFICATE-----
)pem";
constexpr std::string_view kEcKey = R"pem(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgG3/T9JAmZ4S3PMD9
1KUTQIgDnaZwkuErkq8BGHIDaMmhRANCAATVLxngzOaJEqTs8/mvIW1v/dEMuf0/
sNrBLD8X9O5yFlDqB/cVF+PObZamh2M+37UA9oTsZAi7RwTX95PPXmXR
-----END PRIVATE KEY-----
)pem";
constexpr std::string_view kOtherEcKey = R"pem(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIMuyXGdzqhUDYV27PnG43312hZ9Ijf9INcO4CAQ6gDIuoAoGCCqGSM49
AwEHoUQDQgAEdn/EAyiwgcdbrACgQ5z+wLojg091Y1/RY8n7qkioF1fXt6wZ8M9b
JanFOD/dqG2cXgpALgQDNkBfZeKohCwBNw==
-----END EC PRIVATE KEY-----
)pem";
constexpr std::string_view kRsaCert = R"pem(-----BEGIN CERTIFICATE-----
MIICFjCCAX+gAwIBAgIUKA33uxoRZalRaaGZP1hNC69QWy8wDQYJKoZIhvcNAQEL
BQAwHDEaMBgGA1UEAwwRbGFzdGNhbGwtdGVzdC1yc2EwIBcNMjYxMjA1MDI0MDM5
WhgPMjEyNjExMTEwMjQwMzlaMBwxGjAYBgNVBAMMEWxhc3RjYWxsLXRlc3QtcnNh
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC+GgDDZDfy2XhvkrcH38anQaGG
xba72qHtvNnWNidCRmAbbqzIwoGfc+efxQSFEcZS5KUJcb0I9BIb6mmOD24IOjBN
xU5gLqMtxZryF94pup8eQo8ulTYwXTJSvbdcIb2h6IGvvVeyygTlSE0nRX3Kxzva
RE6xrNplih62whne4QIDAQABo1MwUTAdBgNVHQ4EFgQU36r6U40jnZpXn2D40JAf
QkzzR98wHwYDVR0jBBgwFoAU36r6U40jnZpXn2D40JAfQkzzR98wDwYDVR0TAQH/
BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOBgQB3We3tJ2AbjNWaRWVx9zENJD5JASrD
lY+a9OQapUUCQMLjpDupRF0iZ6+3ZHoKWtpo5b9Snue898C5loW5R041WZvM3rup
mjM7tx54Ro/Gd3jJcXpcFkDzRMhq7IkTRX7qjTH5HBOxtP5It1w37QjI8AHeSiFQ
j1GldFs3RjPTPw==
-----END CERTIFICATE-----
)pem";
constexpr std::string_view kRsaKeyPkcs8 = R"pem(-----BEGIN PRIVATE KEY-----
MIICeAIBADANBgkqhkiG9w0BAQEFAASCAmIwggJeAgEAAoGBAL4aAMNkN/LZeG+S
twffxqdBoYbFtrvaoe282dY2J0JGYBturMjCgZ9z55/FBIURxlLkpQlxvQj0Ehvq
aY4Pbgg6ME3FTmAuoy3FmvIX3im6nx5Cjy6VNjBdMlK9t1whvaHoga+9V7LKBOVI
TSdFfcrHO9pETrGs2mWKHrbCGd7hAgMBAAECgYEAjwGWs2Yv5IOOYziWcdj4Yxgv
P+h6N8UX7XUU1l10mRnB8MEIQBp6Uo5pnzoh1UzyyabxNDKYxyR8fv2PnGulFESO
+PlnFroUBO9G22YSzG7X5+8NxUOu4iFuBQyT6AZABBupsUd0X0ggYkRD/0R3qQ0C
ePPSN2gcD/KC9PMiUhUCQQDtTMAj/6cWzqeQ2rK+GWOY4YS6nIIYqzDJ1DXeB7oF
FnTAMzc/TGlpUozwjqCnx2MZbenSHvTv9giHRf0TMMjvAkEAzRUVJk4YEzsZQOhs
mr4WpRHlvjD5DIW76Mud7BNpNe+AjVmn47uA+jenCHpazxbZee7UTkyx9idM/S6V
Gyy1LwJBAJyueI9MVf7xJCK4xBxQlzpybTjp7dxr7CLXQ1n+sAx770qYhnn88fzg
zL5o7hrZw80ejax3VDK8uJTY2Wi6ZXECQQCMFAZqL5VKLWfGafskhwo4nczq59B0
uTPsgofPpEKM0JZh9gczCfPC9RhmNgyovta07midQs2bcKSpmpPGB/eJAkBVslR0
9qLHSeL4r8nhKlLAHGwkgvS9dp1Z0Bg+GyO3yIodflX2XTUIuwyPaxwexKGMTzol
6wUhEb9T6DUYqmKW
-----END PRIVATE KEY-----
)pem";
constexpr std::string_view kRsaKeyPkcs1 = R"pem(-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQC+GgDDZDfy2XhvkrcH38anQaGGxba72qHtvNnWNidCRmAbbqzI
woGfc+efxQSFEcZS5KUJcb0I9BIb6mmOD24IOjBNxU5gLqMtxZryF94pup8eQo8u
lTYwXTJSvbdcIb2h6IGvvVeyygTlSE0nRX3KxzvaRE6xrNplih62whne4QIDAQAB
AoGBAI8BlrNmL+SDjmM4lnHY+GMYLz/oejfFF+11FNZddJkZwfDBCEAaelKOaZ86
IdVM8smm8TQymMckfH79j5xrpRREjvj5Zxa6FATvRttmEsxu1+fvDcVDruIhbgUM
k+gGQAQbqbFHdF9IIGJEQ/9Ed6kNAnjz0jdoHA/ygvTzIlIVAkEA7UzAI/+nFs6n
kNqyvhljmOGEupyCGKswydQ13ge6BRZ0wDM3P0xpaVKM8I6gp8djGW3p0h707/YI
h0X9EzDI7wJBAM0VFSZOGBM7GUDobJq+FqUR5b4w+QyFu+jLnewTaTXvgI1Zp+O7
gPo3pwh6Ws8W2Xnu1E5MsfYnTP0ulRsstS8CQQCcrniPTFX+8SQiuMQcUJc6cm04
6e3ca+wi10NZ/rAMe+9KmIZ5/PH84My+aO4a2cPNHo2sd1QyvLiU2NloumVxAkEA
jBQGai+VSi1nxmn7JIcKOJ3M6ufQdLkz7IKHz6RCjNCWYfYHMwnzwvUYZjYMqL7W
tO5onULNm3CkqZqTxgf3iQJAVbJUdPaix0ni+K/J4SpSwBxsJIL0vXadWdAYPhsj
t8iKHX5V9l01CLsMj2scHsShjE86JesFIRG/U+g1GKpilg==
-----END RSA PRIVATE KEY-----
)pem";

std::string Message(const Status& s) { return s.message(); }

TEST_CASE("DecodePem reads every block in order and ignores text between them") {
  auto blocks = DecodePem("# a comment\n" + std::string(kEcCert) + "junk\n" + std::string(kRsaCert),
                          "bundle.pem");
  REQUIRE(blocks.ok());
  REQUIRE(blocks->size() == 2);
  CHECK((*blocks)[0].label == "CERTIFICATE");
  CHECK((*blocks)[1].der.size() > 300);
}

TEST_CASE("DecodePem names the source and the block that is wrong") {
  CHECK(Message(DecodePem("no pem here", "ca.crt").status()) ==
        "ca.crt: no PEM block (-----BEGIN ...-----)");
  // Cut after the third line: a file whose writer stopped half way.
  std::string truncated(
      kEcCert.substr(0, kEcCert.find('\n', kEcCert.find('\n', kEcCert.find('\n') + 1) + 1) + 1));
  auto cut = DecodePem(truncated, "ca.crt");
  REQUIRE_FALSE(cut.ok());
  CHECK(Message(cut.status()) == "ca.crt: PEM block 1 has no END line");
  std::string bad(kEcCert);
  bad[40] = '*';
  auto broken = DecodePem(std::string(kRsaCert) + bad, "ca.crt");
  REQUIRE_FALSE(broken.ok());
  CHECK(Message(broken.status()).rfind("ca.crt: PEM block 2 ", 0) == 0);
}

TEST_CASE("DecodePem accepts a file whose last line has no newline") {
  std::string pem(kEcCert);
  while (pem.back() == '\n') pem.pop_back();
  CHECK(DecodePem(pem, "ca.crt").ok());
}

TEST_CASE("TrustAnchors keeps one anchor per certificate, RSA and EC, and survives a move") {
  auto anchors = TrustAnchors::FromPem(std::string(kEcCert) + std::string(kRsaCert), "ca.crt");
  REQUIRE(anchors.ok());
  TrustAnchors moved = std::move(anchors).value();
  REQUIRE(moved.size() == 2);
  CHECK(moved.data()[0].pkey.key_type == BR_KEYTYPE_EC);
  CHECK(moved.data()[0].pkey.key.ec.curve == BR_EC_secp256r1);
  CHECK(moved.data()[1].pkey.key_type == BR_KEYTYPE_RSA);
  CHECK(moved.data()[1].dn.len > 10);
  // The self-signed test certificates carry basicConstraints CA:TRUE (openssl req's default).
  CHECK(moved.data()[0].flags == BR_X509_TA_CA);
}

TEST_CASE("TrustAnchors refuses a bundle without certificates and a block that is no certificate") {
  CHECK(Message(TrustAnchors::FromPem(kEcKey, "ca.crt").status()) ==
        "ca.crt: no CERTIFICATE block");
  std::string fake = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  auto refused = TrustAnchors::FromPem(fake, "ca.crt");
  REQUIRE_FALSE(refused.ok());
  CHECK(Message(refused.status()).rfind("ca.crt: certificate 1: not an X.509 certificate", 0) == 0);
}

TEST_CASE("ServerIdentity pairs a certificate with its key: EC, RSA in PKCS#8 and PKCS#1") {
  auto ec = ServerIdentity::FromPem(kEcCert, "tls.crt", kEcKey, "tls.key");
  REQUIRE(ec.ok());
  ServerIdentity moved = std::move(ec).value();
  CHECK(moved.key_type() == BR_KEYTYPE_EC);
  REQUIRE(moved.ec_key() != nullptr);
  CHECK(moved.ec_key()->xlen == 32);
  CHECK(moved.rsa_key() == nullptr);
  CHECK(moved.chain_size() == 1);
  for (auto key : {kRsaKeyPkcs8, kRsaKeyPkcs1}) {
    auto rsa = ServerIdentity::FromPem(kRsaCert, "tls.crt", key, "tls.key");
    REQUIRE(rsa.ok());
    CHECK(rsa->key_type() == BR_KEYTYPE_RSA);
    CHECK(rsa->rsa_key()->n_bitlen == 1024);
  }
}

TEST_CASE("ServerIdentity refuses a key that belongs to another certificate") {
  CHECK(Message(ServerIdentity::FromPem(kEcCert, "tls.crt", kOtherEcKey, "tls.key").status()) ==
        "tls.key: the private key does not belong to tls.crt's certificate");
  CHECK(Message(ServerIdentity::FromPem(kEcCert, "tls.crt", kRsaKeyPkcs8, "tls.key").status()) ==
        "tls.key: an RSA key, but tls.crt's certificate holds an EC key");
  CHECK(Message(ServerIdentity::FromPem(kEcCert, "tls.crt", kEcCert, "tls.key").status()) ==
        "tls.key: no PRIVATE KEY block");
  std::string two = std::string(kEcKey) + std::string(kEcKey);
  CHECK(Message(ServerIdentity::FromPem(kEcCert, "tls.crt", two, "tls.key").status()) ==
        "tls.key: more than one private key");
}

}  // namespace
}  // namespace lastcall::tls

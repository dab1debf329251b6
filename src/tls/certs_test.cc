#include "tls/certs.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "tls/pem.h"

namespace lastcall::tls {
namespace {

using std::chrono::system_clock;

std::string Hex(const Bytes& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

system_clock::time_point At(int year, int month, int day, int hour, int minute, int second) {
  std::tm utc{};
  utc.tm_year = year - 1900;
  utc.tm_mon = month - 1;
  utc.tm_mday = day;
  utc.tm_hour = hour;
  utc.tm_min = minute;
  utc.tm_sec = second;
  return system_clock::from_time_t(timegm(&utc));
}

TEST_CASE("der: lengths in short and long form") {
  CHECK(Hex(der::Tlv(0x04, Bytes(3, 0xAA))) == "0403aaaaaa");
  const Bytes long127 = der::Tlv(0x04, Bytes(127, 0));
  CHECK(Hex(Bytes(long127.begin(), long127.begin() + 2)) == "047f");
  const Bytes long128 = der::Tlv(0x04, Bytes(128, 0));
  CHECK(Hex(Bytes(long128.begin(), long128.begin() + 3)) == "048180");
  const Bytes long300 = der::Tlv(0x04, Bytes(300, 0));
  CHECK(Hex(Bytes(long300.begin(), long300.begin() + 4)) == "0482012c");
  CHECK(long300.size() == 304);
}

TEST_CASE("der: integers are minimal and never negative") {
  CHECK(Hex(der::SmallInteger(0)) == "020100");
  CHECK(Hex(der::SmallInteger(2)) == "020102");
  CHECK(Hex(der::SmallInteger(127)) == "02017f");
  CHECK(Hex(der::SmallInteger(128)) == "02020080");
  CHECK(Hex(der::SmallInteger(256)) == "02020100");
  CHECK(Hex(der::UnsignedInteger({0x00, 0x00, 0x81})) == "02020081");
  CHECK(Hex(der::UnsignedInteger({})) == "020100");
}

TEST_CASE("der: object identifiers, strings, booleans, bit strings, explicit tags") {
  CHECK(Hex(der::Oid({1, 2, 840, 10045, 2, 1})) == "06072a8648ce3d0201");
  CHECK(Hex(der::Oid({2, 5, 29, 17})) == "0603551d11");
  CHECK(Hex(der::Oid({1, 3, 6, 1, 5, 5, 7, 3, 1})) == "06082b06010505070301");
  CHECK(Hex(der::Utf8String("ab")) == "0c026162");
  CHECK(Hex(der::Boolean(true)) == "0101ff");
  CHECK(Hex(der::Boolean(false)) == "010100");
  CHECK(Hex(der::BitString({0x80}, 7)) == "03020780");
  CHECK(Hex(der::Explicit(0, der::SmallInteger(2))) == "a003020102");
  CHECK(Hex(der::Sequence({})) == "3000");
  CHECK(Hex(der::Set({der::Boolean(true)})) == "31030101ff");
}

TEST_CASE("der: UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280)") {
  const Bytes utc = der::Time(At(2026, 12, 5, 3, 4, 5));
  CHECK(std::string(utc.begin() + 2, utc.end()) == "261205030405Z");
  CHECK(utc[0] == 0x17);
  const Bytes late = der::Time(At(2050, 1, 2, 0, 0, 0));
  CHECK(late[0] == 0x18);
  CHECK(std::string(late.begin() + 2, late.end()) == "20500102000000Z");
  const Bytes last_utc = der::Time(At(2049, 12, 31, 23, 59, 59));
  CHECK(std::string(last_utc.begin() + 2, last_utc.end()) == "491231235959Z");
}

TEST_CASE("PemEncode writes 64-column lines that DecodePem reads back") {
  Bytes data(100);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i);
  const std::string pem = PemEncode("CERTIFICATE", data);
  CHECK(pem.rfind("-----BEGIN CERTIFICATE-----\n", 0) == 0);
  CHECK(pem.find(std::string(64, 'A')) == std::string::npos);
  auto blocks = DecodePem(pem, "test");
  REQUIRE(blocks.ok());
  CHECK((*blocks)[0].der == data);
}

TEST_CASE("ServiceDnsNames and DnsLabelProblem") {
  CHECK(ServiceDnsNames("hook", "ops") ==
        std::vector<std::string>{"hook", "hook.ops", "hook.ops.svc", "hook.ops.svc.cluster.local"});
  CHECK(DnsLabelProblem("lastcall-webhook").empty());
  CHECK(DnsLabelProblem("a").empty());
  CHECK_FALSE(DnsLabelProblem("").empty());
  CHECK_FALSE(DnsLabelProblem("Webhook").empty());
  CHECK_FALSE(DnsLabelProblem("-hook").empty());
  CHECK_FALSE(DnsLabelProblem("hook.ops").empty());
  CHECK_FALSE(DnsLabelProblem(std::string(64, 'a')).empty());
}

// Validates `cert_pem`'s chain against `ca_pem` for `name` with BearSSL's X.509 engine (which
// checks the signature, the validity dates, the SAN and, for the server profile, the key usage).
int Validate(const std::string& ca_pem, const std::string& cert_pem, const char* name) {
  auto anchors = TrustAnchors::FromPem(ca_pem, "ca.crt");
  REQUIRE(anchors.ok());
  auto blocks = DecodePem(cert_pem, "tls.crt");
  REQUIRE(blocks.ok());
  br_x509_minimal_context xc;
  br_x509_minimal_init_full(&xc, anchors->data(), anchors->size());
  xc.vtable->start_chain(&xc.vtable, name);
  for (const PemBlock& block : *blocks) {
    xc.vtable->start_cert(&xc.vtable, static_cast<uint32_t>(block.der.size()));
    xc.vtable->append(&xc.vtable, block.der.data(), block.der.size());
    xc.vtable->end_cert(&xc.vtable);
  }
  return static_cast<int>(xc.vtable->end_chain(&xc.vtable));
}

TEST_CASE("MakeWebhookCertificates: a CA and a serving certificate that verify for every name") {
  auto made = MakeWebhookCertificates("hook", "ops", system_clock::now());
  REQUIRE(made.ok());
  auto identity = ServerIdentity::FromPem(made->cert_pem, "tls.crt", made->key_pem, "tls.key");
  REQUIRE(identity.ok());
  CHECK(identity->key_type() == BR_KEYTYPE_EC);
  CHECK(identity->leaf_signer_key_type() == BR_KEYTYPE_EC);
  for (const char* name : {"hook", "hook.ops", "hook.ops.svc", "hook.ops.svc.cluster.local"}) {
    CAPTURE(name);
    CHECK(Validate(made->ca_pem, made->cert_pem, name) == BR_ERR_OK);
  }
  CHECK(Validate(made->ca_pem, made->cert_pem, "other.ops.svc") == BR_ERR_X509_BAD_SERVER_NAME);
  // Another run's CA does not sign this certificate.
  auto other = MakeWebhookCertificates("hook", "ops", system_clock::now());
  REQUIRE(other.ok());
  CHECK(Validate(other->ca_pem, made->cert_pem, "hook.ops.svc") != BR_ERR_OK);
  CHECK(other->key_pem != made->key_pem);
  // The CA is an anchor for chains (CA:TRUE), so the leaf above verified through it.
  auto anchors = TrustAnchors::FromPem(made->ca_pem, "ca.crt");
  REQUIRE(anchors.ok());
  CHECK(anchors->data()[0].flags == BR_X509_TA_CA);
}

TEST_CASE("MakeWebhookCertificates: a certificate made in the past has expired for BearSSL") {
  auto old =
      MakeWebhookCertificates("hook", "ops", system_clock::now() - std::chrono::hours(24 * 400));
  REQUIRE(old.ok());
  CHECK(Validate(old->ca_pem, old->cert_pem, "hook.ops.svc") == BR_ERR_X509_EXPIRED);
}

}  // namespace
}  // namespace lastcall::tls

namespace lastcall::tls {
namespace {

TEST_CASE("MakeWebhookCertificates with an existing CA: it signs the renewal, the bundle stays") {
  auto first = MakeWebhookCertificates("hook", "ops", system_clock::now());
  REQUIRE(first.ok());
  const ExistingCa existing{first->ca_pem, "ca.crt", first->ca_key_pem, "ca.key"};
  auto renewed = MakeWebhookCertificates("hook", "ops", system_clock::now(), &existing);
  REQUIRE(renewed.ok());
  CHECK(renewed->reused_ca);
  CHECK(renewed->ca_pem == first->ca_pem);
  CHECK(renewed->ca_key_pem == first->ca_key_pem);
  CHECK(renewed->cert_pem != first->cert_pem);
  CHECK(renewed->key_pem != first->key_pem);
  CHECK(Validate(first->ca_pem, renewed->cert_pem, "hook.ops.svc") == BR_ERR_OK);

  // A CA that would expire before the new certificate: a new CA.
  auto old =
      MakeWebhookCertificates("hook", "ops", system_clock::now() - std::chrono::hours(24 * 3500));
  REQUIRE(old.ok());
  const ExistingCa expiring{old->ca_pem, "ca.crt", old->ca_key_pem, "ca.key"};
  auto replaced = MakeWebhookCertificates("hook", "ops", system_clock::now(), &expiring);
  REQUIRE(replaced.ok());
  CHECK_FALSE(replaced->reused_ca);
  CHECK(replaced->ca_pem != old->ca_pem);
  CHECK(Validate(replaced->ca_pem, replaced->cert_pem, "hook.ops.svc") == BR_ERR_OK);

  // A key that is not the CA's, a serving certificate given as the CA, no key at all.
  const ExistingCa mismatched{first->ca_pem, "ca.crt", old->ca_key_pem, "ca.key"};
  auto refused = MakeWebhookCertificates("hook", "ops", system_clock::now(), &mismatched);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message() == "ca.key: the private key does not belong to ca.crt");
  const ExistingCa leaf{first->cert_pem, "ca.crt", first->key_pem, "ca.key"};
  auto not_ca = MakeWebhookCertificates("hook", "ops", system_clock::now(), &leaf);
  REQUIRE_FALSE(not_ca.ok());
  CHECK(not_ca.status().message() == "ca.crt: not a CA certificate");
  const ExistingCa keyless{first->ca_pem, "ca.crt", first->ca_pem, "ca.key"};
  auto no_key = MakeWebhookCertificates("hook", "ops", system_clock::now(), &keyless);
  REQUIRE_FALSE(no_key.ok());
  CHECK(no_key.status().message() == "ca.key: no PRIVATE KEY block");
}

}  // namespace
}  // namespace lastcall::tls

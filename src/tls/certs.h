#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

// Certificates for `lastcall webhook certs` (docs/webhook-server.md): a private CA and a serving
// certificate signed by it, ECDSA P-256 both, for clusters without cert-manager. BearSSL reads
// X.509 but writes none, so this file holds a small DER writer (only what these two
// certificates need: X.690's definite-length encoding of a handful of types) and the two
// certificates' layout (RFC 5280).
namespace lastcall::tls {

using Bytes = std::vector<unsigned char>;

// ---- DER (X.690), exposed for tests ----------------------------------------------------------
namespace der {
// Tag, length (short or long form) and contents.
Bytes Tlv(unsigned char tag, const Bytes& contents);
Bytes Sequence(std::initializer_list<Bytes> items);
Bytes Set(std::initializer_list<Bytes> items);
// A non-negative INTEGER from big-endian magnitude bytes: leading zeros dropped, a 0x00 added when
// the top bit is set (else it would read negative).
Bytes UnsignedInteger(const Bytes& magnitude);
Bytes SmallInteger(unsigned value);
Bytes Boolean(bool value);
// "1.2.840.10045.2.1" as arcs.
Bytes Oid(std::initializer_list<uint32_t> arcs);
Bytes Utf8String(std::string_view text);
Bytes OctetString(const Bytes& contents);
Bytes BitString(const Bytes& contents, unsigned unused_bits = 0);
// UTCTime for 1950..2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), seconds, "Z".
Bytes Time(std::chrono::system_clock::time_point at);
// [n] EXPLICIT: a constructed context tag around `inner`.
Bytes Explicit(unsigned char number, const Bytes& inner);
}  // namespace der

// "-----BEGIN LABEL-----", base64 in 64-column lines, "-----END LABEL-----", each line ending "\n".
std::string PemEncode(std::string_view label, const Bytes& der);

struct WebhookCertificates {
  std::string ca_pem;      // ca.crt: the CA certificate
  std::string ca_key_pem;  // ca.key: the CA's private key (PKCS#8), for renewals; keep it off
                           // the cluster
  std::string cert_pem;    // tls.crt: the serving certificate
  std::string key_pem;     // tls.key: the serving certificate's private key (PKCS#8)
  std::vector<std::string> dns_names;
  bool reused_ca = false;  // the CA given was kept (only the serving certificate is new)
};

// A CA to sign with instead of a new one: its certificate and private key, as PEM.
struct ExistingCa {
  std::string cert_pem;
  std::string cert_source;  // for messages: "certs/ca.crt"
  std::string key_pem;
  std::string key_source;
};

inline constexpr std::chrono::hours kCaValidity{24 * 3650};      // 10 years
inline constexpr std::chrono::hours kServingValidity{24 * 365};  // 1 year
// Both start this long before `now`, so a node whose clock is a little behind accepts them.
inline constexpr std::chrono::hours kBackdate{1};

// The DNS names a Service is reached by inside the cluster: S, S.N, S.N.svc,
// S.N.svc.cluster.local.
std::vector<std::string> ServiceDnsNames(std::string_view service, std::string_view ns);

// A fresh CA (CN "lastcall webhook CA", CA:TRUE pathlen 0, keyCertSign and cRLSign) and a
// serving certificate it signs (CN S.N.svc, the ServiceDnsNames as DNS SANs, CA:FALSE,
// digitalSignature, extendedKeyUsage serverAuth), with random 128-bit serials and keys from the
// OS's entropy (getrandom) through HMAC-DRBG.
// With `existing`: that CA signs the new serving certificate and is returned unchanged, so a
// renewal needs no new caBundle; unless it expires within kServingValidity, when a new CA is made
// (reused_ca false says so). An existing CA that does not load (not PEM, not an EC P-256 CA, a
// key that is not its certificate's) is an error naming the file.
Expected<WebhookCertificates> MakeWebhookCertificates(std::string_view service, std::string_view ns,
                                                      std::chrono::system_clock::time_point now,
                                                      const ExistingCa* existing = nullptr);

// Why `name` is not a DNS label a Service or Namespace may have (RFC 1123: 1-63 lower-case
// letters, digits and '-', starting and ending with a letter or digit); "" when it is.
std::string DnsLabelProblem(std::string_view name);

}  // namespace lastcall::tls

#include "tls/certs.h"

#include <bearssl.h>
#include <fmt/format.h>
#include <sys/random.h>

#include <cerrno>
#include <ctime>
#include <utility>

namespace lastcall::tls {
namespace der {
namespace {

Bytes Concat(std::initializer_list<Bytes> items) {
  Bytes out;
  for (const Bytes& item : items) out.insert(out.end(), item.begin(), item.end());
  return out;
}

Bytes Text(unsigned char tag, std::string_view text) {
  return Tlv(tag, Bytes(text.begin(), text.end()));
}

void AppendBase128(uint32_t value, Bytes* out) {
  unsigned char groups[5];
  size_t count = 0;
  do {
    groups[count++] = static_cast<unsigned char>(value & 0x7F);
    value >>= 7;
  } while (value != 0);
  while (count > 1) out->push_back(static_cast<unsigned char>(groups[--count] | 0x80));
  out->push_back(groups[0]);
}

}  // namespace

Bytes Tlv(unsigned char tag, const Bytes& contents) {
  Bytes out{tag};
  const size_t length = contents.size();
  if (length < 0x80) {
    out.push_back(static_cast<unsigned char>(length));
  } else {
    unsigned char digits[sizeof(size_t)];
    size_t count = 0;
    for (size_t rest = length; rest != 0; rest >>= 8) {
      digits[count++] = static_cast<unsigned char>(rest & 0xFF);
    }
    out.push_back(static_cast<unsigned char>(0x80 | count));
    while (count > 0) out.push_back(digits[--count]);
  }
  out.insert(out.end(), contents.begin(), contents.end());
  return out;
}

Bytes Sequence(std::initializer_list<Bytes> items) { return Tlv(0x30, Concat(items)); }
Bytes Set(std::initializer_list<Bytes> items) { return Tlv(0x31, Concat(items)); }

Bytes UnsignedInteger(const Bytes& magnitude) {
  size_t start = 0;
  while (start + 1 < magnitude.size() && magnitude[start] == 0) ++start;
  Bytes contents;
  if (magnitude.empty() || (magnitude[start] & 0x80) != 0) contents.push_back(0);
  contents.insert(contents.end(), magnitude.begin() + static_cast<std::ptrdiff_t>(start),
                  magnitude.end());
  return Tlv(0x02, contents);
}

Bytes SmallInteger(unsigned value) {
  Bytes magnitude;
  for (int shift = 24; shift >= 0; shift -= 8) {
    magnitude.push_back(static_cast<unsigned char>((value >> shift) & 0xFF));
  }
  return UnsignedInteger(magnitude);
}

Bytes Boolean(bool value) { return Tlv(0x01, {static_cast<unsigned char>(value ? 0xFF : 0x00)}); }

Bytes Oid(std::initializer_list<uint32_t> arcs) {
  Bytes contents;
  auto arc = arcs.begin();
  const uint32_t first = *arc++;
  const uint32_t second = *arc++;
  AppendBase128(first * 40 + second, &contents);
  for (; arc != arcs.end(); ++arc) AppendBase128(*arc, &contents);
  return Tlv(0x06, contents);
}

Bytes Utf8String(std::string_view text) { return Text(0x0C, text); }
Bytes OctetString(const Bytes& contents) { return Tlv(0x04, contents); }

Bytes BitString(const Bytes& contents, unsigned unused_bits) {
  Bytes body{static_cast<unsigned char>(unused_bits)};
  body.insert(body.end(), contents.begin(), contents.end());
  return Tlv(0x03, body);
}

Bytes Time(std::chrono::system_clock::time_point at) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  const int year = utc.tm_year + 1900;
  const std::string clock = fmt::format("{:02}{:02}{:02}{:02}{:02}Z", utc.tm_mon + 1, utc.tm_mday,
                                        utc.tm_hour, utc.tm_min, utc.tm_sec);
  if (year >= 1950 && year < 2050) return Text(0x17, fmt::format("{:02}", year % 100) + clock);
  return Text(0x18, fmt::format("{:04}", year) + clock);
}

Bytes Explicit(unsigned char number, const Bytes& inner) {
  return Tlv(static_cast<unsigned char>(0xA0 | number), inner);
}

}  // namespace der

namespace {

using namespace der;  // NOLINT(google-build-using-namespace): the layout reads as ASN.1

Bytes Sha(const br_hash_class* hash, const Bytes& data) {
  br_hash_compat_context context;
  hash->init(&context.vtable);
  hash->update(&context.vtable, data.data(), data.size());
  Bytes out((hash->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK);
  hash->out(&context.vtable, out.data());
  return out;
}

// An EC P-256 key pair whose buffers it owns.
struct EcKey {
  unsigned char secret[BR_EC_KBUF_PRIV_MAX_SIZE];
  unsigned char point[BR_EC_KBUF_PUB_MAX_SIZE];
  br_ec_private_key sk{};
  br_ec_public_key pk{};
};

bool MakeKey(const br_prng_class** rng, EcKey* key) {
  const br_ec_impl* ec = br_ec_get_default();
  if (br_ec_keygen(rng, ec, &key->sk, key->secret, BR_EC_secp256r1) == 0) return false;
  return br_ec_compute_pub(ec, &key->pk, key->point, &key->sk) != 0;
}

Bytes PublicPoint(const EcKey& key) { return Bytes(key.pk.q, key.pk.q + key.pk.qlen); }

Bytes SubjectPublicKeyInfo(const EcKey& key) {
  return Sequence({Sequence({Oid({1, 2, 840, 10045, 2, 1}), Oid({1, 2, 840, 10045, 3, 1, 7})}),
                   BitString(PublicPoint(key))});
}

// RFC 5280 §4.2.1.2, method 1: SHA-1 of the public key's bits.
Bytes KeyIdentifier(const EcKey& key) { return Sha(&br_sha1_vtable, PublicPoint(key)); }

Bytes Name(std::string_view common_name) {
  return Sequence({Set({Sequence({Oid({2, 5, 4, 10}), Utf8String("lastcall")})}),
                   Set({Sequence({Oid({2, 5, 4, 3}), Utf8String(common_name)})})});
}

Bytes Extension(std::initializer_list<uint32_t> oid, bool critical, const Bytes& value) {
  if (critical) return Sequence({Oid(oid), Boolean(true), OctetString(value)});
  return Sequence({Oid(oid), OctetString(value)});
}

Bytes EcdsaWithSha256() { return Sequence({Oid({1, 2, 840, 10045, 4, 3, 2})}); }

Expected<Bytes> Sign(const Bytes& tbs, const EcKey& signer) {
  const Bytes hash = Sha(&br_sha256_vtable, tbs);
  unsigned char signature[80];
  const size_t length = br_ecdsa_i31_sign_asn1(br_ec_get_default(), &br_sha256_vtable, hash.data(),
                                               &signer.sk, signature);
  if (length == 0) return Status::Internal("ECDSA signing failed");
  return Sequence({tbs, EcdsaWithSha256(), BitString(Bytes(signature, signature + length))});
}

Bytes Serial(const br_prng_class** rng) {
  Bytes serial(16);
  (*rng)->generate(rng, serial.data(), serial.size());
  serial[0] = static_cast<unsigned char>((serial[0] & 0x7F) | 0x01);  // positive, 16 bytes
  return UnsignedInteger(serial);
}

}  // namespace

std::string PemEncode(std::string_view label, const Bytes& bytes) {
  const std::string banner(label);
  const size_t length =
      br_pem_encode(nullptr, bytes.data(), bytes.size(), banner.c_str(), BR_PEM_LINE64);
  std::string out(length + 1, '\0');
  br_pem_encode(out.data(), bytes.data(), bytes.size(), banner.c_str(), BR_PEM_LINE64);
  out.resize(length);
  return out;
}

std::vector<std::string> ServiceDnsNames(std::string_view service, std::string_view ns) {
  const std::string base = fmt::format("{}.{}", service, ns);
  return {std::string(service), base, base + ".svc", base + ".svc.cluster.local"};
}

std::string DnsLabelProblem(std::string_view name) {
  if (name.empty()) return "empty";
  if (name.size() > 63)
    return fmt::format("{} characters; a DNS label has at most 63", name.size());
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return "only lower-case letters, digits and '-' are allowed in a DNS label";
    }
  }
  if (name.front() == '-' || name.back() == '-')
    return "a DNS label starts and ends with a letter or digit";
  return "";
}

Expected<WebhookCertificates> MakeWebhookCertificates(std::string_view service, std::string_view ns,
                                                      std::chrono::system_clock::time_point now) {
  unsigned char seed[48];
  size_t filled = 0;
  while (filled < sizeof seed) {
    const ssize_t got = getrandom(seed + filled, sizeof seed - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return Status::Unavailable("getrandom: the OS gives no entropy");
    filled += static_cast<size_t>(got);
  }
  br_hmac_drbg_context drbg;
  br_hmac_drbg_init(&drbg, &br_sha256_vtable, seed, sizeof seed);
  const br_prng_class** rng = &drbg.vtable;

  EcKey ca_key;
  EcKey leaf_key;
  if (!MakeKey(rng, &ca_key) || !MakeKey(rng, &leaf_key)) {
    return Status::Internal("EC P-256 key generation failed");
  }
  const auto not_before = now - kBackdate;
  const Bytes ca_name = Name("lastcall webhook CA");
  const Bytes ca_id = KeyIdentifier(ca_key);

  const Bytes ca_tbs = Sequence({
      Explicit(0, SmallInteger(2)),
      Serial(rng),
      EcdsaWithSha256(),
      ca_name,
      Sequence({Time(not_before), Time(not_before + kCaValidity)}),
      ca_name,
      SubjectPublicKeyInfo(ca_key),
      Explicit(3, Sequence({
                      // basicConstraints: CA, no intermediate below it.
                      Extension({2, 5, 29, 19}, true, Sequence({Boolean(true), SmallInteger(0)})),
                      // keyUsage: keyCertSign, cRLSign (bits 5 and 6).
                      Extension({2, 5, 29, 15}, true, BitString({0x06}, 1)),
                      Extension({2, 5, 29, 14}, false, OctetString(ca_id)),
                  })),
  });
  auto ca_der = Sign(ca_tbs, ca_key);
  if (!ca_der.ok()) return ca_der.status();

  WebhookCertificates out;
  out.dns_names = ServiceDnsNames(service, ns);
  Bytes sans;
  for (const std::string& name : out.dns_names) {
    const Bytes entry = der::Tlv(0x82, Bytes(name.begin(), name.end()));  // [2] IMPLICIT dNSName
    sans.insert(sans.end(), entry.begin(), entry.end());
  }
  const Bytes leaf_tbs = Sequence({
      Explicit(0, SmallInteger(2)),
      Serial(rng),
      EcdsaWithSha256(),
      ca_name,
      Sequence({Time(not_before), Time(not_before + kServingValidity)}),
      Name(out.dns_names[2]),
      SubjectPublicKeyInfo(leaf_key),
      Explicit(3,
               Sequence({
                   Extension({2, 5, 29, 19}, true, Sequence({})),
                   // keyUsage: digitalSignature (bit 0): ECDHE_ECDSA signs, never encrypts.
                   Extension({2, 5, 29, 15}, true, BitString({0x80}, 7)),
                   Extension({2, 5, 29, 37}, false, Sequence({Oid({1, 3, 6, 1, 5, 5, 7, 3, 1})})),
                   Extension({2, 5, 29, 17}, false, der::Tlv(0x30, sans)),
                   Extension({2, 5, 29, 14}, false, OctetString(KeyIdentifier(leaf_key))),
                   // authorityKeyIdentifier: [0] IMPLICIT keyIdentifier.
                   Extension({2, 5, 29, 35}, false, Sequence({der::Tlv(0x80, ca_id)})),
               })),
  });
  auto leaf_der = Sign(leaf_tbs, ca_key);
  if (!leaf_der.ok()) return leaf_der.status();

  unsigned char key_der[BR_EC_KBUF_PRIV_MAX_SIZE + BR_EC_KBUF_PUB_MAX_SIZE + 64];
  const size_t key_length = br_encode_ec_pkcs8_der(key_der, &leaf_key.sk, &leaf_key.pk);
  if (key_length == 0 || key_length > sizeof key_der) {
    return Status::Internal("PKCS#8 encoding of the key failed");
  }
  out.ca_pem = PemEncode("CERTIFICATE", *ca_der);
  out.cert_pem = PemEncode("CERTIFICATE", *leaf_der);
  out.key_pem = PemEncode("PRIVATE KEY", Bytes(key_der, key_der + key_length));
  // The secrets on the stack are not needed any more.
  explicit_bzero(&leaf_key, sizeof leaf_key);
  explicit_bzero(&ca_key, sizeof ca_key);
  explicit_bzero(key_der, sizeof key_der);
  explicit_bzero(&drbg, sizeof drbg);
  explicit_bzero(seed, sizeof seed);
  return out;
}

}  // namespace lastcall::tls

#include "tls/certs.h"

#include <bearssl.h>
#include <fmt/format.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "base/text.h"
#include "tls/pem.h"

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
  const UtcFields utc = SplitUtc(at);
  const int year = utc.year;
  const std::string clock = fmt::format("{:02}{:02}{:02}{:02}{:02}Z", utc.month, utc.day, utc.hour,
                                        utc.minute, utc.second);
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

void AppendBytes(void* dest, const void* data, size_t length) {
  auto* out = static_cast<Bytes*>(dest);
  const auto* bytes = static_cast<const unsigned char*>(data);
  out->insert(out->end(), bytes, bytes + length);
}

// The CA that signs: its key, its subject (the leaf's issuer, byte for byte), its key identifier.
struct Ca {
  EcKey key;
  Bytes name;
  Bytes id;
  std::string cert_pem;
  std::string key_pem;
  std::chrono::system_clock::time_point not_after;
};

Status LoadCa(const ExistingCa& existing, Ca* ca) {
  auto key_blocks = DecodePem(existing.key_pem, existing.key_source);
  if (!key_blocks.ok()) return key_blocks.status();
  const PemBlock* key_block = nullptr;
  for (const PemBlock& block : *key_blocks) {
    if (block.label.ends_with("PRIVATE KEY")) key_block = &block;
  }
  if (key_block == nullptr) {
    return Status::Invalid(fmt::format("{}: no PRIVATE KEY block", existing.key_source));
  }
  br_skey_decoder_context skey;
  br_skey_decoder_init(&skey);
  br_skey_decoder_push(&skey, key_block->der.data(), key_block->der.size());
  const br_ec_private_key* sk = br_skey_decoder_get_ec(&skey);
  if (br_skey_decoder_last_error(&skey) != 0 || sk == nullptr || sk->curve != BR_EC_secp256r1 ||
      sk->xlen > sizeof ca->key.secret) {
    return Status::Invalid(fmt::format(
        "{}: not an EC P-256 private key (the CA `webhook certs` writes)", existing.key_source));
  }
  std::memcpy(ca->key.secret, sk->x, sk->xlen);
  ca->key.sk = br_ec_private_key{sk->curve, ca->key.secret, sk->xlen};
  explicit_bzero(&skey, sizeof skey);
  if (br_ec_compute_pub(br_ec_get_default(), &ca->key.pk, ca->key.point, &ca->key.sk) == 0) {
    return Status::Invalid(fmt::format("{}: an invalid EC key", existing.key_source));
  }
  auto cert_blocks = DecodePem(existing.cert_pem, existing.cert_source);
  if (!cert_blocks.ok()) return cert_blocks.status();
  const Bytes& der = cert_blocks->front().der;
  br_x509_decoder_context decoder;
  br_x509_decoder_init(&decoder, AppendBytes, &ca->name);
  br_x509_decoder_push(&decoder, der.data(), der.size());
  const br_x509_pkey* pk = br_x509_decoder_get_pkey(&decoder);
  if (pk == nullptr || cert_blocks->front().label != "CERTIFICATE") {
    return Status::Invalid(fmt::format("{}: not an X.509 certificate", existing.cert_source));
  }
  if (br_x509_decoder_isCA(&decoder) == 0) {
    return Status::Invalid(fmt::format("{}: not a CA certificate", existing.cert_source));
  }
  if (pk->key_type != BR_KEYTYPE_EC || pk->key.ec.qlen != ca->key.pk.qlen ||
      std::memcmp(pk->key.ec.q, ca->key.pk.q, pk->key.ec.qlen) != 0) {
    return Status::Invalid(fmt::format("{}: the private key does not belong to {}",
                                       existing.key_source, existing.cert_source));
  }
  // BearSSL counts days from January 1st of year 0; the Unix epoch is its day 719528.
  constexpr int64_t kEpochDay = 719528;
  const int64_t seconds = (static_cast<int64_t>(decoder.notafter_days) - kEpochDay) * 86400 +
                          static_cast<int64_t>(decoder.notafter_seconds);
  ca->not_after = std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
  ca->id = KeyIdentifier(ca->key);
  ca->cert_pem = existing.cert_pem;
  ca->key_pem = existing.key_pem;
  return Status::Ok();
}

Expected<std::string> PrivateKeyPem(const EcKey& key);

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
                                                      std::chrono::system_clock::time_point now,
                                                      const ExistingCa* existing) {
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

  WebhookCertificates out;
  Ca ca;
  if (existing != nullptr) {
    if (Status loaded = LoadCa(*existing, &ca); !loaded.ok()) return loaded;
    // A CA that would expire before the new serving certificate is not worth keeping.
    out.reused_ca = ca.not_after > now + kServingValidity;
  }
  const auto not_before = now - kBackdate;
  if (!out.reused_ca) {
    ca.name.clear();
    if (!MakeKey(rng, &ca.key)) return Status::Internal("EC P-256 key generation failed");
    ca.name = Name("lastcall webhook CA");
    ca.id = KeyIdentifier(ca.key);
    const Bytes ca_tbs = Sequence({
        Explicit(0, SmallInteger(2)),
        Serial(rng),
        EcdsaWithSha256(),
        ca.name,
        Sequence({Time(not_before), Time(not_before + kCaValidity)}),
        ca.name,
        SubjectPublicKeyInfo(ca.key),
        Explicit(3, Sequence({
                        // basicConstraints: CA, no intermediate below it.
                        Extension({2, 5, 29, 19}, true, Sequence({Boolean(true), SmallInteger(0)})),
                        // keyUsage: keyCertSign, cRLSign (bits 5 and 6).
                        Extension({2, 5, 29, 15}, true, BitString({0x06}, 1)),
                        Extension({2, 5, 29, 14}, false, OctetString(ca.id)),
                    })),
    });
    auto ca_der = Sign(ca_tbs, ca.key);
    if (!ca_der.ok()) return ca_der.status();
    ca.cert_pem = PemEncode("CERTIFICATE", *ca_der);
    auto ca_key_pem = PrivateKeyPem(ca.key);
    if (!ca_key_pem.ok()) return ca_key_pem.status();
    ca.key_pem = std::move(ca_key_pem).value();
  }

  EcKey leaf_key;
  if (!MakeKey(rng, &leaf_key)) return Status::Internal("EC P-256 key generation failed");
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
      ca.name,
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
                   Extension({2, 5, 29, 35}, false, Sequence({der::Tlv(0x80, ca.id)})),
               })),
  });
  auto leaf_der = Sign(leaf_tbs, ca.key);
  if (!leaf_der.ok()) return leaf_der.status();
  auto key_pem = PrivateKeyPem(leaf_key);
  if (!key_pem.ok()) return key_pem.status();
  out.ca_pem = ca.cert_pem;
  out.ca_key_pem = ca.key_pem;
  out.cert_pem = PemEncode("CERTIFICATE", *leaf_der);
  out.key_pem = std::move(key_pem).value();
  // The secrets on the stack are not needed any more.
  explicit_bzero(&leaf_key, sizeof leaf_key);
  explicit_bzero(&ca.key, sizeof ca.key);
  explicit_bzero(&drbg, sizeof drbg);
  explicit_bzero(seed, sizeof seed);
  return out;
}

namespace {

Expected<std::string> PrivateKeyPem(const EcKey& key) {
  unsigned char der[BR_EC_KBUF_PRIV_MAX_SIZE + BR_EC_KBUF_PUB_MAX_SIZE + 64];
  const size_t length = br_encode_ec_pkcs8_der(der, &key.sk, &key.pk);
  if (length == 0 || length > sizeof der) {
    return Status::Internal("PKCS#8 encoding of the key failed");
  }
  std::string pem = PemEncode("PRIVATE KEY", Bytes(der, der + length));
  explicit_bzero(der, sizeof der);
  return pem;
}

}  // namespace

}  // namespace lastcall::tls

#include "tls/pem.h"

#include <fmt/format.h>

#include <cstring>
#include <utility>

namespace lastcall::tls {
namespace {

void AppendTo(void* dest, const void* data, size_t len) {
  auto* out = static_cast<std::vector<unsigned char>*>(dest);
  const auto* bytes = static_cast<const unsigned char*>(data);
  out->insert(out->end(), bytes, bytes + len);
}

std::vector<unsigned char> Copy(const unsigned char* data, size_t len) {
  return {data, data + len};
}

// A decoded certificate: its subject and public key copied out of the decoder, whose buffers
// die with it.
struct DecodedCert {
  std::vector<unsigned char> dn;
  unsigned char key_type = 0;
  std::vector<unsigned char> key_a;  // RSA n, or the EC point q
  std::vector<unsigned char> key_b;  // RSA e
  int curve = 0;
  bool is_ca = false;
  int signer_key_type = 0;
};

Expected<DecodedCert> DecodeCert(const std::vector<unsigned char>& der, std::string_view where) {
  DecodedCert cert;
  br_x509_decoder_context dc;
  br_x509_decoder_init(&dc, AppendTo, &cert.dn);
  br_x509_decoder_push(&dc, der.data(), der.size());
  const br_x509_pkey* pk = br_x509_decoder_get_pkey(&dc);
  if (pk == nullptr) {
    return Status::Invalid(fmt::format("{}: not an X.509 certificate BearSSL can read (error {})",
                                       where, br_x509_decoder_last_error(&dc)));
  }
  cert.key_type = pk->key_type;
  if (pk->key_type == BR_KEYTYPE_RSA) {
    cert.key_a = Copy(pk->key.rsa.n, pk->key.rsa.nlen);
    cert.key_b = Copy(pk->key.rsa.e, pk->key.rsa.elen);
  } else if (pk->key_type == BR_KEYTYPE_EC) {
    cert.key_a = Copy(pk->key.ec.q, pk->key.ec.qlen);
    cert.curve = pk->key.ec.curve;
  } else {
    return Status::Invalid(fmt::format("{}: a public key that is neither RSA nor EC", where));
  }
  cert.is_ca = br_x509_decoder_isCA(&dc) != 0;
  cert.signer_key_type = br_x509_decoder_get_signer_key_type(&dc);
  return cert;
}

}  // namespace

Expected<std::vector<PemBlock>> DecodePem(std::string_view text, std::string_view source) {
  std::vector<PemBlock> blocks;
  br_pem_decoder_context pc;
  br_pem_decoder_init(&pc);
  bool inside = false;
  size_t offset = 0;
  // One more push of a newline: BearSSL needs the end line's terminator, which the last line of
  // a file sometimes lacks.
  std::string tail = "\n";
  bool tail_pushed = false;
  while (offset < text.size() || !tail_pushed) {
    if (offset < text.size()) {
      offset += br_pem_decoder_push(&pc, text.data() + offset, text.size() - offset);
    } else {
      tail_pushed = true;
      br_pem_decoder_push(&pc, tail.data(), tail.size());
    }
    switch (br_pem_decoder_event(&pc)) {
      case BR_PEM_BEGIN_OBJ:
        blocks.push_back({br_pem_decoder_name(&pc), {}});
        br_pem_decoder_setdest(&pc, AppendTo, &blocks.back().der);
        inside = true;
        break;
      case BR_PEM_END_OBJ:
        inside = false;
        break;
      case BR_PEM_ERROR:
        return Status::Invalid(
            fmt::format("{}: PEM block {} is not valid base64 between BEGIN "
                        "and END lines",
                        source, blocks.size() + (inside ? 0 : 1)));
      default:
        break;
    }
  }
  if (inside) {
    return Status::Invalid(fmt::format("{}: PEM block {} has no END line", source, blocks.size()));
  }
  if (blocks.empty()) {
    return Status::Invalid(fmt::format("{}: no PEM block (-----BEGIN ...-----)", source));
  }
  return blocks;
}

Expected<TrustAnchors> TrustAnchors::FromPem(std::string_view pem, std::string_view source) {
  auto blocks = DecodePem(pem, source);
  if (!blocks.ok()) return blocks.status();
  TrustAnchors anchors;
  size_t ordinal = 0;
  for (const PemBlock& block : *blocks) {
    ++ordinal;
    if (block.label != "CERTIFICATE" && block.label != "X509 CERTIFICATE") continue;
    auto cert = DecodeCert(block.der, fmt::format("{}: certificate {}", source, ordinal));
    if (!cert.ok()) return cert.status();
    anchors.owned_.push_back({std::move(cert->dn), std::move(cert->key_a), std::move(cert->key_b),
                              cert->is_ca ? BR_X509_TA_CA : 0u, cert->key_type, cert->curve});
  }
  if (anchors.owned_.empty()) {
    return Status::Invalid(fmt::format("{}: no CERTIFICATE block", source));
  }
  for (Owned& o : anchors.owned_) {
    br_x509_trust_anchor ta{};
    ta.dn = {o.dn.data(), o.dn.size()};
    ta.flags = o.flags;
    ta.pkey.key_type = o.key_type;
    if (o.key_type == BR_KEYTYPE_RSA) {
      ta.pkey.key.rsa = {o.key_a.data(), o.key_a.size(), o.key_b.data(), o.key_b.size()};
    } else {
      ta.pkey.key.ec = {o.curve, o.key_a.data(), o.key_a.size()};
    }
    anchors.anchors_.push_back(ta);
  }
  return anchors;
}

Expected<ServerIdentity> ServerIdentity::FromPem(std::string_view cert_pem,
                                                 std::string_view cert_source,
                                                 std::string_view key_pem,
                                                 std::string_view key_source) {
  auto cert_blocks = DecodePem(cert_pem, cert_source);
  if (!cert_blocks.ok()) return cert_blocks.status();
  auto key_blocks = DecodePem(key_pem, key_source);
  if (!key_blocks.ok()) return key_blocks.status();

  ServerIdentity id;
  for (PemBlock& block : *cert_blocks) {
    if (block.label == "CERTIFICATE" || block.label == "X509 CERTIFICATE") {
      id.certs_.push_back(std::move(block.der));
    }
  }
  if (id.certs_.empty()) {
    return Status::Invalid(fmt::format("{}: no CERTIFICATE block", cert_source));
  }
  auto leaf = DecodeCert(id.certs_.front(), fmt::format("{}: certificate 1", cert_source));
  if (!leaf.ok()) return leaf.status();
  id.leaf_signer_key_type_ = leaf->signer_key_type;

  const PemBlock* key_block = nullptr;
  for (const PemBlock& block : *key_blocks) {
    if (block.label == "PRIVATE KEY" || block.label == "EC PRIVATE KEY" ||
        block.label == "RSA PRIVATE KEY") {
      if (key_block != nullptr) {
        return Status::Invalid(fmt::format("{}: more than one private key", key_source));
      }
      key_block = &block;
    } else if (block.label == "ENCRYPTED PRIVATE KEY") {
      return Status::Invalid(
          fmt::format("{}: the private key is encrypted; lastcall reads only unencrypted keys "
                      "(as a Kubernetes TLS Secret holds them)",
                      key_source));
    }
  }
  if (key_block == nullptr) {
    return Status::Invalid(fmt::format("{}: no PRIVATE KEY block", key_source));
  }
  br_skey_decoder_context sk;
  br_skey_decoder_init(&sk);
  br_skey_decoder_push(&sk, key_block->der.data(), key_block->der.size());
  if (int err = br_skey_decoder_last_error(&sk); err != 0) {
    return Status::Invalid(
        fmt::format("{}: a private key BearSSL cannot read (error {})", key_source, err));
  }
  id.key_type_ = br_skey_decoder_key_type(&sk);
  if (id.key_type_ != leaf->key_type) {
    return Status::Invalid(fmt::format("{}: {} key, but {}'s certificate holds {} key", key_source,
                                       id.key_type_ == BR_KEYTYPE_RSA ? "an RSA" : "an EC",
                                       cert_source,
                                       leaf->key_type == BR_KEYTYPE_RSA ? "an RSA" : "an EC"));
  }
  if (id.key_type_ == BR_KEYTYPE_EC) {
    const br_ec_private_key* k = br_skey_decoder_get_ec(&sk);
    unsigned char pub[BR_EC_KBUF_PUB_MAX_SIZE];
    size_t pub_len = br_ec_compute_pub(br_ec_get_default(), nullptr, pub, k);
    if (k->curve != leaf->curve || pub_len != leaf->key_a.size() ||
        std::memcmp(pub, leaf->key_a.data(), pub_len) != 0) {
      return Status::Invalid(fmt::format("{}: the private key does not belong to {}'s certificate",
                                         key_source, cert_source));
    }
    id.key_bytes_ = Copy(k->x, k->xlen);
    id.ec_ = {k->curve, id.key_bytes_.data(), id.key_bytes_.size()};
  } else {
    const br_rsa_private_key* k = br_skey_decoder_get_rsa(&sk);
    br_rsa_compute_modulus modulus = br_rsa_compute_modulus_get_default();
    std::vector<unsigned char> n(modulus(nullptr, k));
    modulus(n.data(), k);
    // The certificate's modulus may carry a leading zero byte; compare the numbers.
    auto strip = [](const unsigned char* p, size_t len) {
      while (len > 0 && *p == 0) ++p, --len;
      return std::string_view(reinterpret_cast<const char*>(p), len);
    };
    if (n.empty() || strip(n.data(), n.size()) != strip(leaf->key_a.data(), leaf->key_a.size())) {
      return Status::Invalid(fmt::format("{}: the private key does not belong to {}'s certificate",
                                         key_source, cert_source));
    }
    // p, q, dp, dq, iq back to back in one buffer that moves with the object.
    const size_t sizes[] = {k->plen, k->qlen, k->dplen, k->dqlen, k->iqlen};
    const unsigned char* parts[] = {k->p, k->q, k->dp, k->dq, k->iq};
    for (size_t i = 0; i < 5; ++i) {
      id.key_bytes_.insert(id.key_bytes_.end(), parts[i], parts[i] + sizes[i]);
    }
    unsigned char* at = id.key_bytes_.data();
    id.rsa_.n_bitlen = k->n_bitlen;
    id.rsa_.p = at, id.rsa_.plen = k->plen, at += k->plen;
    id.rsa_.q = at, id.rsa_.qlen = k->qlen, at += k->qlen;
    id.rsa_.dp = at, id.rsa_.dplen = k->dplen, at += k->dplen;
    id.rsa_.dq = at, id.rsa_.dqlen = k->dqlen, at += k->dqlen;
    id.rsa_.iq = at, id.rsa_.iqlen = k->iqlen;
  }
  for (auto& der : id.certs_) id.chain_.push_back({der.data(), der.size()});
  return id;
}

}  // namespace lastcall::tls

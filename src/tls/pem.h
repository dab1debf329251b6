#pragma once
#include <bearssl.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

// What both TLS sides need from PEM files: BearSSL (docs/architecture.md, "TLS: BearSSL") decodes
// DER and holds no memory of its own, so these classes own the bytes its structs point into.
//
// Everything here is pure: text in, values out. Reading the files (and noticing a rotation) is
// the caller's job, so a test feeds strings and a fuzzer feeds bytes.
namespace lastcall::tls {

struct PemBlock {
  std::string label;  // "CERTIFICATE", "EC PRIVATE KEY", ...
  std::vector<unsigned char> der;
};

// Every PEM block in `text`, in order. Text outside blocks is ignored (comments in CA bundles);
// a block that does not decode is an error naming its ordinal. No block at all is an error too.
// `source` names the input in messages ("/var/run/secrets/.../ca.crt").
Expected<std::vector<PemBlock>> DecodePem(std::string_view text, std::string_view source);

// The trust anchors of a CA bundle (every CERTIFICATE block): what a client verifies a server
// against. A certificate that is a CA anchors chains; one that is not anchors only itself. Move
// only: BearSSL's anchors point into this object's buffers.
class TrustAnchors {
 public:
  static Expected<TrustAnchors> FromPem(std::string_view pem, std::string_view source);

  TrustAnchors(TrustAnchors&&) noexcept = default;
  TrustAnchors& operator=(TrustAnchors&&) noexcept = default;
  TrustAnchors(const TrustAnchors&) = delete;
  TrustAnchors& operator=(const TrustAnchors&) = delete;
  ~TrustAnchors() = default;

  const br_x509_trust_anchor* data() const { return anchors_.data(); }
  size_t size() const { return anchors_.size(); }

 private:
  TrustAnchors() = default;
  struct Owned {
    std::vector<unsigned char> dn;
    std::vector<unsigned char> key_a;  // RSA modulus, or the EC point
    std::vector<unsigned char> key_b;  // RSA public exponent; unused for EC
    unsigned flags = 0;
    unsigned char key_type = 0;  // BR_KEYTYPE_RSA or BR_KEYTYPE_EC
    int curve = 0;
  };
  std::vector<Owned> owned_;
  std::vector<br_x509_trust_anchor> anchors_;  // points into owned_
};

// A server's certificate chain (leaf first) and its private key, RSA or EC, checked to belong
// together: a half-rotated pair (the new certificate beside the old key) is refused here rather
// than failing every handshake. Move only, for the same reason as TrustAnchors.
class ServerIdentity {
 public:
  static Expected<ServerIdentity> FromPem(std::string_view cert_pem, std::string_view cert_source,
                                          std::string_view key_pem, std::string_view key_source);

  ServerIdentity(ServerIdentity&&) noexcept = default;
  ServerIdentity& operator=(ServerIdentity&&) noexcept = default;
  ServerIdentity(const ServerIdentity&) = delete;
  ServerIdentity& operator=(const ServerIdentity&) = delete;
  ~ServerIdentity() = default;

  const br_x509_certificate* chain() const { return chain_.data(); }
  size_t chain_size() const { return chain_.size(); }
  // BR_KEYTYPE_RSA or BR_KEYTYPE_EC; exactly one of the two keys below is set.
  int key_type() const { return key_type_; }
  const br_rsa_private_key* rsa_key() const {
    return key_type_ == BR_KEYTYPE_RSA ? &rsa_ : nullptr;
  }
  const br_ec_private_key* ec_key() const { return key_type_ == BR_KEYTYPE_EC ? &ec_ : nullptr; }
  // For BearSSL's server profiles: the key type of the issuer's signature on the leaf.
  int leaf_signer_key_type() const { return leaf_signer_key_type_; }

 private:
  ServerIdentity() = default;
  std::vector<std::vector<unsigned char>> certs_;
  std::vector<br_x509_certificate> chain_;  // points into certs_
  std::vector<unsigned char> key_bytes_;    // the private key's parts, back to back
  int key_type_ = 0;
  int leaf_signer_key_type_ = 0;
  br_rsa_private_key rsa_{};
  br_ec_private_key ec_{};
};

}  // namespace lastcall::tls

#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

// Reading an admission.k8s.io/v1 AdmissionReview (the Kubernetes API reference, "Dynamic
// Admission Control"): bounded before anything is built, then checked field by field. Pure.
namespace lastcall {

// Limits of what ParseBoundedJson builds a tree for (memory stays a small multiple of the body).
struct JsonLimits {
  int max_depth = 100;         // arrays and objects inside one another
  size_t max_values = 100000;  // values of any type, containers included (a Pod has ~50-2000)
};

// Parses `text` as one JSON value after a first pass (nlohmann's SAX parser, which keeps its own
// stack, not the C++ one) has checked `limits`: no tree is built for input past them.
// On failure returns a discarded value and sets *error to what and where: "not JSON: at byte 18:
// parse error at line 1, column 18: syntax error while parsing object key ...", "JSON nested
// deeper than 100 levels", "more than 100000 JSON values: too large for a Pod". Never throws.
nlohmann::json ParseBoundedJson(std::string_view text, const JsonLimits& limits,
                                std::string* error);

// The fields of AdmissionReview.request that the webhook reads.
struct AdmissionRequest {
  std::string uid;
  std::string kind_group;    // request.kind: "" (core), "apps", ...
  std::string kind_version;  // "v1"
  std::string kind;          // "Pod"
  std::string sub_resource;  // request.subResource: "" for the pod itself
  std::string operation;     // CREATE, UPDATE, DELETE, CONNECT
  std::string namespace_name;
  std::string name;  // request.name: "" when the pod has only a generateName yet
  bool dry_run = false;
  nlohmann::json object;  // request.object (null when absent)
};

struct ParsedReview {
  bool ok = false;
  AdmissionRequest request;
  // When !ok: what is wrong, naming the field ("request.kind is apps/v1 Deployment: ..."); the
  // uid is filled when it was read before the error.
  std::string error;
};

// Checks that `review` is an AdmissionReview of admission.k8s.io/v1 with a request that has a
// uid, a kind, an operation, and for a CREATE an object that is a JSON object; a request.kind
// other than core v1 Pod is an error (this webhook mutates Pods only). Optional fields of the
// wrong type are errors too. Never throws.
ParsedReview ReadAdmissionReview(const nlohmann::json& review);

// ParseBoundedJson with the default limits, then ReadAdmissionReview: what the fuzzer drives.
ParsedReview ParseAdmissionReview(std::string_view body);

}  // namespace lastcall

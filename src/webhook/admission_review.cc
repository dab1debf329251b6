#include "admission_review.h"

#include <fmt/format.h>

#include <cstdint>
#include <string>

namespace lastcall {

namespace {

using Json = nlohmann::json;

// The first pass: counts depth and values, stops at the first limit passed.
class LimitCheck : public nlohmann::json_sax<Json> {
 public:
  explicit LimitCheck(const JsonLimits& limits) : limits_(limits) {}

  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool string(string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }
  bool start_object(std::size_t) override { return Open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..."
    std::string what = ex.what();
    if (const size_t bracket = what.find("] "); what.starts_with("[") && bracket != what.npos) {
      what.erase(0, bracket + 2);
    }
    error_ = fmt::format("not JSON: at byte {}: {}", position, what);
    return false;
  }

  // Set once a limit stops the parse (the parser's own errors come through parse_error).
  bool limit_passed = false;
  std::string error_;

 private:
  bool Value() {
    if (++values_ <= limits_.max_values) return true;
    limit_passed = true;
    error_ = fmt::format("more than {} JSON values: too large for a Pod", limits_.max_values);
    return false;
  }
  bool Open() {
    if (!Value()) return false;
    if (++depth_ <= limits_.max_depth) return true;
    limit_passed = true;
    error_ = fmt::format("JSON nested deeper than {} levels", limits_.max_depth);
    return false;
  }
  bool Close() {
    --depth_;
    return true;
  }

  const JsonLimits& limits_;
  int depth_ = 0;
  size_t values_ = 0;
};

// Type-checked access to optional fields: absent is fine, the wrong type is an error.
bool OptionalString(const Json& parent, const char* key, const std::string& where, std::string* out,
                    std::string* error) {
  const auto found = parent.find(key);
  if (found == parent.end() || found->is_null()) return true;
  if (!found->is_string()) {
    *error = fmt::format("{}.{} is {}, not a string", where, key, found->type_name());
    return false;
  }
  *out = found->get<std::string>();
  return true;
}

}  // namespace

Json ParseBoundedJson(std::string_view text, const JsonLimits& limits, std::string* error) {
  try {
    LimitCheck check(limits);
    if (!Json::sax_parse(text.begin(), text.end(), &check)) {
      *error = check.error_.empty() ? "not JSON" : check.error_;
      return Json(Json::value_t::discarded);
    }
    Json value = Json::parse(text.begin(), text.end(), nullptr, false);
    if (value.is_discarded()) *error = "not JSON";
    return value;
  } catch (const std::exception& e) {  // allocation failure; the parser itself reports by value
    *error = std::string("not readable: ") + e.what();
    return Json(Json::value_t::discarded);
  }
}

ParsedReview ReadAdmissionReview(const Json& review) {
  ParsedReview parsed;
  std::string& error = parsed.error;
  AdmissionRequest& request = parsed.request;
  if (!review.is_object()) {
    error = fmt::format("the body is a JSON {}, not an object (an AdmissionReview)",
                        review.type_name());
    return parsed;
  }
  std::string api_version;
  std::string kind;
  if (!OptionalString(review, "apiVersion", "AdmissionReview", &api_version, &error) ||
      !OptionalString(review, "kind", "AdmissionReview", &kind, &error)) {
    return parsed;
  }
  if (kind != "AdmissionReview") {
    error = kind.empty() ? "no kind: expected AdmissionReview"
                         : fmt::format("kind {}: expected AdmissionReview", kind);
    return parsed;
  }
  if (api_version != "admission.k8s.io/v1") {
    error = api_version.empty()
                ? "no apiVersion: expected admission.k8s.io/v1"
                : fmt::format(
                      "apiVersion {}: this webhook answers admission.k8s.io/v1 only (set "
                      "admissionReviewVersions: [v1] in the MutatingWebhookConfiguration)",
                      api_version);
    return parsed;
  }
  const auto request_node = review.find("request");
  if (request_node == review.end() || !request_node->is_object()) {
    error = request_node == review.end()
                ? "no request: an AdmissionReview sent to a webhook has one"
                : fmt::format("request is {}, not an object", request_node->type_name());
    return parsed;
  }
  const Json& in = *request_node;
  if (!OptionalString(in, "uid", "request", &request.uid, &error)) return parsed;
  if (request.uid.empty()) {
    error = "no request.uid: the answer must carry it back";
    return parsed;
  }
  if (!OptionalString(in, "subResource", "request", &request.sub_resource, &error) ||
      !OptionalString(in, "operation", "request", &request.operation, &error) ||
      !OptionalString(in, "namespace", "request", &request.namespace_name, &error) ||
      !OptionalString(in, "name", "request", &request.name, &error)) {
    return parsed;
  }
  const auto kind_node = in.find("kind");
  if (kind_node == in.end() || !kind_node->is_object()) {
    error = "no request.kind (group, version, kind) to say what the object is";
    return parsed;
  }
  if (!OptionalString(*kind_node, "group", "request.kind", &request.kind_group, &error) ||
      !OptionalString(*kind_node, "version", "request.kind", &request.kind_version, &error) ||
      !OptionalString(*kind_node, "kind", "request.kind", &request.kind, &error)) {
    return parsed;
  }
  if (!request.kind_group.empty() || request.kind_version != "v1" || request.kind != "Pod") {
    error = fmt::format(
        "request.kind is {}{}{} {}: this webhook mutates Pods (core v1 Pod) only; the "
        "MutatingWebhookConfiguration's rules should send nothing else",
        request.kind_group, request.kind_group.empty() ? "" : "/", request.kind_version,
        request.kind.empty() ? "(no kind)" : request.kind);
    return parsed;
  }
  if (request.operation.empty()) {
    error = "no request.operation (CREATE, UPDATE, ...)";
    return parsed;
  }
  if (const auto dry_run = in.find("dryRun"); dry_run != in.end() && !dry_run->is_null()) {
    if (!dry_run->is_boolean()) {
      error = fmt::format("request.dryRun is {}, not a boolean", dry_run->type_name());
      return parsed;
    }
    request.dry_run = dry_run->get<bool>();
  }
  if (const auto object = in.find("object"); object != in.end()) request.object = *object;
  if (request.operation == "CREATE") {
    if (!request.object.is_object()) {
      error = request.object.is_null()
                  ? "no request.object: a CREATE carries the pod"
                  : fmt::format("request.object is {}, not an object", request.object.type_name());
      return parsed;
    }
    std::string object_kind;
    if (!OptionalString(request.object, "kind", "request.object", &object_kind, &error)) {
      return parsed;
    }
    if (!object_kind.empty() && object_kind != "Pod") {
      error = fmt::format("request.object is a {}, not a Pod", object_kind);
      return parsed;
    }
  }
  parsed.ok = true;
  return parsed;
}

ParsedReview ParseAdmissionReview(std::string_view body) {
  std::string error;
  const Json review = ParseBoundedJson(body, JsonLimits{}, &error);
  if (review.is_discarded()) {
    ParsedReview parsed;
    parsed.error = error;
    return parsed;
  }
  return ReadAdmissionReview(review);
}

}  // namespace lastcall

// The admission webhook's reader and its whole answer: any body gets a 400 with a message, or a
// 200 whose body is an AdmissionReview carrying the request's uid, allowed, and a patch only
// with patchType JSONPatch. Admit promises never to throw; an escaping exception is a crash.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "fuzz_check.h"
#include "webhook/admission.h"
#include "webhook/admission_review.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::fuzz::Require;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const lastcall::ParsedReview parsed = lastcall::ParseAdmissionReview(body);
  Require(parsed.ok == parsed.error.empty(), "exactly one of a request and an error");

  static const lastcall::AdmitOptions options;
  const lastcall::AdmissionResult result = lastcall::Admit(body, options);
  Require(result.status == 200 || result.status == 400, "200 or 400");
  Require((result.status == 200) == parsed.ok, "a 200 exactly for a request the reader accepts");
  if (result.status == 400) {
    Require(!result.body.empty(), "a refusal says why");
    return 0;
  }
  const auto answer = nlohmann::json::parse(result.body, nullptr, false);
  Require(answer.is_object(), "the answer is JSON");
  const auto& response = answer["response"];
  Require(response["uid"] == parsed.request.uid, "the request's uid");
  Require(response["allowed"] == true, "always allowed");
  Require(response.contains("patch") == response.contains("patchType"), "patch with its type");
  return 0;
}

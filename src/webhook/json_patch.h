#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

// RFC 6902 JSON Patch between two JSON documents, as the admission webhook sends it. Pure.
namespace lastcall {

// A JSON Pointer (RFC 6901) reference token: "~" -> "~0", "/" -> "~1"
// ("lastcall.dev/status" -> "lastcall.dev~1status").
std::string JsonPointerToken(std::string_view key);

// The operations that turn `before` into `after`, applied in order: an array of add, remove and
// replace operations, empty when the two are equal. Objects are compared key by key (removed
// keys: remove; new keys: add with the whole value; changed values: recursion, or replace when
// the types differ). Arrays keep their common head and tail: what is inserted between them is
// added at its index (the install container put first among the init containers is one `add` at
// /spec/initContainers/0), what is dropped is removed, the rest is compared index by index and
// the longer side's remainder added or removed at its end. Time and memory linear in the size
// of both documents (times their depth).
nlohmann::json JsonPatchDiff(const nlohmann::json& before, const nlohmann::json& after);

// Standard base64 (RFC 4648, with padding), as the AdmissionResponse's `patch` field wants it.
std::string Base64Encode(std::string_view bytes);

}  // namespace lastcall

#pragma once

#include <optional>
#include <string>
#include <string_view>

// The configuration reference of docs/configuration.md, rendered as markdown from the key table
// (config_keys.h), so the document cannot fall behind the keys: a unit test compares the file in
// the source tree with this rendering, and scripts/gen-config-doc.sh rewrites it. Pure: no I/O.
namespace lastcall {

// The markers around the generated part of docs/configuration.md; the prose outside them is
// written by hand.
inline constexpr std::string_view kConfigReferenceBegin =
    "<!-- BEGIN config reference: generated from src/config/config_keys.cc by "
    "scripts/gen-config-doc.sh;"
    " do not edit by hand -->";
inline constexpr std::string_view kConfigReferenceEnd = "<!-- END config reference -->";

// The reference: for each section of the YAML file (top level, readiness, shutdown, ...) a
// heading and a table of its keys with flag, environment variable, value type, default and
// description, in the table's order. Begins with kConfigReferenceBegin and ends with
// kConfigReferenceEnd and a newline.
std::string RenderConfigReference();

// `document` with the text from kConfigReferenceBegin through kConfigReferenceEnd (and the line
// break after it) replaced by RenderConfigReference(). nullopt, with *error saying why, when the
// markers are missing, repeated or out of order.
std::optional<std::string> SpliceConfigReference(std::string_view document, std::string* error);

}  // namespace lastcall

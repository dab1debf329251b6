#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

// Writes YAML that another parser reads back as the same data. yaml-cpp's own emitter drops the
// quotes of a scalar that was quoted in the input, so `value: "8080"` comes back out as the number
// 8080 and `value: "true"` as a boolean: Kubernetes would reject such a manifest (an env var value
// must be a string). This writer keeps every string a string.
namespace lastcall {

// True when `text` written as a plain (unquoted) scalar would be read as something other than a
// string by a YAML 1.1 or 1.2 parser (Kubernetes' Go YAML reads 1.1: yes/no/on/off are booleans):
// null words, booleans, integers and floats in any base, sexagesimal numbers, dates. Pure.
bool NeedsQuotes(std::string_view text);

// A string scalar node that stays a string when written: tagged "!" (the tag yaml-cpp gives a
// quoted scalar) when NeedsQuotes(text), so that WriteYaml quotes it.
YAML::Node StringNode(const std::string& text);

// Writes `node` as one block-style YAML document (no "---"), ending with a newline.
// Scalars: a string (quoted in the input, tag "!", or tagged !!str) is written double-quoted when
// NeedsQuotes, plain otherwise; a multi-line string is written as a literal block (`|`) when that
// reads back exactly, else double-quoted; every other scalar is written as its plain text. In
// every case yaml-cpp adds quotes where plain text would not be valid YAML ("a: b", "*x").
// Nulls are written `null`, empty collections `[]` and `{}`. Map key order is kept. Anchors and
// aliases are expanded. Comments are not kept (yaml-cpp does not load them). Pure.
std::string WriteYaml(const YAML::Node& node);

// Structural equality: same node types, same map keys in the same order, same scalar text; a
// scalar's string-ness ("!" tag) is ignored. Used to verify a written document reads back.
bool SameYaml(const YAML::Node& a, const YAML::Node& b);

}  // namespace lastcall
